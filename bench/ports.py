"""What every bench script does to start a server of its own: a free port of 127.0.0.1, and
waiting until the started process accepts TCP connections there (another process: there is no
event to wait on, so it polls, with a deadline, and fails at once if the process exits)."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(
    port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 30
) -> None:
    """Return once `process` accepts connections on 127.0.0.1:`port`; RuntimeError naming
    `what` if it exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)
