"""Jars from Maven Central for the real services the suite runs on the JVM (Kafka, OpenSearch):
copied once by Maven into ~/.cache/qakit-trio/<name>/libs and reused by later runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .pg import apt_install


def ensure_java_and_maven(what: str) -> None:
    """Java 17 and Maven, installed with apt-get when missing and we may."""
    if shutil.which("java") and shutil.which("mvn"):
        return
    if not apt_install("openjdk-17-jdk-headless", "maven"):
        raise RuntimeError(f"{what} needs Java 17 and Maven: apt-get install "
                           "openjdk-17-jdk-headless maven")


def jars(name: str, pom: str, marker: str) -> Path:
    """The directory of `pom`'s runtime jars; downloaded the first time only (when `marker`,
    a jar's file name, is not there yet)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    libs = cache / "qakit-trio" / name / "libs"
    if (libs / marker).exists():
        return libs
    ensure_java_and_maven(name)
    with tempfile.TemporaryDirectory(prefix=f"qakit-{name}-pom-") as work:
        (Path(work) / "pom.xml").write_text(pom)
        partial = libs.with_name("libs.partial")
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:"
             "copy-dependencies", f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
            cwd=work, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"mvn could not fetch the {name} jars:\n{done.stdout}{done.stderr}")
        partial.rename(libs)  # whole or not at all: an interrupted download is not reused
    return libs
