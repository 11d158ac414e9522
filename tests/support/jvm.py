"""The real services the suite runs on the JVM (Kafka: kafka_broker.py, OpenSearch:
opensearch_node.py): their jars from Maven Central, copied once by Maven into
~/.cache/qakit-trio/<name>/libs and reused by later runs, and their start."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from . import progress
from .pg import apt_install


def ensure_java_and_maven(what: str) -> None:
    """Java 17 and Maven, installed with apt-get when missing and we may."""
    if shutil.which("java") and shutil.which("mvn"):
        return
    if not apt_install("openjdk-17-jdk-headless", "maven"):
        raise RuntimeError(
            f"{what} needs Java 17 and Maven: apt-get install openjdk-17-jdk-headless maven"
        )


def jars(name: str, pom: str, marker: str, about: str = "") -> Path:
    """The directory of `pom`'s runtime jars; downloaded the first time only (when `marker`,
    a jar's file name, is not there yet). `about`: what they are and weigh, for the line the
    download announces ("Kafka 3.9.1's 57 jars, 46 MB")."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    libs = cache / "qakit-trio" / name / "libs"
    if (libs / marker).exists():
        return libs
    ensure_java_and_maven(name)
    # measured: 68 MB from Maven Central into an empty ~/.m2 for either set (jars and plugins)
    with (
        progress.announce(
            f"downloading {about or name} with Maven (up to 70 MB, once; Maven "
            "keeps its own copy in ~/.m2)",
            libs,
        ),
        tempfile.TemporaryDirectory(prefix=f"qakit-{name}-pom-") as work,
    ):
        (Path(work) / "pom.xml").write_text(pom)
        partial = libs.with_name("libs.partial")
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
                f"-DoutputDirectory={partial}",
                "-DincludeScope=runtime",
            ],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mvn could not fetch the {name} jars:\n{done.stdout}{done.stderr}")
        partial.rename(libs)  # whole or not at all: an interrupted download is not reused
    return libs


def start_and_wait(
    command: list[str], started: str, what: str, timeout: float, more: Callable[[], str] = str
) -> tuple[subprocess.Popen[str], threading.Thread]:
    """Start a service and return once a line of its output contains `started` (blocking: call
    it in a thread or outside the event loop); kill it if that has not happened in `timeout` s,
    and say why with its last lines (and `more()`, e.g. its log file's tail). The thread
    returned keeps reading its output, so that its pipe never fills and blocks it; it ends (and
    closes the pipe) when the process exits."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        for line in process.stdout:  # ends when the process exits (or the watchdog kills)
            seen.append(line)
            if started in line:
                break
        else:
            process.stdout.close()
            raise RuntimeError(
                f"{what} did not start (exit {process.wait()}):\n" + "".join(seen[-40:]) + more()
            )
    finally:
        watchdog.cancel()
    drainer = threading.Thread(target=_drain, args=(process.stdout,), daemon=True)
    drainer.start()
    return process, drainer


def _drain(stream: IO[str]) -> None:
    with stream:
        for _ in stream:
            pass
