"""A real, throwaway Apache Kafka broker for the tests: one KRaft node (broker and controller),
assembled from Maven Central's jars (no Docker, no tarball), on free ports, data in a temp dir.

The jars (`org.apache.kafka:kafka_2.13` and a logging binding, which its pom leaves out) are
copied once by Maven into ~/.cache/qakit-trio/kafka-<version>/ and reused by later runs.
`TEST_KAFKA_BOOTSTRAP` points the suite at a broker of yours instead (tests/conftest.py).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

from . import jvm, progress
from .pg import free_port, installed

KAFKA_VERSION = "3.9.1"
POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>qakit-trio</groupId><artifactId>test-kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version></dependency>
  </dependencies>
</project>
"""
# Warnings go to a file; the line that says the server has started goes to stdout, which
# start() reads: it waits for that line, not for a port to open.
STARTED = "Kafka Server started"
LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%m%n
log4j.logger.kafka.server.KafkaRaftServer=INFO, stdout
"""


def jars() -> Path:
    """The directory of the broker's jars, downloaded by Maven the first time only."""
    return jvm.jars(
        f"kafka-{KAFKA_VERSION}",
        POM,
        f"kafka_2.13-{KAFKA_VERSION}.jar",
        f"Kafka {KAFKA_VERSION}'s jars (57 files, 46 MB)",
    )


class Broker:
    """One Kafka node of our own: start(), stop() (a hard outage), start() again, remove().
    Its client port is a free one, or `port` (the guides' tests: compose's 29092)."""

    def __init__(self, port: int | None = None) -> None:
        self.libs = jars()
        self.base = Path(tempfile.mkdtemp(prefix="qakit-kafka-"))
        self.port = free_port() if port is None else port
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self._drainer = threading.Thread()
        self._write_config()
        self._format()

    def _write_config(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.base / "data"),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
        }
        (self.base / "server.properties").write_text(
            "".join(f"{key}={value}\n" for key, value in settings.items())
        )
        (self.base / "log4j.properties").write_text(LOG4J)

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            f"-Dlog4j.configuration=file:{self.base / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.base}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        # "--cluster-id=ID", not "-t ID": a base64url id may start with "-"
        done = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_cluster_id()}",
                "--config",
                str(self.base / "server.properties"),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"formatting the Kafka storage failed: {done.stdout}{done.stderr}")

    def start(self, timeout: float = 120.0) -> None:
        """Start the node; return when it says it has started (blocking: call it in a thread
        or outside the event loop). Kills it if it has not within `timeout`."""
        progress.announce(f"starting a Kafka {KAFKA_VERSION} broker (≈ 4 s; port {self.port})")
        self.process, self._drainer = jvm.start_and_wait(
            self._java("kafka.Kafka", str(self.base / "server.properties")),
            STARTED,
            "the Kafka broker",
            timeout,
            self.log_tail,
        )

    def stop(self) -> None:
        """Kill the node at once, as an outage would (its data stays for the next start)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=60)
            self._drainer.join(timeout=60)  # it closes the pipe when it reads its end
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self) -> str:
        log = self.base / "server.log"
        return "\n".join(log.read_text().splitlines()[-30:]) if log.exists() else ""


def kcat() -> str:
    """Debian's kcat (a Kafka client nobody here wrote), installed with apt-get if missing."""
    return installed("kcat", "kcat")


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
