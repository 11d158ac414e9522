"""The cluster bus's added latency: from a broadcast sent to delivery, same instance and another.

    python bench/bus_latency.py --publish ws://127.0.0.1:A --same ws://127.0.0.1:A \
        --other ws://127.0.0.1:B [--messages 500 --subscribers 10 --interval 0.01]

A publisher on `--publish` sends `--warmup` + `--messages` broadcasts, one at a time: each is
sent `--interval` seconds after the previous one's `ws.broadcast` event came back, so no
publication waits behind another and what is measured is the path, not a queue. Each carries
its send time (perf_counter_ns, loadgen.py's stamp) in its text; `--subscribers` clients on
`--same` and as many on `--other` record when it reaches them. Every client is in this one
process, so the times share one clock. Against a single process without the bus (`--other`
left out) the same figures are the baseline: the bus's cost is the difference.

Prints one JSON object: p50/p99 per side (ms), what was lost, and the publisher's own round
trip (send to its `ws.broadcast` event). The warm-up broadcasts (the producer's first
metadata, the consumer's first fetch) are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from typing import Any

import uvloop
from loadgen import Client, connect, message_stamp, percentile, stamped_message

CHANNEL = "bus-latency"
WAIT_LAST = 30.0  # seconds for the last broadcast to reach every subscriber after it was sent
WAIT_EVENT = 30.0  # seconds for one broadcast's event to come back to the publisher


class Side:
    """The subscribers of one instance: their latencies (warm-up left out) and counts."""

    def __init__(self, clients: list[Client], warmup: int, total: int) -> None:
        self.latencies: list[float] = []
        self.received = 0
        self.expected = len(clients) * (total - warmup)
        self.complete = asyncio.get_running_loop().create_future()
        self.warmup = warmup
        for client in clients:
            client.on_text = self.on_text
        if self.expected == 0:
            self.complete.set_result(None)

    def on_text(self, text: str) -> None:
        stamp = message_stamp(text)
        if stamp is None:
            return
        sent, seq = stamp
        if seq < self.warmup:
            return
        self.latencies.append((time.perf_counter_ns() - sent) / 1e6)
        self.received += 1
        if self.received == self.expected and not self.complete.done():
            self.complete.set_result(None)

    def figures(self, name: str) -> dict[str, Any]:
        return {
            f"{name}_p50_ms": percentile(self.latencies, 0.50),
            f"{name}_p99_ms": percentile(self.latencies, 0.99),
            f"{name}_lost": self.expected - self.received,
        }


async def measure(
    publish: str,
    same: str,
    other: str | None,
    subscribers: int,
    messages: int,
    warmup: int,
    interval: float,
    size: int,
) -> dict[str, Any]:
    path = f"/ws?channel={CHANNEL}"
    total = warmup + messages
    same_side = Side((await connect(same + path, subscribers))[0], warmup, total)
    other_clients = [] if other is None else (await connect(other + path, subscribers))[0]
    other_side = Side(other_clients, warmup, total)
    publisher = (await connect(publish + path, 1))[0][0]
    loop = asyncio.get_running_loop()
    event: list[asyncio.Future[None]] = [loop.create_future()]

    def publisher_text(text: str) -> None:
        if text.startswith('{"type":"event"') and not event[0].done():
            event[0].set_result(None)

    publisher.on_text = publisher_text
    round_trips: list[float] = []
    for seq in range(total):
        event[0] = loop.create_future()
        started = time.perf_counter_ns()
        publisher.send(
            {
                "action": "broadcast",
                "request_id": seq,
                "payload": {"message": stamped_message(seq, size)},
            }
        )
        await asyncio.wait_for(event[0], WAIT_EVENT)
        if seq >= warmup:
            round_trips.append((time.perf_counter_ns() - started) / 1e6)
        await asyncio.sleep(interval)
    waiting = asyncio.gather(same_side.complete, other_side.complete)
    with contextlib.suppress(TimeoutError):  # what did not arrive is counted as lost below
        await asyncio.wait_for(waiting, WAIT_LAST)
    return {
        "messages": messages,
        "subscribers_per_side": subscribers,
        "publisher_round_trip_p50_ms": percentile(round_trips, 0.50),
        "publisher_round_trip_p99_ms": percentile(round_trips, 0.99),
        **same_side.figures("same"),
        **(other_side.figures("other") if other is not None else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publish", required=True, help="ws://HOST:PORT of the publisher")
    parser.add_argument("--same", required=True, help="ws://HOST:PORT: the publisher's instance")
    parser.add_argument("--other", help="ws://HOST:PORT of another instance (cluster only)")
    parser.add_argument("--subscribers", type=int, default=10, help="per instance")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(
        measure(
            args.publish,
            args.same,
            args.other,
            args.subscribers,
            args.messages,
            args.warmup,
            args.interval,
            args.size,
        )
    )
    print(json.dumps({"workload": "bus-latency", **result}), flush=True)


if __name__ == "__main__":
    main()
