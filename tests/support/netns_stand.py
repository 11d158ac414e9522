"""Run `qakit-trio` in a private network namespace (`unshare -rn`), where the guides' ports
are free whatever this machine runs, and report what it serves as one JSON line.

    unshare -rn python -m tests.support.netns_stand '{"occupy": [8000], "args": []}'

Optional keys: "env" (extra environment for the stand) and "client" (argv of a program run once
the stand is ready; its last stdout line, JSON, is reported as "client").

Inside: loopback up, the `occupy` ports taken by listening sockets of our own, the stand
started with `args`, and once it logs "ready" (or exits) a GET /health and a WebSocket upgrade
of /ws/orders tried on 8000 and 8002. Blocking code on purpose: it is a process of its own,
timed out by the test that starts it (tests/test_binds.py).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from typing import Any

PORTS = (8000, 8002)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
UPGRADE = (
    b"GET /ws/orders HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def status_line(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(UPGRADE)
            return conn.recv(4096).split(b"\r\n", 1)[0].decode()
    except OSError as error:
        return f"error: {error.strerror}"


def health(port: int) -> int | str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            return int(answer.status)
    except OSError as error:
        return f"error: {error}"


def die_with_parent() -> None:
    """In the stand's process: if this script is killed (the test timed out), so is the stand,
    instead of living on as an orphan in its namespace (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(request: dict[str, Any]) -> dict[str, object]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    held = []
    for port in request["occupy"]:
        holder = socket.socket()
        holder.bind(("127.0.0.1", int(str(port))))
        holder.listen()
        held.append(holder)
    env = {**os.environ, **{str(k): str(v) for k, v in dict(request.get("env", {})).items()}}
    stand = subprocess.Popen(
        [sys.executable, "-m", "qakit_trio", *map(str, request["args"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=die_with_parent,
    )
    assert stand.stdout is not None
    lines = []
    for line in stand.stdout:  # until "ready" or the end of its output (it exited)
        lines.append(line.rstrip("\n"))
        if '"message":"ready"' in line:
            break
    report: dict[str, object] = {
        "health": {port: health(port) for port in PORTS},
        "upgrade": {port: status_line(port) for port in PORTS},
    }
    if request.get("client"):
        client = subprocess.run(
            [sys.executable, *map(str, request["client"])],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = client.stdout.strip().splitlines()
        report["client"] = json.loads(lines[-1]) if lines else {"stderr": client.stderr}
    stand.terminate()
    rest, _ = stand.communicate(timeout=20)
    report["lines"] = lines + rest.splitlines()
    report["returncode"] = stand.returncode
    for holder in held:
        holder.close()
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
