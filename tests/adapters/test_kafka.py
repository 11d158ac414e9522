"""The Kafka adapter against a real broker: delivery, acknowledgement, a broker that is not
there, the full-buffer policy and the flush at shutdown."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from qakit_trio.adapters.kafka import KafkaPublisher
from qakit_trio.adapters.kafka_records import Record
from qakit_trio.adapters.kafka_spool import DiskSpool

from ..support.kafka_topics import has_count, read_topic
from ..support.pg import free_port
from ..support.timeouts import SERVICE_TIMEOUT


def records(topic: str, count: int) -> list[Record]:
    return [Record(topic, b"k", f'{{"n":{n}}}'.encode(), f"e-{n}") for n in range(count)]


@asynccontextmanager
async def running(
    bootstrap: str,
    *,
    buffer_size: int = 100,
    attempt_timeout: float = 3.0,
    flush_timeout: float = 3.0,
    spool: DiskSpool | None = None,
) -> AsyncIterator[KafkaPublisher]:
    publisher = KafkaPublisher(
        bootstrap,
        buffer_size=buffer_size,
        timeout=attempt_timeout,
        flush_timeout=flush_timeout,
        spool=spool,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(publisher.run)
        yield publisher
        nursery.cancel_scope.cancel()


async def test_records_handed_over_without_waiting_arrive_in_order(kafka_bootstrap: str) -> None:
    topic = f"adapter_{uuid.uuid4().hex[:8]}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running(kafka_bootstrap) as publisher:
            for record in records(topic, 50):
                publisher.publish_nowait(record)
            read = await read_topic(kafka_bootstrap, topic, has_count(50))
            assert [r.value["n"] for r in read] == list(range(50))  # one key: one partition
            assert {r.key for r in read} == {"k"}
            # a consumer may see records before their acknowledgement reaches the producer;
            # an empty delivery after them returns once everything before it is acknowledged
            assert await publisher.deliver([]) is True
            health = publisher.health()
            assert (health["state"], health["delivered"], health["dropped"]) == ("up", 50, 0)


async def test_deliver_returns_once_kafka_has_the_records(kafka_bootstrap: str) -> None:
    topic = f"adapter_{uuid.uuid4().hex[:8]}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running(kafka_bootstrap) as publisher:
            assert await publisher.deliver(records(topic, 3)) is True
            assert publisher.health()["waiting"] == 0
            # acknowledged means stored: a consumer that starts now finds them
            assert len(await read_topic(kafka_bootstrap, topic, has_count(3))) == 3


async def test_no_broker_means_down_waiting_then_dropped_never_an_error() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running(
            nowhere, buffer_size=3, attempt_timeout=0.5, flush_timeout=0
        ) as publisher:
            for record in records("t", 10):
                publisher.publish_nowait(record)  # never raises, never waits
            health = publisher.health()
            assert health["delivered"] == 0
            assert health["waiting"] + health["dropped"] == 10
            assert health["dropped"] >= 10 - 3 - 1  # the inbox, and one batch in hand
            await publisher.state.wait_for("down")
            assert publisher.health()["error"]


async def test_what_waits_is_flushed_at_shutdown(kafka_bootstrap: str) -> None:
    topic = f"adapter_{uuid.uuid4().hex[:8]}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running(kafka_bootstrap) as publisher:
            for record in records(topic, 20):
                publisher.publish_nowait(record)
            # leaving the block cancels the adapter at once: it flushes before it stops
        assert publisher.health()["state"] == "stopped"
        assert publisher.delivered == 20
        assert len(await read_topic(kafka_bootstrap, topic, has_count(20))) == 20


async def test_shutdown_does_not_wait_for_a_kafka_known_to_be_down() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running(nowhere, attempt_timeout=0.5, flush_timeout=60) as publisher:
            publisher.publish_nowait(records("t", 1)[0])
            await publisher.state.wait_for("down")
            stopping = trio.current_time()
        # the flush timeout is 60 s, but nothing would get through: the adapter stops at once
        assert trio.current_time() - stopping < 30
        assert publisher.health()["state"] == "stopped"
        assert publisher.delivered == 0


async def test_with_a_spool_an_outage_and_a_restart_lose_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """No PostgreSQL: 200 records while Kafka is unreachable, with room for 3 in memory. The
    rest goes to the disk spool, what was in memory joins it at shutdown, and the next run
    sends it all once Kafka is there."""
    topic = f"spool_{uuid.uuid4().hex[:8]}"
    nowhere = f"127.0.0.1:{free_port()}"
    with trio.fail_after(SERVICE_TIMEOUT):
        spool = DiskSpool(tmp_path, max_bytes=1 << 20)
        async with running(
            nowhere, buffer_size=3, attempt_timeout=0.5, flush_timeout=0, spool=spool
        ) as publisher:
            await publisher.state.wait_for("down")
            for record in records(topic, 200):
                publisher.publish_nowait(record)  # never raises, never waits
            health = publisher.health()
            assert (health["dropped"], health["delivered"]) == (0, 0)
            assert health["spool"]["pending_records"] >= 200 - 3 - 1
        assert spool.pending_records == 200  # the inbox joined it at shutdown
        spool.close()  # the process ends: the next one takes the directory

        spool = DiskSpool(tmp_path, max_bytes=1 << 20)
        async with running(kafka_bootstrap, spool=spool) as publisher:
            publisher.publish_nowait(records(topic, 201)[200])  # after what waits on disk
            read = await read_topic(kafka_bootstrap, topic, has_count(201))
            assert sorted(r.value["n"] for r in read) == list(range(201))
            assert read[-1].value["n"] == 200
            # record 200 came last, so the spool has been sent; the adapter takes this after
            # the batch in hand (acknowledged, then forgotten on disk)
            assert await publisher.deliver([]) is True
            assert publisher.health()["spool"]["pending_records"] == 0
            assert publisher.health()["dropped"] == 0
        assert not list(await trio.Path(tmp_path).glob("*.jsonl"))
        spool.close()
