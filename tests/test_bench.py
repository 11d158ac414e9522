"""The benchmark harness in its smoke mode, so it cannot rot. No figure is asserted: benchmarks
are not tests; only that every workload ran and no frame was lost or reordered."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import trio

from .support.timeouts import LOAD_TIMEOUT

pytestmark = pytest.mark.system  # the benchmark harness: servers and load generators as processes

ROOT = Path(__file__).resolve().parent.parent


async def test_benchmark_harness_smoke(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    with trio.fail_after(LOAD_TIMEOUT):
        await trio.run_process(
            [
                sys.executable,
                str(ROOT / "bench" / "run.py"),
                "--smoke",
                "--floor",
                "--out",
                str(out),
            ],
            capture_stdout=True,
        )
    table = out.read_text()
    for workload in ("w1", "w1-slow", "w2", "w3", "w4", "w5", "w4-deflate"):
        assert f"## {workload}\n" in table
    # w5, the connect storm: the rate of qakit-trio, of the reference and of the bare stack
    # (bench/stack_floor.py; a failed handshake fails the load generator, and so the run)
    connected = re.findall(
        r"^\| connections_per_s \| ([\d.,]+) \| ([\d.,]+) \| ([\d.,]+) \|", table, re.MULTILINE
    )
    assert connected
    assert all(float(v.replace(",", "")) > 0 for v in connected[0]), connected
    # w2: the bare stack answered echo requests (the load generator counts event frames)
    answered = re.findall(r"^\| requests_per_s \| [\d.,]+ \| [\d.,]+ \| ([\d.,]+) \|", table, re.M)
    assert answered
    assert float(answered[0].replace(",", "")) > 0, answered
    # (the columns: qakit-trio, the reference, the bare stack, then their ratios)
    assert "| metric | qakit-trio | reference | stack-floor |" in table
    assert "## Per request and per connection (issue 30)" in table
    for metric in ("lost", "out_of_order"):
        rows = re.findall(rf"^\| {metric} \| (.*) \|$", table, re.MULTILINE)
        assert rows, metric
        for row in rows:
            assert row.split(" | ")[:3] == ["0", "0", "0"], (metric, row)
    # w1-slow: the subscriber that never reads is evicted (qakit-trio is the first column)
    evicted = re.findall(r"^\| stalled_evicted \| (\d+) \|", table, re.MULTILINE)
    assert evicted == ["1"]
