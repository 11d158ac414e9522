"""The Autobahn|Testsuite fuzzing client against qakit-trio's /ws/echo.

    python bench/autobahn.py [--out docs/autobahn.md]

Installs `wstest` (Python 2.7, private root; bench/install_wstest.sh) into
~/.cache/qakit-trio/wstest-env on first use, starts the server on a free port, runs every case
except the permessage-deflate ones (12.*, 13.*: the server declines compression on purpose),
and prints a summary. Exits 1 if any case FAILED (NON-STRICT and INFORMATIONAL are passes in
Autobahn's own terms). tests/test_autobahn.py runs it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ports import free_port, wait_listening  # bench/ports.py (scripts: bench/ is on the path)

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qakit-trio"
WSTEST = CACHE / "wstest-env" / "wstest"
PASSES = {"OK", "NON-STRICT", "INFORMATIONAL"}


def ensure_wstest() -> Path:
    if not WSTEST.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["bash", str(ROOT / "bench" / "install_wstest.sh"), str(WSTEST.parent)], check=True
        )
    return WSTEST


def run(workdir: Path) -> dict[str, dict[str, str]]:
    wstest = ensure_wstest()
    port = free_port()
    env = {
        **os.environ,
        "QAKIT_MAX_MESSAGE_SIZE": str(16 * 1024 * 1024),  # cases 9.* send 16 MiB
        "QAKIT_PING_INTERVAL": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "qakit_trio", "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_listening(port, server, "the server")
        spec = {
            "outdir": str(workdir / "reports"),
            "cases": ["*"],
            "exclude-cases": ["12.*", "13.*"],
            "exclude-agent-cases": {},
            "servers": [{"agent": "qakit-trio", "url": f"ws://127.0.0.1:{port}/ws/echo"}],
        }
        (workdir / "spec.json").write_text(json.dumps(spec))
        subprocess.run(
            [str(wstest), "-m", "fuzzingclient", "-s", "spec.json"],
            cwd=workdir,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    index = json.loads((workdir / "reports" / "index.json").read_text())["qakit-trio"]
    return {
        case: {"behavior": r["behavior"], "close": r["behaviorClose"]} for case, r in index.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, help="also write the summary here (markdown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qakit-autobahn-") as workdir:
        results = run(Path(workdir))
    counts = collections.Counter(f"{r['behavior']}/{r['close']}" for r in results.values())
    failed = sorted(
        case
        for case, r in results.items()
        if r["behavior"] not in PASSES or r["close"] not in PASSES
    )
    lines = [
        f"Autobahn|Testsuite fuzzingclient against /ws/echo: {len(results)} cases "
        "(12.* and 13.*, permessage-deflate, excluded: the server declines it)",
        "",
    ]
    lines += [f"- {outcome}: {n}" for outcome, n in sorted(counts.items())]
    lines += ["", f"failed: {', '.join(failed) or 'none'}"]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("# Autobahn conformance\n\n" + "\n".join(lines) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
