"""Try both Kafka client candidates under trio against a real broker (docs/kafka-client.md).

    python bench/kafka_clients.py --bootstrap 127.0.0.1:9092 [--records 5000]

For each candidate (aiokafka through trio-asyncio; confluent-kafka with its calls in worker
threads), with acks=all and idempotence on:
- one-by-one: each record sent and its acknowledgement awaited before the next (latency);
- pipelined: all records handed over, then every acknowledgement awaited (throughput);
- the trio loop's responsiveness meanwhile: the worst lateness of a 1 ms ticker task;
- a dead broker: how long until a send fails or our timeout cancels it, and whether the
  cancellation is clean.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

Send = Callable[[bytes], Awaitable[None]]


async def ticker(lateness: list[float]) -> None:
    while True:
        before = trio.current_time()
        await trio.sleep(0.001)
        lateness.append(trio.current_time() - before - 0.001)


async def measure(
    name: str, send_one: Send, send_many: Callable[[list[bytes]], Awaitable[None]], records: int
) -> dict[str, Any]:
    payload = [f'{{"n":{n},"pad":"{"x" * 80}"}}'.encode() for n in range(records)]
    lateness: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker, lateness)
        latencies = []
        for value in payload[: records // 10]:
            started = time.perf_counter()
            await send_one(value)
            latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await send_many(payload)
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return {
        "client": name,
        "one_by_one_p50_ms": statistics.median(latencies) * 1000,
        "pipelined_per_s": records / elapsed,
        "loop_worst_lateness_ms": max(lateness) * 1000,
    }


async def aiokafka_probe(bootstrap: str, records: int) -> dict[str, Any]:
    import aiokafka
    import trio_asyncio

    async with trio_asyncio.open_loop():
        producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        await trio_asyncio.aio_as_trio(producer.start)()
        try:

            async def send_one(value: bytes) -> None:
                await trio_asyncio.aio_as_trio(producer.send_and_wait)("probe", value)

            async def send_many(values: list[bytes]) -> None:
                async def all_of_them() -> None:
                    futures = [await producer.send("probe", v) for v in values]
                    for future in futures:  # in turn, not gather(): see adapters/kafka.py
                        await future

                await trio_asyncio.aio_as_trio(all_of_them)()

            result = await measure("aiokafka via trio-asyncio", send_one, send_many, records)
        finally:
            await trio_asyncio.aio_as_trio(producer.stop)()
        dead = aiokafka.AIOKafkaProducer(
            bootstrap_servers="127.0.0.1:1", acks="all", enable_idempotence=True
        )
        started = time.perf_counter()
        try:
            with trio.move_on_after(5):
                await trio_asyncio.aio_as_trio(dead.start)()
            result["dead_broker"] = "no error within 5 s, cancelled cleanly"
        except Exception as error:
            result["dead_broker"] = (
                f"{type(error).__name__} after {time.perf_counter() - started:.2f} s"
            )
        finally:
            await trio_asyncio.aio_as_trio(dead.stop)()
    return result


async def confluent_probe(bootstrap: str, records: int) -> dict[str, Any]:
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 1}
    )
    token = trio.lowlevel.current_trio_token()
    stop = False
    # Delivery callbacks run in the polling thread; they only collect, and each poll's
    # whole batch is handed to trio in one call.
    delivered: list[Callable[[], None]] = []

    def run_all(callbacks: list[Callable[[], None]]) -> None:
        for callback in callbacks:
            callback()

    def poll_forever() -> None:
        while not stop:
            producer.poll(0.05)
            if delivered:
                batch = delivered[:]
                del delivered[:]
                trio.from_thread.run_sync(run_all, batch, trio_token=token)

    async def send_one(value: bytes) -> None:
        done = trio.Event()
        producer.produce("probe", value, on_delivery=lambda e, m: delivered.append(done.set))
        await done.wait()

    async def send_many(values: list[bytes]) -> None:
        remaining = len(values)
        all_done = trio.Event()

        def count() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                all_done.set()

        for value in values:
            producer.produce("probe", value, on_delivery=lambda e, m: delivered.append(count))
        await all_done.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, poll_forever)
        try:
            result = await measure("confluent-kafka in threads", send_one, send_many, records)
        finally:
            stop = True
    dead = confluent_kafka.Producer(
        {"bootstrap.servers": "127.0.0.1:1", "acks": "all", "enable.idempotence": True}
    )
    started = time.perf_counter()
    dead.produce("probe", b"x")
    remaining = await trio.to_thread.run_sync(dead.flush, 5.0)
    result["dead_broker"] = (
        f"produce() accepted the record; flush(5) returned after "
        f"{time.perf_counter() - started:.2f} s with {remaining} undelivered"
    )
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    for probe in (aiokafka_probe, confluent_probe):
        result = await probe(args.bootstrap, args.records)
        print(
            " | ".join(
                f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in result.items()
            ),
            flush=True,
        )


if __name__ == "__main__":
    trio.run(main)
