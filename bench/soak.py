"""Soak: the stand under churn, pipelining, bursts, slow and never-reading clients, while its
PostgreSQL is paused (SIGSTOP), stopped and restarted, and its Kafka broker is stopped and
restarted, on a schedule; with the training lab in the mix (per-request faults, delayed replies
left behind by closing clients, server-wide fault rules switched on and off, inspectors
watching everything, the task tree read in a loop). Then it checks what the hardening promises:

- every order change the stand acknowledged is in PostgreSQL (and, with Kafka, in the order
  topic: missing ones are failures, duplicates are counted), and no change it answered as
  failed (without "outcome unknown") was saved;
- no client that kept reading was evicted; the never-readers were;
- with Kafka, no event was dropped except by the spool's documented bound: its memory buffer
  is kept small (500) so that the outage sends events to the disk spool
  (QAKIT_KAFKA_SPOOL_DIR, 256 MiB here); every dropped event must be one the full spool
  refused (docs/hardening.md has what the 30-minute runs showed);
- the server's RSS and open file descriptors are flat (end against the first quarter);
- the server logged no ERROR line (its stdout is kept and read at the end).

    python bench/soak.py --duration 1800            # 30 minutes
    python bench/soak.py --duration 60              # the CI smoke (tests/test_soak.py)

It starts its own PostgreSQL and Kafka (tests/support/pg.py, tests/support/kafka_broker.py)
and the server as `python -m qakit_trio`; it prints one JSON object of figures and exits 1
if a check failed. Everything it talks to is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support import kafka_broker, pg, wsraw  # noqa: E402

NEXT = {"created": "paid", "paid": "shipped", "shipped": "delivered"}


class Soak:
    def __init__(self, http: str, kafka: bool) -> None:
        self.http = http
        self.ws = http.replace("http://", "ws://")
        self.kafka = kafka
        self.counts: Counter[str] = Counter()
        self.acked: dict[int, str] = {}  # order id -> last acknowledged status
        self.refused: dict[int, set[str]] = {}  # statuses answered as failed (not committed)
        self.unknown: dict[int, set[str]] = {}  # statuses whose outcome was unknown
        self.reader_closes: list[Any] = []
        self.samples: list[tuple[float, int, int]] = []  # (time, rss KiB, fds)
        self.kafka_health: dict[str, Any] = {}  # /health's "kafka" at the end

    # --- clients ---------------------------------------------------------------------------

    async def churn(self, stop: trio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            async with open_websocket_url(f"{self.ws}/ws?channel=churn-{n % 10}") as ws:
                await ws.get_message()  # hello
                await ws.send_message(json.dumps({"action": "echo", "request_id": n}))
                for _ in range(3):
                    await ws.get_message()
            self.counts["churned"] += 1

    async def orders(self, stop: trio.Event, worker: int) -> None:
        async with httpx.AsyncClient(base_url=self.http, timeout=30) as http:
            while not stop.is_set():
                answer = await http.post("/orders", json={"customer": f"soak-{worker}"})
                if answer.status_code != 200:
                    self.counts["order_refused"] += 1
                    await trio.sleep(0.2)
                    continue
                order = answer.json()
                self.acked[order["id"]] = "created"
                status = "created"
                while status in NEXT and not stop.is_set():
                    wanted = NEXT[status]
                    verb = {"paid": "pay", "shipped": "ship", "delivered": "deliver"}[wanted]
                    # unknown until answered (the run may end with this request in flight)
                    pending = self.unknown.setdefault(order["id"], set())
                    pending.add(wanted)
                    answer = await http.post(f"/orders/{order['id']}/{verb}")
                    if answer.status_code == 200:
                        pending.discard(wanted)
                        status = self.acked[order["id"]] = wanted
                        self.counts["changes_acked"] += 1
                    else:
                        if "outcome is unknown" not in answer.json().get("detail", ""):
                            pending.discard(wanted)
                            self.refused.setdefault(order["id"], set()).add(wanted)
                        self.counts["changes_refused"] += 1
                        await trio.sleep(0.2)
                        break  # leave this order; the database decides what it is

    async def reader(self, stop: trio.Event, name: str) -> None:
        """Reads everything on the busy channel, all the time: must never be evicted."""
        async with open_websocket_url(f"{self.ws}/ws?channel=room") as ws:
            try:
                while True:
                    await ws.get_message()
                    self.counts[f"{name}_frames"] += 1
            except ConnectionClosed as closed:
                if not stop.is_set():
                    self.reader_closes.append((name, str(closed.reason)))

    async def publisher(self, stop: trio.Event) -> None:
        """Bursts of pipelined broadcasts (2 kB each), reading its own answers."""
        async with open_websocket_url(f"{self.ws}/ws?channel=room") as ws:
            await ws.get_message()
            while not stop.is_set():
                for n in range(50):
                    await ws.send_message(
                        json.dumps(
                            {
                                "action": "broadcast",
                                "request_id": n,
                                "payload": {"message": "b" * 2000},
                            }
                        )
                    )
                events = 0
                while events < 50:
                    frame = json.loads(await ws.get_message())
                    events += frame["type"] == "event"
                self.counts["broadcasts"] += 50

    async def never_reader(self, stop: trio.Event, port: int) -> None:
        """Joins the busy channel and never reads; a new one every 10 s."""
        while not stop.is_set():
            raw = await wsraw.open_raw(port, "/ws?channel=room", receive_buffer=4096)
            self.counts["never_readers"] += 1
            await trio.sleep(10)
            await raw.stream.aclose()

    async def pipeliner(self, stop: trio.Event) -> None:
        async with open_websocket_url(f"{self.ws}/ws?channel=pipe") as ws:
            await ws.get_message()
            while not stop.is_set():
                for n in range(300):
                    await ws.send_message(json.dumps({"action": "echo", "request_id": n}))
                await trio.sleep(0.5)  # not reading for a while, on purpose
                for _ in range(900):
                    await ws.get_message()
                self.counts["pipelined"] += 300

    # --- the training lab ---------------------------------------------------------------------

    async def faulty(self, stop: trio.Event, seed: int) -> None:
        """Echoes with a random per-request fault (issue 22: the lab must not be a way to
        exhaust the stand); every tenth connection leaves with 200 delayed replies pending."""
        rng = random.Random(seed)
        while not stop.is_set():
            async with open_websocket_url(f"{self.ws}/ws?channel=lab") as ws:
                await ws.get_message()  # hello
                for n in range(20):
                    fault: dict[str, Any] = rng.choice(
                        [
                            {"delay_ms": rng.randint(1, 300)},
                            {"drop": ["data"]},
                            {"duplicate": ["event"]},
                            {"reorder": True},
                            {"fragment": 3},
                        ]
                    )
                    await ws.send_message(
                        json.dumps(
                            {"action": "echo", "request_id": n, "payload": {"n": n}, "fault": fault}
                        )
                    )
                    expected = 3 - ("drop" in fault) + ("duplicate" in fault)
                    for _ in range(expected):
                        await ws.get_message()
                    self.counts["faulty_requests"] += 1
                if rng.random() < 0.1:  # leave with delayed replies pending
                    for n in range(200):
                        await ws.send_message(
                            json.dumps(
                                {
                                    "action": "echo",
                                    "request_id": f"late-{n}",
                                    "payload": {"pad": "p" * 1000},
                                    "fault": {"delay_ms": 60_000},
                                }
                            )
                        )
                    self.counts["left_with_delayed"] += 1

    async def fault_rules(self, stop: trio.Event) -> None:
        """A teacher switching server-wide fault rules on and off, and an echo client under
        them (each request answered in full: the rules only delay)."""
        rules = {
            "seed": 7,
            "rules": [
                {
                    "match": {"action": "echo", "channel": "rules"},
                    "fault": {"delay_ms": 20},
                    "probability": 0.5,
                }
            ],
        }
        async with (
            httpx.AsyncClient(base_url=self.http, timeout=30) as http,
            open_websocket_url(f"{self.ws}/ws?channel=rules") as ws,
        ):
            await ws.get_message()
            n = 0
            while not stop.is_set():
                answer = await (
                    http.put("/lab/faults", json=rules)
                    if n % 2 == 0
                    else http.delete("/lab/faults")
                )
                self.counts[f"fault_rules_{answer.status_code}"] += 1
                for _ in range(20):
                    n += 1
                    await ws.send_message(json.dumps({"action": "echo", "request_id": n}))
                    for _ in range(3):
                        await ws.get_message()

    async def inspector(self, stop: trio.Event, name: str) -> None:
        """An inspector watching everything, reading all the time (it must never be closed
        while the stand is up)."""
        async with open_websocket_url(f"{self.ws}/ws/_inspect") as ws:
            await ws.send_message(json.dumps({"watch": {}}))
            try:
                while True:
                    await ws.get_message()
                    self.counts[f"{name}_messages"] += 1
            except ConnectionClosed as closed:
                if not stop.is_set():
                    self.reader_closes.append((name, str(closed.reason)))

    async def task_tree(self, stop: trio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.http, timeout=30) as http:
            while not stop.is_set():
                answer = await http.get("/debug/tasks", params={"limit": "200"})
                self.counts[f"task_tree_{answer.status_code}"] += 1
                await trio.sleep(0.5)

    # --- the schedule and the sampler ------------------------------------------------------

    async def chaos(
        self,
        stop: trio.Event,
        cluster: pg.Cluster,
        broker: kafka_broker.Broker | None,
        duration: float,
    ) -> None:
        start = trio.current_time()
        await trio.sleep(duration * 0.1)
        restarted_pg = restarted_kafka = False
        while not stop.is_set():
            elapsed = trio.current_time() - start
            if broker is not None and not restarted_kafka and elapsed > duration * 0.3:
                restarted_kafka = True
                await trio.to_thread.run_sync(broker.stop)
                self.counts["kafka_stopped"] += 1
                await trio.sleep(duration * 0.1)
                await trio.to_thread.run_sync(broker.start)
            elif not restarted_pg and elapsed > duration * 0.5:
                restarted_pg = True
                await trio.to_thread.run_sync(cluster.stop)
                self.counts["postgres_stopped"] += 1
                await trio.sleep(3)
                await trio.to_thread.run_sync(cluster.start)
            else:
                pids = postgres_pids(cluster)
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                self.counts["postgres_paused"] += 1
                try:
                    await trio.sleep(3)
                finally:
                    for pid in pids:
                        os.kill(pid, signal.SIGCONT)
            await trio.sleep(max(2.0, duration * 0.1))

    async def sample(self, pid: int) -> None:
        while True:
            self.samples.append(
                (time.monotonic(), rss_kib(pid), len(os.listdir(f"/proc/{pid}/fd")))
            )
            await trio.sleep(1)


def postgres_pids(cluster: pg.Cluster) -> list[int]:
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
    ).stdout.split()
    return [postmaster, *map(int, children)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def order_topic_pairs(bootstrap: str, topic: str) -> Counter[tuple[int, str]]:
    """(order id, status) of every record in the order topic, with how often it is there."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"soak-{time.time()}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        pairs: Counter[tuple[int, str]] = Counter()
        idle = 0
        while idle < 3:
            messages = consumer.consume(1000, timeout=1)
            idle = idle + 1 if not messages else 0
            for message in messages:
                if message.error() is None:
                    value = json.loads(message.value() or b"{}")
                    pairs[(value["order_id"], value["status"])] += 1
        return pairs
    finally:
        consumer.close()


def start_server(
    cluster: pg.Cluster, broker: kafka_broker.Broker | None, port: int, spool: str, log: Any
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(),
        "QAKIT_DB_TIMEOUT": "2",
        "QAKIT_SLOW_CONSUMER_TIMEOUT": "3",
        "QAKIT_PING_INTERVAL": "0",
        "QAKIT_LOG_LEVEL": "WARNING",
    }
    if broker is not None:
        env |= {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "QAKIT_KAFKA_TIMEOUT": "2",
            "QAKIT_KAFKA_BUFFER": "500",
            "QAKIT_KAFKA_SPOOL_DIR": spool,
            "QAKIT_KAFKA_SPOOL_BYTES": str(256 * 1024 * 1024),
        }
    return subprocess.Popen(
        [sys.executable, "-m", "qakit_trio", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def soak(
    duration: float, cluster: pg.Cluster, broker: kafka_broker.Broker | None, port: int, pid: int
) -> dict[str, Any]:
    http = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=http) as client:
        with trio.fail_after(30):
            while True:  # until the server answers (another process: no event to wait on)
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)
    run = Soak(http, broker is not None)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run.sample, pid)
        async with trio.open_nursery() as clients:
            for worker in range(3):
                clients.start_soon(run.orders, stop, worker)
            for name in ("reader1", "reader2"):
                clients.start_soon(run.reader, stop, name)
            clients.start_soon(run.publisher, stop)
            clients.start_soon(run.churn, stop)
            clients.start_soon(run.pipeliner, stop)
            clients.start_soon(run.never_reader, stop, port)
            for seed in range(2):
                clients.start_soon(run.faulty, stop, seed)
            clients.start_soon(run.fault_rules, stop)
            for name in ("inspector1", "inspector2", "inspector3"):
                clients.start_soon(run.inspector, stop, name)
            clients.start_soon(run.task_tree, stop)
            clients.start_soon(run.chaos, stop, cluster, broker, duration)
            await trio.sleep(duration)
            stop.set()
            clients.cancel_scope.cancel()
        await trio.sleep(2)  # let the server settle before the last sample
        nursery.cancel_scope.cancel()
    async with httpx.AsyncClient(base_url=http) as client:
        with trio.fail_after(10):
            run.kafka_health = (await client.get("/health")).json()["kafka"]
    return await trio.to_thread.run_sync(check, run, cluster, broker)


def check(run: Soak, cluster: pg.Cluster, broker: kafka_broker.Broker | None) -> dict[str, Any]:
    with psycopg.connect(cluster.url()) as db:
        stored: dict[int, str] = dict(db.execute("SELECT id, status FROM orders").fetchall())
    missing = [
        i
        for i, status in run.acked.items()
        if stored.get(i) != status and stored.get(i, "") not in run.unknown.get(i, set())
    ]
    saved_though_refused = [
        i for i, statuses in run.refused.items() if stored.get(i, "") in statuses
    ]
    figures: dict[str, Any] = {
        **run.counts,
        "orders": len(run.acked),
        "missing_in_postgres": len(missing),
        "saved_though_refused": len(saved_though_refused),
        "outcome_unknown_or_in_flight": sum(map(len, run.unknown.values())),
        "reader_evictions": run.reader_closes,
    }
    if broker is not None:
        pairs = order_topic_pairs(broker.bootstrap, "order_events")
        wanted = {
            (i, s)
            for i, last in run.acked.items()
            for s in ["created", "paid", "shipped", "delivered"][
                : ["created", "paid", "shipped", "delivered"].index(last) + 1
            ]
        }
        figures["missing_in_kafka"] = len(wanted - set(pairs))
        figures["kafka_duplicates"] = sum(n - 1 for n in pairs.values() if n > 1)
        figures["kafka_dropped"] = run.kafka_health.get("dropped")
        figures["kafka_spool_at_end"] = run.kafka_health.get("spool")
    quarter = run.samples[: max(1, len(run.samples) // 4)]
    figures["rss_mib_first_quarter"] = round(max(s[1] for s in quarter) / 1024, 1)
    figures["rss_mib_end"] = round(run.samples[-1][1] / 1024, 1)
    figures["fds_first_quarter"] = max(s[2] for s in quarter)
    figures["fds_end"] = run.samples[-1][2]
    failures = []
    if missing:
        failures.append(f"acknowledged changes missing in PostgreSQL: {missing[:10]}")
    if saved_though_refused:
        failures.append(f"changes answered as failed but saved: {saved_though_refused[:10]}")
    if figures.get("missing_in_kafka"):
        failures.append(f"{figures['missing_in_kafka']} acknowledged changes not in Kafka")
    spool = figures.get("kafka_spool_at_end") or {}
    if figures.get("kafka_dropped", 0) != spool.get("refused", 0):  # only a full spool drops
        failures.append(
            f"{figures['kafka_dropped']} events dropped on the way to Kafka, "
            f"{spool.get('refused')} of them refused by a full spool"
        )
    if run.reader_closes:
        failures.append(f"readers were evicted: {run.reader_closes}")
    if figures["rss_mib_end"] > figures["rss_mib_first_quarter"] + 48:
        failures.append("RSS grew")
    if figures["fds_end"] > figures["fds_first_quarter"] + 16:
        failures.append("file descriptors grew")
    figures["failures"] = failures
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    cluster = pg.Cluster().init()
    cluster.start()
    broker = None if args.no_kafka else kafka_broker.Broker()
    port = pg.free_port()
    spool = tempfile.TemporaryDirectory(prefix="qakit-soak-spool-")
    try:
        if broker is not None:
            broker.start()
        log_path = Path(spool.name) / "server.log"
        with log_path.open("wb") as log:
            server = start_server(cluster, broker, port, spool.name, log)
            try:
                figures = trio.run(soak, args.duration, cluster, broker, port, server.pid)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=20)
        errors = [
            line
            for line in log_path.read_text(errors="replace").splitlines()
            if '"log.level":"error"' in line or "Traceback" in line
        ]
        figures["error_lines"] = len(errors)
        if errors:
            figures["failures"].append(f"{len(errors)} ERROR lines, the first: {errors[0]}")
    finally:
        if broker is not None:
            broker.remove()
        cluster.remove()
        spool.cleanup()
    print(json.dumps(figures, indent=1))
    sys.exit(1 if figures["failures"] else 0)


if __name__ == "__main__":
    main()
