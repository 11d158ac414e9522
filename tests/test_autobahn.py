"""The WebSocket framing and close handling, checked by the Autobahn|Testsuite fuzzing client
(every case but permessage-deflate) against /ws/echo: bench/autobahn.py, installed on first
use into ~/.cache/qakit-trio."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent


async def test_autobahn_fuzzingclient_finds_no_failure() -> None:
    with trio.fail_after(1200):  # a first run downloads and installs wstest
        result = await trio.run_process([sys.executable, str(ROOT / "bench" / "autobahn.py")],
                                        capture_stdout=True, capture_stderr=True, check=False)
    summary = result.stdout.decode()
    assert result.returncode == 0, summary + result.stderr.decode()[-3000:]
    assert "failed: none" in summary
    assert "OK/OK: " in summary
