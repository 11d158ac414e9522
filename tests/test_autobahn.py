"""The WebSocket framing and close handling, checked by the Autobahn|Testsuite fuzzing client
(every case but permessage-deflate) against /ws/echo: bench/autobahn.py, installed on first
use into ~/.cache/qakit-trio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from .support import progress
from .support.timeouts import INSTALL_TIMEOUT

pytestmark = pytest.mark.system  # installs and runs Autobahn|Testsuite's wstest

ROOT = Path(__file__).resolve().parent.parent
# bench/autobahn.py's WSTEST: where it installs wstest on first use
WSTEST = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "qakit-trio"
    / "wstest-env"
    / "wstest"
)


async def test_autobahn_fuzzingclient_finds_no_failure() -> None:
    if not WSTEST.exists():  # measured: Debian 11's package lists and debs, PyPI's wheels
        progress.announce(
            "installing Autobahn|Testsuite's wstest on Python 2.7 from Debian 11 "
            "(≈ 43 MB to download, 149 MB installed, ≈ 16 s; once)",
            WSTEST.parent,
        )
    progress.announce("running the Autobahn|Testsuite fuzzing client against /ws/echo (≈ 15 s)")
    with trio.fail_after(INSTALL_TIMEOUT):  # a first run downloads and installs wstest
        result = await trio.run_process(
            [sys.executable, str(ROOT / "bench" / "autobahn.py")],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    summary = result.stdout.decode()
    assert result.returncode == 0, summary + result.stderr.decode()[-3000:]
    assert "failed: none" in summary
    assert "OK/OK: " in summary
