"""Run every workload against qakit-trio and the reference, alternating, and write a table.

    python bench/run.py                      # full run -> docs/benchmarks.md
    python bench/run.py --smoke --out X.md   # a few clients, a few messages (what CI runs)
    python bench/run.py --variant before=/path/to/old/checkout   # add another qakit-trio tree
    python bench/run.py --workloads w2,w5 --floor   # and the subset on the bare stack
    python bench/run.py --env-variant kafka=KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092  # Kafka on
    python bench/run.py --workloads w2 --env-variant \
        auth=QAKIT_AUTH=on,QAKIT_TEACHER_TOKEN=bench-teacher-token,QAKIT_CLASS_CODE=b,QAKIT_RATE_LIMIT=off
    python bench/cluster.py                  # W1, W3 with the cluster bus, --workers 2 (issue 28)

Every figure is reported as a ratio to the reference measured in the same invocation, because
absolute numbers move from run to run on shared machines. Each round starts every server
afresh, in an order that rotates from round to round; the table shows medians over rounds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ports import free_port, wait_listening  # bench/ports.py (scripts: bench/ is on the path)
from proctree import tree_cpu_s

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = [sys.executable, str(ROOT / "bench" / "loadgen.py")]

# Figures the issue reports for the original QA Kit service (FastAPI on uvicorn) and for the
# `websockets` reference on this machine kind; not re-measured here (the original's code is
# not in this repository), shown as ratios to that run's reference for comparison.
ORIGINAL = {
    "w1.frames_per_s": (52_000, 110_000),
    "w2.requests_per_s": (4_050, 15_900),
    "w3.p99_ms": (150, 305),
    "w4.kib_per_conn": ((29 + 37) / 2, (16 + 21) / 2),
}
GOALS = {
    "w1.frames_per_s": (">=", 80_000),
    "w2.requests_per_s": (">=", 8_000),
    "w3.p99_ms": ("<=", 50),
    "w4.kib_per_conn": ("<=", 25),
}


@dataclass
class Variant:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """The server's CPU time: its process and its children (--workers N: the workers)."""
    return tree_cpu_s(pid)


class RunningServer:
    def __init__(self, variant: Variant, logdir: Path) -> None:
        self.port = free_port()
        # QAKIT_AUTH=on (an --env-variant): the load generator's clients bear the teacher's token
        self.token = variant.env.get("QAKIT_TEACHER_TOKEN")
        command = [part.replace("{port}", str(self.port)) for part in variant.command]
        self.log = open(logdir / f"{variant.name}-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **variant.env},
            cwd=variant.cwd,
        )
        wait_listening(self.port, self.process, variant.name)  # ready: accepts connections
        time.sleep(0.3)  # let start-up allocations settle before any RSS baseline

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def run_loadgen(server: RunningServer, workload: str, options: list[str]) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{server.port}"
    cpu_before = cpu_s(server.process.pid)
    if workload.startswith("w4"):
        return measure_idle(server, workload, options)
    token = [] if server.token is None else ["--token", server.token]
    done = subprocess.run(
        [*LOADGEN, workload.split("-")[0], "--url", url, *options, *token],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.pop("p99_ms_by_message", None)
    result["server_cpu_s"] = cpu_s(server.process.pid) - cpu_before
    return result


def measure_idle(server: RunningServer, workload: str, options: list[str]) -> dict[str, Any]:
    """W4: server RSS growth per idle connection, read while the loadgen holds them open."""
    deflate = ["--deflate"] if workload == "w4-deflate" else []
    before = rss_kib(server.process.pid)
    loadgen = subprocess.Popen(
        [*LOADGEN, "w4", "--url", f"ws://127.0.0.1:{server.port}", *options, *deflate],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loadgen.stdin is not None
    assert loadgen.stdout is not None
    connected = json.loads(loadgen.stdout.readline())
    time.sleep(1.0)  # let the server finish what the handshakes started
    after = rss_kib(server.process.pid)
    loadgen.stdin.write("done\n")
    loadgen.stdin.flush()
    loadgen.wait(timeout=60)
    return {
        **connected,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_conn": (after - before) / connected["connected"],
    }


WORKLOADS: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (metric for the summary, full options, smoke options)
    "w1": (
        "frames_per_s",
        ["--clients", "1000", "--messages", "200"],
        ["--clients", "5", "--messages", "5"],
    ),
    "w1-slow": (
        "frames_per_s",
        ["--clients", "1000", "--messages", "600", "--size", "2000", "--stalled", "1"],
        ["--clients", "5", "--messages", "600", "--size", "2000", "--stalled", "1"],
    ),
    "w2": (
        "requests_per_s",
        ["--clients", "50", "--duration", "10"],
        ["--clients", "3", "--duration", "0.5"],
    ),
    "w3": (
        "p99_ms",
        ["--clients", "5000", "--messages", "20", "--interval", "1"],
        ["--clients", "10", "--messages", "2", "--interval", "0.1"],
    ),
    "w4": ("kib_per_conn", ["--clients", "5000"], ["--clients", "5"]),
    # a connect storm (issue 30): 5,000 clients, 100 handshakes in flight at once (the listen
    # backlog of both servers is 100: more at once only measures SYN retries)
    "w5": (
        "connections_per_s",
        ["--clients", "5000", "--parallel", "100"],
        ["--clients", "10", "--parallel", "5"],
    ),
    "w4-deflate": ("kib_per_conn", ["--clients", "5000"], ["--clients", "5"]),
}
SHOWN = {
    "w1": [
        "frames_per_s",
        "p50_ms",
        "p99_ms",
        "lost",
        "out_of_order",
        "client_cpu_s",
        "server_cpu_s",
    ],
    "w1-slow": ["frames_per_s", "p50_ms", "p99_ms", "lost", "out_of_order", "stalled_evicted"],
    "w2": ["requests_per_s", "p50_ms", "p99_ms", "client_cpu_s", "server_cpu_s"],
    "w3": [
        "p50_ms",
        "p99_ms",
        "lost",
        "connect_total_s",
        "connect_p99_ms",
        "lost_handshakes",
        "server_cpu_s",
    ],
    "w4": ["kib_per_conn", "deflate_accepted"],
    "w5": [
        "connections_per_s",
        "connect_p50_ms",
        "connect_p99_ms",
        "lost_handshakes",
        "client_cpu_s",
        "server_cpu_s",
    ],
    "w4-deflate": ["kib_per_conn", "deflate_accepted"],
}


def fmt(value: float) -> str:
    if isinstance(value, float) and value != value:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def machine() -> str:
    """The CPU model, cores, kernel and Python of this machine, for a table's head."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def render(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    variants: list[Variant],
    args: argparse.Namespace,
    elapsed: float,
) -> str:
    names = [v.name for v in variants]
    others = [n for n in names if n != "reference"]
    versions = ", ".join(
        f"{p} {version(p)}"
        for p in (
            "trio",
            "hypercorn",
            "quart-trio",
            "quart",
            "wsproto",
            "websockets",
            "picows",
            "uvloop",
        )
    )
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/run.py{' --smoke' if args.smoke else ''}` on "
        f"{datetime.date.today().isoformat()} in {elapsed:.0f} s: {args.rounds} round(s), "
        "servers alternating, medians shown.",
        "",
        f"- machine: {machine()}",
        f"- versions: {versions}",
        "- reference: `bench/reference_server.py` (`websockets` library, asyncio, library "
        "defaults; one bounded queue and one writer task per connection)",
        "- client: `bench/loadgen.py` (picows on uvloop, its own process); `client_cpu_s` is "
        "its CPU time over the measured phase, `server_cpu_s` the server's",
        "- ratio: variant / reference (throughput: higher is better; latency and memory: "
        "lower is better)",
        "",
    ]
    for workload, per_variant in results.items():
        lines += [f"## {workload}", "", *workload_table(workload, per_variant, names), ""]
    lines += summary(results, others)
    lines += per_request_goals(results, others)
    return "\n".join(lines) + "\n"


# Issue 30's bars, as ratios to the reference of the same run: (workload, metric, op, bar).
PER_REQUEST_GOALS = [
    ("w2", "requests_per_s", ">=", 0.8),
    ("w2", "p99_ms", "<=", 1.5),
    ("w5", "connections_per_s", ">=", 1.0),
    ("w5", "connect_p99_ms", "<=", 1.2),
    ("w4", "kib_per_conn", "<=", 1.2),
]


def per_request_goals(
    results: dict[str, dict[str, list[dict[str, Any]]]], others: list[str]
) -> list[str]:
    """The per-request and per-connection bars (issue 30), each variant's ratio against them."""
    rows = []
    for workload, metric, op, bar in PER_REQUEST_GOALS:
        per_variant = results.get(workload)
        if not per_variant or not per_variant.get("reference"):
            continue
        reference = statistics.median(r[metric] for r in per_variant["reference"])
        cells = []
        for name in others:
            ratio = statistics.median(r[metric] for r in per_variant[name]) / reference
            met = ratio >= bar if op == ">=" else ratio <= bar
            cells.append(f"{fmt(ratio)} ({'met' if met else 'not met'})")
        rows.append(f"| {workload} {metric} | {op} {bar} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    head = "| ratio to the reference | bar | " + " | ".join(others) + " |"
    rule = "|---" * (2 + len(others)) + "|"
    return ["", "## Per request and per connection (issue 30)", "", head, rule, *rows]


def workload_table(
    workload: str, per_variant: dict[str, list[dict[str, Any]]], names: list[str]
) -> list[str]:
    """One workload's table: each metric's median per variant, then each one / reference."""
    others = [n for n in names if n != "reference"]
    lines = [
        "| metric | " + " | ".join([*names, *[f"{n} / reference" for n in others]]) + " |",
        "|---" * (1 + len(names) + len(others)) + "|",
    ]
    for metric in SHOWN[workload]:
        medians = {
            n: statistics.median(r[metric] for r in per_variant[n])
            for n in names
            if per_variant.get(n)
        }
        ratios = [
            fmt(medians[n] / medians["reference"]) if medians.get("reference") else "n/a"
            for n in others
        ]
        lines.append(
            f"| {metric} | "
            + " | ".join(fmt(medians[n]) for n in names)
            + " | "
            + " | ".join(ratios)
            + " |"
        )
    return lines


def summary(results: dict[str, dict[str, list[dict[str, Any]]]], others: list[str]) -> list[str]:
    lines = [
        "## Against the targets",
        "",
        "The original QA Kit service was not re-measured here; its figures and its "
        "reference's were measured on the same machine kind by the performance work "
        "before this table.",
        "",
        "| figure | original / its reference | goal | "
        + " | ".join(f"{n} | {n} / reference" for n in others)
        + " |",
        "|---" * (3 + 2 * len(others)) + "|",
    ]
    for key, (original, original_reference) in ORIGINAL.items():
        workload, metric = key.split(".")
        for run in [workload, "w4-deflate"] if workload == "w4" else [workload]:
            per_variant = results.get(run)
            if not per_variant or not per_variant.get("reference"):
                continue
            reference = statistics.median(r[metric] for r in per_variant["reference"])
            op, goal = GOALS[key]
            cells = []
            for name in others:
                value = statistics.median(r[metric] for r in per_variant[name])
                cells += [fmt(value), fmt(value / reference)]
            lines.append(
                f"| {run} {metric} | {fmt(original / original_reference)} | "
                f"{op} {fmt(goal)} | " + " | ".join(cells) + " |"
            )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="a few clients, a few messages")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another qakit-trio checkout to measure too",
    )
    parser.add_argument(
        "--env-variant",
        action="append",
        default=[],
        metavar="NAME=VAR=VALUE[,VAR=VALUE]",
        help="this checkout again, with extra environment (e.g. Kafka on)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure bench/stack_floor.py: the subset on the bare stack (issue 30)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.smoke else 3)
    qakit = [sys.executable, "-m", "qakit_trio", "--bind", "127.0.0.1:{port}"]
    variants = [
        Variant("qakit-trio", qakit),
        Variant(
            "reference",
            [sys.executable, str(ROOT / "bench" / "reference_server.py"), "--port", "{port}"],
        ),
    ]
    if args.floor:
        floor = [sys.executable, str(ROOT / "bench" / "stack_floor.py"), "--port", "{port}"]
        variants.append(Variant("stack-floor", floor))
    for spec in args.variant:
        name, path = spec.split("=", 1)
        variants.append(
            Variant(name, qakit, {"PYTHONPATH": str(Path(path).resolve())}, Path(path).resolve())
        )
    for spec in args.env_variant:
        name, assignments = spec.split("=", 1)
        env = dict(part.split("=", 1) for part in assignments.split(","))
        variants.append(Variant(name, qakit, env))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qakit-bench-") as logdir:
        for workload in args.workloads.split(","):
            _metric, full, smoke = WORKLOADS[workload]
            options = smoke if args.smoke else full
            per_variant: dict[str, list[dict[str, Any]]] = results.setdefault(workload, {})
            for round_number in range(args.rounds):
                order = (
                    variants[round_number % len(variants) :]
                    + variants[: round_number % len(variants)]
                )
                for variant in order:
                    server = RunningServer(variant, Path(logdir))
                    try:
                        result = run_loadgen(server, workload, options)
                    finally:
                        server.stop()
                    per_variant.setdefault(variant.name, []).append(result)
                    print(
                        json.dumps({"variant": variant.name, "round": round_number, **result}),
                        flush=True,
                    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, variants, args, time.monotonic() - started))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
