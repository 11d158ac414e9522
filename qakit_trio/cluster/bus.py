"""The cluster bus: one Kafka topic every instance writes to and reads all of.

    Cluster.run (cluster.py)
    └── KafkaBus.run         owns an aiokafka producer and consumer, inside trio-asyncio's loop
        ├── _send_all        the outbox (a bounded memory channel) -> the topic, in order
        └── (itself)         the topic -> `deliver(record)`, one record at a time, in order

Why one partition: the topic's one order is every channel's order, and one position (the
next offset to read) says what an instance has seen. A class, a load test of a few thousand
clients, a bench: far below what one partition carries; a bigger deployment would key channels
to partitions and keep one position per partition. Records are sent to partition 0 whatever the
topic has (a topic made by hand with more partitions is used, its partition 0 only; start-up
logs it).

Offsets: a record's Kafka offset plus 1 is the offset of the publication it carries, on every
instance alike (strictly increasing per channel; not contiguous, because other channels'
records and the heartbeats share the partition). The epoch names the topic (`bus_epoch`).

Start: the topic is created if missing (one partition, RETENTION), then the last CATCH_UP
records are read before the bus says it is ready, so a (re)started instance has the channels'
recent history and the others' members. A restart of this task after a crash (the
supervisor's) goes on from the position it had reached, never reads a record twice.

The topic deleted or emptied under us (Kafka UI can): the next offset is out of the log's range
or the offsets go back. The instance logs an ERROR, calls `reset(position)` (cluster.py: the
history is dropped, and positions from before cannot be recovered here) and reads on from the
log's start. Instances started later cannot tell: docs/cluster.md says to give a new topic a
new name.

A record Kafka refuses by itself (too large) is dropped and logged, never the batch around it;
any other failure to send is Kafka being unavailable: the task crashes, the supervisor restarts
it, and publishers waiting meanwhile get `bus_unavailable`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiokafka
import trio
import trio_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    TopicAlreadyExistsError,
)

from qakit_trio import logs
from qakit_trio.adapters.adapter_state import AdapterState
from qakit_trio.errors import KafkaUnavailable

log = logging.getLogger(__name__)

CATCH_UP = 10_000  # records read back at start (the history's TTL trims what is too old)
RETENTION_MS = 24 * 3600 * 1000  # the topic keeps a day (a class day); heartbeats add up
# The outbox: records waiting for the producer. 10,000 records or OUTBOX_BYTES: a few seconds
# of the busiest bench (a publisher waits for its record to come back, so it holds one at a
# time); past either a publication is refused with `bus_unavailable`, never memory grown.
OUTBOX = 10_000
OUTBOX_BYTES = 64 * 1024 * 1024
BATCH_MAX = 500  # records sent together, then all their acks awaited
FETCH_WAIT_MS = 20  # the broker answers a fetch at once when records are there, else after this
FETCH_MAX = 1000  # records one fetch brings at most
DELIVER_STEP = 100  # records delivered between two checkpoints (pings and heartbeats run)
RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # reaching Kafka at start: the pause doubles, capped

Outgoing = tuple[str, bytes, str | None]  # key, value, the publish id a publisher waits on


@dataclass(frozen=True, slots=True)
class Consumed:
    offset: int  # Kafka's
    key: str
    value: bytes
    wall: float  # the record's timestamp (s since the epoch): when it was produced


def bus_epoch(topic: str) -> str:
    """The epoch of every channel on this bus: the topic's name, hashed (8 hex)."""
    return "k" + hashlib.sha1(topic.encode()).hexdigest()[:8]


class KafkaBus:
    def __init__(self, bootstrap: str, topic: str, *, timeout: float) -> None:
        self.bootstrap, self.topic, self._timeout = bootstrap, topic, timeout
        self._partition = aiokafka.TopicPartition(topic, 0)
        # Both ends are the bus's; never closed (publishers hold the send end for the app's
        # whole life; a restarted run() reads on from the same receive end).
        self._send, self._outbox = trio.open_memory_channel[Outgoing](OUTBOX)
        self._queued_bytes = 0
        self._abandoned: set[str] = set()  # publish ids nobody waits for: not sent if not yet
        self.state = AdapterState("cluster bus", log)
        self.position: int | None = None  # the next Kafka offset to read (None: not started)
        self.known_from = 0  # the first offset this instance read: it knows nothing before
        self.catching_up = True  # reading back the topic at start
        self.lagging = False  # the last fetch was full: more records wait behind it
        self.sent = self.received = self.refused = self.resets = 0
        self.farewell: tuple[str, bytes] | None = None  # sent last, at shutdown (a `bye`)
        self.reset: Callable[[int], None] = lambda position: None  # the topic went back

    def send_nowait(self, key: str, value: bytes, publish_id: str | None = None) -> bool:
        """Queue a record for the topic; False when the outbox is full (Kafka is too slow)."""
        if self._queued_bytes + len(value) > OUTBOX_BYTES:
            return False
        try:
            self._send.send_nowait((key, value, publish_id))
        except trio.WouldBlock:
            return False
        self._queued_bytes += len(value)
        return True

    def abandon(self, publish_id: str) -> None:
        """Its publisher gave up waiting: if it has not been sent yet, it never will be."""
        self._abandoned.add(publish_id)

    def health(self) -> dict[str, Any]:
        return {
            **self.state.as_dict(),
            "topic": self.topic,
            "position": self.position,
            "sent": self.sent,
            "received": self.received,
            "refused": self.refused,
            "topic_resets": self.resets,
            "waiting": self._outbox.statistics().current_buffer_used,
        }

    async def run(
        self,
        deliver: Callable[[Consumed], None],
        caught_up: Callable[[], None] = lambda: None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver every record in order; `caught_up()` after each fetch (nothing waits)."""
        async with trio_asyncio.open_loop():
            producer, consumer = await self._open()
            stopping = False  # cancelled: the service stops (not a crash the supervisor restarts)
            try:
                await self._catch_up(consumer, deliver)
                self.state.set("up")
                task_status.started()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._send_all, producer, name="cluster bus: send")
                    while True:
                        await self._deliver_all(await self._fetch(consumer), deliver)
                        caught_up()
            except* trio.Cancelled:
                stopping = True
                raise
            finally:
                self.state.set("stopped" if stopping else "down")
                with trio.CancelScope(shield=True), trio.move_on_after(self._timeout):
                    if stopping:  # what is queued, and the goodbye (a restart sends them later)
                        await self._send_left(producer)
                    await trio_asyncio.aio_as_trio(producer.stop)()
                    await trio_asyncio.aio_as_trio(consumer.stop)()

    async def _deliver_all(
        self, records: list[Consumed], deliver: Callable[[Consumed], None]
    ) -> None:
        for n, record in enumerate(records):
            assert self.position is not None
            if record.offset < self.position:  # the offsets went back: a new topic
                self._topic_reset(f"offset {record.offset} after {self.position}", 0)
            deliver(record)  # (before the position moves: a channel new here starts below it)
            self.position = record.offset + 1
            self.received += 1
            if n % DELIVER_STEP == DELIVER_STEP - 1:
                await trio.lowlevel.checkpoint()

    def _topic_reset(self, why: str, position: int) -> None:
        self.resets += 1
        log.error(
            "cluster bus: the topic was deleted or emptied; this instance's history is reset",
            extra={"fields": {"topic": self.topic, "why": why, "position": position}},
        )
        self.position = self.known_from = position
        self.reset(position)

    async def _open(self) -> tuple[Any, Any]:
        """The topic (created if missing), a producer and a consumer of partition 0; retried
        with a growing pause while Kafka cannot be reached (start-up waits for the bus)."""
        pause = RETRY_FIRST
        while True:
            try:
                with trio.fail_after(self._timeout * 2):
                    clients: tuple[Any, Any] = await trio_asyncio.aio_as_trio(self._open_clients)()
                    return clients
            except (KafkaUnavailable, trio.TooSlowError) as error:
                self.state.set("down", str(error) or "no answer in time")
                await trio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)

    async def _open_clients(self) -> tuple[Any, Any]:
        producer = consumer = None
        try:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                # the broker's clock on every record: the bus's one clock (members.py)
                config = {
                    "retention.ms": str(RETENTION_MS),
                    "message.timestamp.type": "LogAppendTime",
                }
                await admin.create_topics([NewTopic(self.topic, 1, 1, topic_configs=config)])
            except TopicAlreadyExistsError:
                pass
            finally:
                await admin.close()
            producer = aiokafka.AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id="qakit-trio-bus",
                acks="all",
                enable_idempotence=True,  # retries never reorder nor duplicate
                linger_ms=0,
                request_timeout_ms=int(self._timeout * 1000),
            )
            await producer.start()
            consumer = aiokafka.AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="qakit-trio-bus",
                enable_auto_commit=False,  # no group: every instance reads everything
                auto_offset_reset="none",  # out of range: the topic went back (_fetch)
                fetch_max_wait_ms=FETCH_WAIT_MS,
                request_timeout_ms=int(max(self._timeout, 1.0) * 1000) + 1000,
            )
            await consumer.start()
            consumer.assign([self._partition])
            partitions = consumer.partitions_for_topic(self.topic) or {0}
            if len(partitions) > 1:
                log.warning(
                    "cluster bus: the topic has several partitions; only partition 0 is used",
                    extra={"fields": {"topic": self.topic}},
                )
            return producer, consumer
        except (KafkaError, OSError) as error:
            for client in (consumer, producer):
                if client is not None:
                    await client.stop()
            raise KafkaUnavailable(f"{type(error).__name__}: {error}".rstrip(": ")) from None

    async def _offsets(self, consumer: Any) -> tuple[int, int]:
        """The partition's first and next offsets."""
        try:
            ends = await trio_asyncio.aio_as_trio(consumer.end_offsets)([self._partition])
            begins = await trio_asyncio.aio_as_trio(consumer.beginning_offsets)([self._partition])
        except KafkaError as error:
            raise KafkaUnavailable(f"{type(error).__name__}: {error}") from None
        return begins[self._partition], ends[self._partition]

    async def _catch_up(self, consumer: Any, deliver: Callable[[Consumed], None]) -> None:
        if self.position is None:  # the first start: the last CATCH_UP records
            begin, end = await self._offsets(consumer)
            self.known_from = self.position = max(begin, end - CATCH_UP)
        else:  # a restart: on from where we were
            end = None
        consumer.seek(self._partition, self.position)
        read = 0
        self.catching_up = end is not None
        try:
            while end is not None and self.position < end:
                records = await self._fetch(consumer)
                await self._deliver_all(records, deliver)
                read += len(records)
                # (a transaction's markers take offsets no record has: ask where we are)
                self.position = max(
                    self.position,
                    await trio_asyncio.aio_as_trio(consumer.position)(self._partition),
                )
        finally:
            self.catching_up = False
        logs.info(log, "cluster bus ready", topic=self.topic, position=self.position, read=read)

    async def _fetch(self, consumer: Any) -> list[Consumed]:
        try:
            batches = await trio_asyncio.aio_as_trio(consumer.getmany)(
                timeout_ms=200, max_records=FETCH_MAX
            )
        except OffsetOutOfRangeError:
            begin, end = await self._offsets(consumer)
            self._topic_reset(f"position {self.position} out of [{begin}, {end}]", begin)
            consumer.seek(self._partition, begin)
            return []
        except KafkaError as error:
            raise KafkaUnavailable(f"{type(error).__name__}: {error}") from None
        records = [
            Consumed(
                m.offset,
                (m.key or b"").decode(errors="replace"),  # anybody may write to the topic
                m.value or b"",
                m.timestamp / 1000,
            )
            for messages in batches.values()
            for m in messages
        ]
        self.lagging = len(records) >= FETCH_MAX
        return records

    async def _send_all(self, producer: Any) -> None:
        while True:
            batch = [await self._outbox.receive()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._outbox.receive_nowait())
                except trio.WouldBlock:
                    break
            self._queued_bytes -= sum(len(value) for _, value, _ in batch)
            await self._send_batch(producer, batch)

    async def _send_batch(self, producer: Any, batch: list[Outgoing]) -> None:
        abandoned = self._abandoned
        kept = [(k, v) for k, v, publish_id in batch if publish_id not in abandoned]
        abandoned.difference_update(p for _, _, p in batch if p is not None)

        async def send() -> list[str]:
            refused, futures = [], []
            for key, value in kept:
                try:
                    futures.append(
                        await producer.send(self.topic, value, key=key.encode(), partition=0)
                    )
                except MessageSizeTooLargeError:
                    refused.append(key)
            for future in futures:
                await future
            return refused

        try:
            with trio.fail_after(self._timeout):
                refused = await trio_asyncio.aio_as_trio(send)()
        except (KafkaError, OSError) as error:
            raise KafkaUnavailable(f"{type(error).__name__}: {error}") from None
        except trio.TooSlowError:
            raise KafkaUnavailable(f"no acknowledgement within {self._timeout} s") from None
        self.sent += len(kept) - len(refused)
        if refused:
            self.refused += len(refused)
            log.warning(
                "cluster bus: records too large for Kafka dropped",
                extra={"fields": {"dropped": len(refused), "channel": refused[0]}},
            )

    async def _send_left(self, producer: Any) -> None:
        """Shutdown (shielded, bounded by the caller): what is queued still goes (a `bye`)."""
        left: list[Outgoing] = []
        while True:
            try:
                left.append(self._outbox.receive_nowait())
            except trio.WouldBlock:
                break
        if self.farewell is not None:
            left.append((*self.farewell, None))
        if left:
            try:
                await self._send_batch(producer, left)
            except KafkaUnavailable as error:
                log.warning(
                    "cluster bus: records not sent at shutdown",
                    extra={"fields": {"left": len(left), "error": str(error)}},
                )
