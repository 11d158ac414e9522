"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` package, initdb and
pg_ctl on a free port, data in a temporary directory. Installed with apt-get when missing and
we are root or may sudo (as on CI); otherwise the error says how to install it.

`TEST_DATABASE_URL` points the suite at an existing server instead (it must allow CREATE
DATABASE; every test gets a database of its own).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from . import progress

IS_ROOT = os.geteuid() == 0


def _as_root() -> list[str] | None:
    """The command prefix that runs a command as root: none needed, sudo, or impossible."""
    if IS_ROOT:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n", "-E"]
    return None


def apt_install(*packages: str) -> bool:
    """Install Debian packages if we may (root, or sudo without a password); False if not."""
    prefix = _as_root()
    if prefix is None or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    names = " ".join(packages)
    progress.note(f"apt-get update, to install Debian's {names}…")
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    with progress.announce(
        f"installing Debian's {names} with apt-get ({_download(packages)})", "the system (apt-get)"
    ):
        subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
    return True


def _download(packages: tuple[str, ...]) -> str:
    """What apt-get will fetch for `packages` on this machine: "12 packages, 78 MB"."""
    listed = subprocess.run(
        ["apt-get", "install", "--print-uris", "-qq", *packages],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    sizes = [int(line.split()[2]) for line in listed if line.startswith("'")]
    return f"{len(sizes)} packages, {sum(sizes) / 1e6:.0f} MB to download"


def installed(binary: str, package: str) -> str:
    """The path of `binary`, from Debian's `package`, installed with apt-get when missing."""
    found = shutil.which(binary)
    if found is None and apt_install(package):
        found = shutil.which(binary)
    if found is None:
        raise RuntimeError(
            f"{binary} not found: apt-get install {package} (needs root or passwordless sudo)"
        )
    return found


def bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found and apt_install("postgresql"):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install Debian's `postgresql` "
            "package (apt-get install postgresql) or set TEST_DATABASE_URL"
        )
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One postgres server of our own: init(), start(), stop(), url(), remove().

    Its directory is made under the system temp dir rather than pytest's tmp_path: when we are
    root the server runs as `postgres`, which cannot enter pytest's private (0700) directories.
    """

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="qakit-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.log = self.base / "postgres.log"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if IS_ROOT:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def init(self) -> Cluster:
        if IS_ROOT:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        # not announced: it takes well under a second (tests/support/progress.py is for steps
        # that make a run look stuck)
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def create_database(server_url: str) -> str:
    """A new, empty database on the server of `server_url`; returns its URL."""
    name = f"qakit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(server_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
