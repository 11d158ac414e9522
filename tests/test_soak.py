"""The soak's smoke run in CI (bench/soak.py; run it for 30 minutes by hand): a minute of
churn, pipelining, bursts, slow and never-reading clients while PostgreSQL is paused, stopped
and restarted and Kafka is stopped and restarted, with the training lab in the mix (faults,
delayed replies left behind, fault rules, inspectors, the task tree). Its own checks decide:
every acknowledged order change is in PostgreSQL and in the order topic, no reader or inspector
was evicted, RSS and file descriptors are flat, and the stand logged no ERROR line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from .support import kafka_broker
from .support.timeouts import LOAD_TIMEOUT

pytestmark = pytest.mark.system  # a minute of load, with PostgreSQL and Kafka outages

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


async def test_a_minute_of_soak_with_postgres_and_kafka_outages() -> None:
    kafka_broker.jars()  # fetched (and cached) before the clock of the run starts
    with trio.fail_after(LOAD_TIMEOUT):
        done = await trio.run_process(
            [sys.executable, str(SOAK), "--duration", "60"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    figures = json.loads(done.stdout)
    assert done.returncode == 0, (figures, done.stderr.decode()[-3000:])
    assert figures["failures"] == []
    assert figures["missing_in_postgres"] == figures["missing_in_kafka"] == 0
    assert figures["reader_evictions"] == []
    assert figures["changes_acked"] > 0
    assert figures["postgres_paused"] >= 1
    assert figures["postgres_stopped"] == figures["kafka_stopped"] == 1
    assert figures["never_readers"] >= 1
    assert figures["faulty_requests"] > 0
    assert figures["inspector1_messages"] > 0
    assert sum(n for key, n in figures.items() if key.startswith("fault_rules_2")) > 0
    assert [
        key
        for key in figures
        if key.startswith("fault_rules_") and not key.startswith("fault_rules_2")
    ] == []
    assert figures["task_tree_200"] > 0
    assert figures["error_lines"] == 0
