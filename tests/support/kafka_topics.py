"""Reading topics back, as a trainee would: a real consumer (aiokafka on trio-asyncio's loop)
that reads a topic from the beginning until what it has read satisfies a condition."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiokafka
import trio_asyncio


@dataclass(frozen=True)
class Consumed:
    key: str
    value: dict[str, Any]
    partition: int
    offset: int


Until = Callable[[list[Consumed]], bool]


async def read_topic(bootstrap: str, topic: str, until: Until | None) -> list[Consumed]:
    """Every record of `topic`, from the start, read until `until(records)` holds; `until`
    None: up to the partitions' end offsets when first asked (what the topic held then). No
    timeout of its own: callers wrap it in `trio.fail_after`."""

    async def consume() -> list[Consumed]:
        consumer = aiokafka.AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            records: list[Consumed] = []
            ends: dict[aiokafka.TopicPartition, int] = {}
            while not await done(consumer, records, ends):
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(
                        Consumed(m.key.decode(), json.loads(m.value), m.partition, m.offset)
                        for m in batch
                    )
                if until is None and not ends and consumer.assignment():  # once known
                    ends = await consumer.end_offsets(list(consumer.assignment()))
            return records
        finally:
            await consumer.stop()

    async def done(
        consumer: Any, records: list[Consumed], ends: dict[aiokafka.TopicPartition, int]
    ) -> bool:
        if until is not None:
            return until(records)
        return bool(ends) and all([await consumer.position(tp) >= end for tp, end in ends.items()])

    async with trio_asyncio.open_loop():
        result: list[Consumed] = await trio_asyncio.aio_as_trio(consume)()
        return result


async def whole_topic(bootstrap: str, topic: str) -> list[Consumed]:
    """Every record the topic holds now (up to its end offsets when first asked: nothing more
    can come once every row is marked sent)."""
    return await read_topic(bootstrap, topic, None)


def has_events(event_ids: set[str]) -> Until:
    """Until every one of `event_ids` has been read (duplicates allowed)."""
    return lambda records: event_ids <= {r.value.get("event_id") for r in records}


def has_count(count: int) -> Until:
    return lambda records: len(records) >= count
