"""The load-testing starter pack (loadtest/ and its README): each of its three scenarios, (a)
the connect storm, (b) request/response with correlation and (c) fan-out, run by Locust (PyPI,
in a venv of its own: support/locust_venv.py) and by Artillery (npm: support/npm.py) at small
scale against a live stand. Each run passes and reports p50/p95/p99 of its timings; and each
scenario's own check fails the run when the stand breaks its contract: the lab's
`event_wrong_request_id` for (b) and (c), whose requests it mislabels; the `qa_kit` profile's
hello (no channel, no connection id) for (a), which sends no request to mislabel.

k6 itself is not run: it may not be installed on this project's machines (its Go module,
go.k6.io/k6, is under the AGPL, which the machines' package policy does not allow;
loadtest/README.md says so). Its scripts run instead under a stand-in on Node
(support/k6_shim/run.mjs: k6's modules, its two executors and its thresholds, over Node's
WebSocket), which proves their logic against the stand, not their fit with k6.

The checks themselves, fed hand-made frames: tests/test_loadtest_checks.py (the fast tier)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from .support import locust_venv, npm, progress
from .support.helpers import running_server
from .support.timeouts import INSTALL_TIMEOUT, LOAD_TIMEOUT

pytestmark = pytest.mark.system  # pip installs Locust into a venv, npm installs Artillery

ROOT = Path(__file__).resolve().parents[1]
LOADTEST = ROOT / "loadtest"
SCENARIOS = ("storm", "request_response", "fanout")

# How each scenario's check is made to fail: the stand it runs against, and what it must say.
BUG = {"bugs": ("event_wrong_request_id",)}
BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "storm": ({"profile": "qa_kit"}, "not the hello of channel"),
    "request_response": (BUG, "whose frames had all arrived"),
    "fanout": (BUG, "whose frames had all arrived"),
}
STANDS = [
    pytest.param(scenario, broken, id=f"{scenario}-{'broken' if broken else 'green'}")
    for scenario in SCENARIOS
    for broken in (False, True)
]

# The timings each scenario reports (the same names in both tools)
TIMINGS = {
    "storm": ("hello", "close"),
    "request_response": ("hello", "ack", "reply"),
    "fanout": ("hello", "ack", "reply", "delivery"),
}


def stand(scenario: str, broken: bool) -> dict[str, Any]:
    return BROKEN[scenario][0] if broken else {}


async def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    with trio.fail_after(LOAD_TIMEOUT):
        done = await trio.run_process(
            args,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, **env},
        )
    return done.returncode, done.stdout.decode() + done.stderr.decode()


# --- Locust ---------------------------------------------------------------------------------

# users, seconds, settings: a few seconds each
LOCUST = {
    "storm": (10, 3, {"LOADTEST_IDLE": "0.5"}),
    "request_response": (5, 3, {}),
    "fanout": (5, 4, {"LOADTEST_PUBLISHERS": "1"}),
}


@pytest.mark.parametrize(("scenario", "broken"), STANDS)
async def test_locust(tmp_path: Path, scenario: str, broken: bool) -> None:
    locust = locust_venv.locust()
    users, seconds, env = LOCUST[scenario]
    prefix = tmp_path / "run"
    with trio.fail_after(INSTALL_TIMEOUT):
        async with running_server(**stand(scenario, broken)) as server:
            progress.note(f"Locust: {scenario}, {users} users for {seconds} s")
            code, output = await run(
                [
                    str(locust),
                    "-f",
                    str(LOADTEST / "locust" / f"{scenario}.py"),
                    "--headless",
                    "--host",
                    server.ws,
                    "--users",
                    str(users),
                    "--spawn-rate",
                    str(users),
                    "--run-time",
                    f"{seconds}s",
                    "--stop-timeout",
                    "5",
                    "--csv",
                    str(prefix),
                    "--loglevel",
                    "WARNING",
                ],
                env,
            )
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    with (tmp_path / "run_failures.csv").open() as failures:
        failed = list(csv.DictReader(failures))
    if broken:
        assert code == 1, output[-3000:]  # Locust's exit code for a run with failures
        reason = BROKEN[scenario][1]
        assert any(row["Name"] == "correlation" and reason in row["Error"] for row in failed), (
            failed
        )
        return
    assert code == 0, output[-3000:]
    assert failed == [], failed
    for name in TIMINGS[scenario]:
        row = rows[name]
        assert int(row["Request Count"]) > 0, row
        assert int(row["Failure Count"]) == 0, row
        assert [float(row[p]) for p in ("50%", "95%", "99%")] == sorted(
            float(row[p]) for p in ("50%", "95%", "99%")
        ), row


# --- Artillery ------------------------------------------------------------------------------

CHANNELS = {
    "storm": "loadtest-storm",
    "request_response": "loadtest-rr",
    "fanout": "loadtest-fanout",
}
ARTILLERY = {  # the YAML file, its phases here, settings: a few seconds each
    "storm": ("storm.yml", [{"duration": 2, "arrivalRate": 5}], {"LOADTEST_IDLE": "0.5"}),
    "request_response": (
        "request-response.yml",
        [{"duration": 1, "arrivalCount": 4}],
        {"LOADTEST_ROUNDS": "3"},
    ),
    "fanout": ("fanout.yml", [{"duration": 1, "arrivalCount": 5}], {"LOADTEST_DURATION": "2"}),
}


@pytest.mark.parametrize(("scenario", "broken"), STANDS)
async def test_artillery(tmp_path: Path, scenario: str, broken: bool) -> None:
    artillery = npm.artillery()
    script, phases, env = ARTILLERY[scenario]
    report = tmp_path / "report.json"
    with trio.fail_after(INSTALL_TIMEOUT):
        async with running_server(**stand(scenario, broken)) as server:
            progress.note(f"Artillery: {script}, {phases}")
            code, output = await run(
                [
                    str(artillery),
                    "run",
                    "--target",
                    f"{server.ws}/ws?channel={CHANNELS[scenario]}",
                    "--overrides",
                    json.dumps({"config": {"phases": phases}}),
                    "--output",
                    str(report),
                    str(LOADTEST / "artillery" / script),
                ],
                {**env, "ARTILLERY_DISABLE_TELEMETRY": "true"},
            )
    aggregate = json.loads(report.read_text())["aggregate"]
    counters, summaries = aggregate["counters"], aggregate["summaries"]
    if broken:
        assert code != 0, output[-3000:]  # the `ensure` checks fail the run
        assert counters["qakit.correlation_errors"] > 0, counters
        assert BROKEN[scenario][1] in output, output[-3000:]
        return
    assert code == 0, output[-3000:]
    assert counters["qakit.correlation_errors"] == 0, output[-3000:]
    assert counters["qakit.connection_errors"] == 0, output[-3000:]
    assert counters.get("vusers.failed", 0) == 0, counters
    for name in TIMINGS[scenario]:
        summary = summaries[f"qakit.{name}_ms"]
        assert summary["count"] > 0, summary
        assert summary["p50"] <= summary["p95"] <= summary["p99"], summary


# --- k6's scripts, under the stand-in -------------------------------------------------------

SHIM = ROOT / "tests" / "support" / "k6_shim"
NODE = ("node", "--experimental-websocket", "--experimental-default-type=module")
K6 = {  # the script, its settings: a few seconds each
    "storm": (
        "storm.js",
        {"LOADTEST_VUS": "5", "LOADTEST_ITERATIONS": "10", "LOADTEST_IDLE": "0.5"},
    ),
    "request_response": ("request-response.js", {"LOADTEST_VUS": "4", "LOADTEST_ROUNDS": "3"}),
    "fanout": ("fanout.js", {"LOADTEST_SUBSCRIBERS": "4", "LOADTEST_DURATION": "2"}),
}


@pytest.mark.parametrize(("scenario", "broken"), STANDS)
async def test_k6_scripts_under_the_stand_in(scenario: str, broken: bool) -> None:
    script, env = K6[scenario]
    with trio.fail_after(LOAD_TIMEOUT):
        async with running_server(**stand(scenario, broken)) as server:
            code, output = await run(
                [
                    *NODE,
                    "--import",
                    str(SHIM / "register.mjs"),
                    str(SHIM / "run.mjs"),
                    str(LOADTEST / "k6" / script),
                ],
                {**env, "LOADTEST_URL": server.ws},
            )
    summaries = [line for line in output.splitlines() if line.startswith('{"metrics":')]
    assert len(summaries) == 1, output[-3000:]
    summary = json.loads(summaries[0])
    metrics = summary["metrics"]
    if broken:
        assert code == 99, output[-3000:]  # k6's exit code for a failed threshold
        assert metrics["qakit_correlation_errors"]["count"] > 0, metrics
        assert BROKEN[scenario][1] in output, output[-3000:]
        return
    assert code == 0, output[-3000:]
    assert all(passed for t in summary["thresholds"].values() for passed in t.values()), summary
    for name in TIMINGS[scenario]:
        trend = metrics[f"qakit_{name}"]
        assert trend["count"] > 0, trend
        assert trend["p(50)"] <= trend["p(95)"] <= trend["p(99)"], trend
