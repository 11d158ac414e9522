"""A real, throwaway OpenSearch node for the log tests: one node, assembled from Maven Central's
jars (`org.opensearch:opensearch` and the netty4 transport, no distribution tarball, no Docker),
started by EmbeddedOpenSearch.java (compiled here once), on free ports, data in a temp dir.
The jars are copied once into ~/.cache/qakit-trio/opensearch-<version>/.
`TEST_OPENSEARCH_URL` points the suite at a node (or an Elasticsearch) of yours instead.

Why OpenSearch: Elasticsearch's server is not published to Maven Central; OpenSearch (its
Apache-licensed fork) is, and indexes documents with the same mapping rules (`dynamic:
strict`, `keyword`, `wildcard`, `match_only_text`, `date`, `long`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from . import jvm, progress
from .pg import free_port

VERSION = "2.19.6"  # the newest 2.x that runs on Java 17
LOG4J_VERSION = "2.25.4"  # the log4j-api OpenSearch 2.19.6 depends on; its core is left out
POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>qakit-trio</groupId><artifactId>test-opensearch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId>
      <version>{VERSION}</version></dependency>
    <dependency><groupId>org.opensearch.plugin</groupId>
      <artifactId>transport-netty4-client</artifactId><version>{VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""
STARTED = "OPENSEARCH STARTED"
SOURCE = Path(__file__).with_name("EmbeddedOpenSearch.java")


def classpath() -> str:
    libs = jvm.jars(
        f"opensearch-{VERSION}",
        POM,
        f"opensearch-{VERSION}.jar",
        f"OpenSearch {VERSION}'s jars (55 files, 45 MB)",
    )
    classes = libs.with_name("classes")
    if not (classes / "EmbeddedOpenSearch.class").exists() or (
        (classes / "EmbeddedOpenSearch.class").stat().st_mtime < SOURCE.stat().st_mtime
    ):
        with progress.announce("compiling EmbeddedOpenSearch.java (≈ 2 s, once)", classes):
            done = subprocess.run(
                ["javac", "-cp", f"{libs}/*", "-d", str(classes), str(SOURCE)],
                capture_output=True,
                text=True,
                timeout=300,
            )
        if done.returncode != 0:
            raise RuntimeError(f"javac EmbeddedOpenSearch.java failed:\n{done.stderr}")
    return f"{classes}:{libs}/*"


class Node:
    """start() (blocking until the node says so), remove()."""

    def __init__(self) -> None:
        self.classpath = classpath()
        self.home = Path(tempfile.mkdtemp(prefix="qakit-opensearch-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 180.0) -> None:
        progress.announce(f"starting an OpenSearch {VERSION} node (≈ 3 s; port {self.port})")
        self.process, _ = jvm.start_and_wait(
            [
                "java",
                "-Xms256m",
                "-Xmx512m",
                "-XX:+UseSerialGC",
                "-cp",
                self.classpath,
                "EmbeddedOpenSearch",
                str(self.home),
                str(self.port),
                str(free_port()),
            ],
            STARTED,
            "OpenSearch",
            timeout,
        )

    def remove(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)
