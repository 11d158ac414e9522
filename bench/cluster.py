"""The cluster's cost (issue 28): W1 and W3 through the Kafka bus, and the bus's added latency.

    python bench/cluster.py                  # 3 rounds; prints the section's markdown
    python bench/cluster.py --out section.md
    python bench/cluster.py --smoke --kafka 127.0.0.1:9092 --postgres postgresql://... --out X
                                             # a few clients, seconds (tests/test_bench_cluster.py)

It starts its own Kafka broker and PostgreSQL (tests/support/kafka_broker.py and pg.py), unless
`--kafka BOOTSTRAP` and `--postgres SERVER_URL` name running ones (a server URL: a database of
its own is created on it for every server started, and dropped after). Then, rounds alternating
as in run.py (whose pieces it uses), W1 and W3 (run.py's options) against:

- `qakit-trio`: one process, QAKIT_CLUSTER off (the usual);
- `cluster-1`: one process, QAKIT_CLUSTER=kafka, a fresh QAKIT_CLUSTER_TOPIC for each start;
- `workers-2`: `qakit-trio --workers 2` with QAKIT_CLUSTER=kafka: two processes sharing the
  port (SO_REUSEPORT); ready when both listen, its CPU time the parent's plus the workers'
  (proctree.py);
- `reference`: bench/reference_server.py, every figure also shown as a ratio to it.

Then, each round, the bus's added latency (bus_latency.py): two cluster instances on two ports
(a publisher and subscribers on A, subscribers on B), and one process without the bus.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# bench/proctree.py and bench/run.py (scripts: bench/ is on the path)
from proctree import descendants, listening_sockets, process_cpu_s
from run import WORKLOADS, RunningServer, Variant, fmt, machine, run_loadgen, workload_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support import kafka_broker, pg  # noqa: E402

LATENCY = [sys.executable, str(ROOT / "bench" / "bus_latency.py")]
LATENCY_OPTIONS = (
    ["--messages", "500", "--subscribers", "10", "--interval", "0.01"],
    ["--messages", "5", "--warmup", "2", "--subscribers", "2", "--interval", "0.01"],
)  # full, smoke
WORKERS_READY = 60.0  # seconds for every worker of --workers to listen (each reads the bus)
QAKIT = [sys.executable, "-m", "qakit_trio", "--bind", "127.0.0.1:{port}"]
VARIANTS = {  # name: (command, listening sockets when ready, on the bus)
    "qakit-trio": (QAKIT, 1, False),
    "cluster-1": (QAKIT, 1, True),
    "workers-2": (
        [sys.executable, "-m", "qakit_trio", "--workers", "2", "--bind", "127.0.0.1:{port}"],
        2,
        True,
    ),
    "reference": (
        [sys.executable, str(ROOT / "bench" / "reference_server.py"), "--port", "{port}"],
        1,
        False,
    ),
}


@contextmanager
def backing(kafka: str | None, postgres: str | None) -> Iterator[tuple[str, str]]:
    """(Kafka bootstrap, PostgreSQL server URL): the ones given, or our own for the run."""
    with ExitStack() as stack:
        if kafka is None:
            broker = kafka_broker.Broker()
            stack.callback(broker.remove)
            broker.start()
            kafka = broker.bootstrap
        if postgres is None:
            cluster = pg.Cluster().init()
            stack.callback(cluster.remove)
            cluster.start()
            postgres = cluster.url()
        yield kafka, postgres


class Bus:
    """What a cluster member needs: the broker, and a database and a topic of its own."""

    def __init__(self, bootstrap: str, server_url: str) -> None:
        self.bootstrap = bootstrap
        self.server_url = server_url

    @contextmanager
    def env(self) -> Iterator[dict[str, str]]:
        """A fresh bus topic and database, for the servers started inside (dropped after)."""
        database = pg.create_database(self.server_url)
        try:
            yield {
                "QAKIT_CLUSTER": "kafka",
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "DATABASE_URL": database,
                "QAKIT_CLUSTER_TOPIC": f"bench_bus_{uuid.uuid4().hex[:10]}",
                "KAFKA_WS_TOPIC": "bench_ws_events",
                "KAFKA_ORDER_TOPIC": "bench_order_events",
            }
        finally:
            pg.drop_database(self.server_url, database)


class Server(RunningServer):
    """run.py's server, ready once `listeners` sockets listen on its port (--workers N: N)."""

    def __init__(self, variant: Variant, logdir: Path, listeners: int) -> None:
        try:
            super().__init__(variant, logdir)
        except RuntimeError:
            if hasattr(self, "process"):  # started, but did not listen in time
                self.stop()
            raise
        deadline = time.monotonic() + WORKERS_READY
        while listening_sockets(self.port) < listeners:  # another process: no event to wait on
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{variant.name}: {listeners} listeners did not come up")
            time.sleep(0.1)


@contextmanager
def started(variant: Variant, logdir: Path, listeners: int = 1) -> Iterator[Server]:
    try:
        server = Server(variant, logdir, listeners)
    except RuntimeError:
        print(tail(logdir, variant.name), file=sys.stderr, flush=True)
        raise
    try:
        yield server
    finally:
        server.stop()


def tail(logdir: Path, name: str, lines: int = 20) -> str:
    logs = sorted(logdir.glob(f"{name}-*.log"), key=lambda path: path.stat().st_mtime)
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:]) if logs else ""


def one_workload(
    bus: Bus, name: str, workload: str, options: list[str], logdir: Path
) -> dict[str, Any]:
    command, listeners, clustered = VARIANTS[name]
    with ExitStack() as stack:
        env = stack.enter_context(bus.env()) if clustered else {}
        server = stack.enter_context(started(Variant(name, command, env), logdir, listeners))
        pids = [server.process.pid, *descendants(server.process.pid)]  # --workers: parent first
        before = [process_cpu_s(pid) for pid in pids]
        result = run_loadgen(server, workload, options)
        result["process_cpu_s"] = [
            round(process_cpu_s(pid) - cpu, 2) for pid, cpu in zip(pids, before, strict=True)
        ]
        return result


def latency(
    bus: Bus, clustered: bool, options: list[str], logdir: Path, timeout: float
) -> dict[str, Any]:
    """bus_latency.py against two cluster instances (A, B) or one process without the bus."""
    with ExitStack() as stack:
        if clustered:
            env = stack.enter_context(bus.env())
            a, b = (
                stack.enter_context(
                    started(Variant(f"latency-{x}", QAKIT, {**env, "QAKIT_INSTANCE_ID": x}), logdir)
                )
                for x in ("bench-a", "bench-b")
            )
            urls = ["--publish", url(a), "--same", url(a), "--other", url(b)]
        else:
            one = stack.enter_context(started(Variant("latency-single", QAKIT), logdir))
            urls = ["--publish", url(one), "--same", url(one)]
        done = subprocess.run(
            [*LATENCY, *urls, *options], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"bus_latency.py failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def url(server: RunningServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def latency_table(single: list[dict[str, Any]], cluster: list[dict[str, Any]]) -> list[str]:
    def median(results: list[dict[str, Any]], key: str) -> float:
        values = [r[key] for r in results if key in r]
        return statistics.median(values) if values else float("nan")

    rows = [
        ("one process, no bus", single, "same"),
        ("cluster, same instance (A to A)", cluster, "same"),
        ("cluster, another instance (A to B)", cluster, "other"),
    ]
    lines = [
        "| publish to delivery | p50_ms | p99_ms | lost | publisher round trip p50_ms |",
        "|---|---|---|---|---|",
    ]
    for label, results, side in rows:
        lines.append(
            f"| {label} | {fmt(median(results, f'{side}_p50_ms'))} | "
            f"{fmt(median(results, f'{side}_p99_ms'))} | "
            f"{fmt(sum(r.get(f'{side}_lost', 0) for r in results))} | "
            f"{fmt(median(results, 'publisher_round_trip_p50_ms'))} |"
        )
    for label, side in (("same instance", "same"), ("another instance", "other")):
        p50, p99 = (
            median(cluster, f"{side}_{q}_ms") - median(single, f"same_{q}_ms")
            for q in ("p50", "p99")
        )
        lines.append(f"| the bus's added cost, {label} | {fmt(p50)} | {fmt(p99)} | | |")
    return lines


def render(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    latencies: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
    elapsed: float,
    load: tuple[str, str],
    failures: list[str],
) -> str:
    command = "python bench/cluster.py" + (" --smoke" if args.smoke else "")
    command += "" if args.smoke else f" --rounds {args.rounds}"
    lines = [
        f"Generated by `{command}` on {datetime.date.today().isoformat()} in {elapsed:.0f} s: "
        f"{args.rounds} round(s), servers alternating, medians shown.",
        "",
        f"- machine: {machine()}",
        f"- load average (1, 5, 15 min) at the start: {load[0]}; at the end: {load[1]}",
        f"- Kafka: {'a broker given' if args.kafka else 'its own broker'} "
        f"(Kafka {kafka_broker.KAFKA_VERSION}, one KRaft node); PostgreSQL: "
        f"{'a server given' if args.postgres else 'its own server'}; all on 127.0.0.1",
        *(f"- **failed**: {failure}" for failure in failures),
        "",
    ]
    for workload, per_variant in results.items():
        names = [n for n in VARIANTS if per_variant.get(n)]
        options = " ".join(WORKLOADS[workload][2 if args.smoke else 1])
        split = [r["process_cpu_s"] for r in per_variant.get("workers-2", [])]
        by_process = f"workers-2's server CPU s by process (parent, workers), by round: {split}"
        lines += [
            f"### {workload} (`{options}`)",
            "",
            *workload_table(workload, per_variant, names),
            "",
            *([by_process, ""] if split else []),
        ]
    if latencies["cluster"] or latencies["single"]:
        options = " ".join(LATENCY_OPTIONS[1 if args.smoke else 0])
        lines += [
            f"### The bus's added latency (`bench/bus_latency.py {options}`)",
            "",
            *latency_table(latencies["single"], latencies["cluster"]),
            "",
        ]
    return "\n".join(lines)


def loadavg() -> str:
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few clients, a few messages")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workloads", default="w1,w3")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="names, comma-separated")
    parser.add_argument("--no-latency", action="store_true", help="W1 and W3 only")
    parser.add_argument("--kafka", help="a running broker's bootstrap (default: our own)")
    parser.add_argument("--postgres", help="a running server's URL (default: our own)")
    parser.add_argument("--out", type=Path, help="write the markdown there (default: stdout)")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.smoke else 3)
    chosen = args.variants.split(",")
    unknown = set(chosen) - set(VARIANTS)
    if unknown or "reference" not in chosen:
        parser.error(f"--variants: known {', '.join(VARIANTS)}; reference is required")
    timeout = 120.0 if args.smoke else 600.0
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    latencies: dict[str, list[dict[str, Any]]] = {"single": [], "cluster": []}
    failures: list[str] = []  # servers that did not start (their logs went to stderr)
    load_start, started_at = loadavg(), time.monotonic()
    with (
        backing(args.kafka, args.postgres) as (bootstrap, server_url),
        tempfile.TemporaryDirectory(prefix="qakit-bench-cluster-") as logs,
    ):
        bus, logdir = Bus(bootstrap, server_url), Path(logs)
        for round_number in range(args.rounds):
            for workload in args.workloads.split(","):
                _metric, full, smoke = WORKLOADS[workload]
                options = smoke if args.smoke else full
                turn = round_number % len(chosen)
                for name in chosen[turn:] + chosen[:turn]:
                    try:
                        result = one_workload(bus, name, workload, options, logdir)
                    except RuntimeError as error:  # a server that did not start: go on
                        failures.append(f"{name} {workload} round {round_number}: {error}")
                        print(failures[-1], file=sys.stderr, flush=True)
                        continue
                    results.setdefault(workload, {}).setdefault(name, []).append(result)
                    line = {"variant": name, "round": round_number, **result}
                    print(json.dumps(line), flush=True)
            if args.no_latency:
                continue
            for clustered in (True, False) if round_number % 2 == 0 else (False, True):
                options = LATENCY_OPTIONS[1 if args.smoke else 0]
                result = latency(bus, clustered, options, logdir, timeout)
                latencies["cluster" if clustered else "single"].append(result)
                line = {"cluster": clustered, "round": round_number, **result}
                print(json.dumps(line), flush=True)
    load = (load_start, loadavg())
    text = render(results, latencies, args, time.monotonic() - started_at, load, failures)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
