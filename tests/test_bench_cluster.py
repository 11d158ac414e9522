"""The cluster benchmark (bench/cluster.py) in its smoke mode, so it cannot rot: W1 and W3 for
one process, one cluster member and `--workers 2`, and the bus's added latency, against the
session's Kafka broker and PostgreSQL (passed in: the bench starts none of its own). No figure
is asserted (benchmarks are not tests); only that every row is there and nothing was lost."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import trio

from .support.timeouts import LOAD_TIMEOUT

pytestmark = pytest.mark.system  # servers, --workers and load generators as processes

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["qakit-trio", "cluster-1", "workers-2", "reference"]
LATENCY_ROWS = [
    "one process, no bus",
    "cluster, same instance (A to A)",
    "cluster, another instance (A to B)",
]


def rows(table: str, metric: str) -> list[list[str]]:
    """The cells of every row named `metric`, one list per table."""
    found = re.findall(rf"^\| {re.escape(metric)} \| (.*) \|$", table, re.MULTILINE)
    return [row.split(" | ") for row in found]


def number(cell: str) -> float:
    return float(cell.replace(",", ""))  # bench/run.py's fmt: "1,234", "12.3", "0.968"


async def test_cluster_benchmark_smoke(
    tmp_path: Path, kafka_bootstrap: str, postgres_server: str
) -> None:
    out = tmp_path / "cluster.md"
    command = [
        *(sys.executable, str(ROOT / "bench" / "cluster.py"), "--smoke"),
        *("--kafka", kafka_bootstrap, "--postgres", postgres_server, "--out", str(out)),
    ]
    with trio.fail_after(LOAD_TIMEOUT):
        await trio.run_process(command, capture_stdout=True)
    text = out.read_text()
    assert "**failed**" not in text
    header = "| metric | " + " | ".join(VARIANTS) + " | "
    for workload in ("w1", "w3"):
        assert re.search(rf"^### {workload} \(", text, re.MULTILINE), workload
    assert text.count(header) == 2
    for metric in ("lost", "out_of_order"):
        for cells in rows(text, metric):
            assert cells[: len(VARIANTS)] == ["0"] * len(VARIANTS), (metric, cells)
    assert len(rows(text, "lost")) == 2  # w1 and w3
    assert len(rows(text, "out_of_order")) == 1  # w1's (run.py shows none for w3)
    # --workers 2: the parent and two workers, each with its CPU time
    split = re.findall(r"^workers-2's server CPU s by process .*: \[\[(.*)\]\]$", text, re.M)
    assert [len(row.split(", ")) for row in split] == [3, 3]
    for label in LATENCY_ROWS:
        found = rows(text, label)
        assert len(found) == 1, label
        p50, p99, lost, _round_trip = found[0]
        assert lost == "0", (label, found)
        assert 0 < number(p50) <= number(p99), (label, found)
    assert len(rows(text, "the bus's added cost, another instance")) == 1
