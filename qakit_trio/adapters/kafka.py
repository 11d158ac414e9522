"""Publishing to Kafka: one adapter task owns the client; everyone else hands it records.

    service nursery
    └── KafkaPublisher.run          owns the aiokafka producer, inside trio-asyncio's loop
            ▲ inbox: a bounded memory channel of Deliveries (QAKIT_KAFKA_BUFFER)
            │
            ├── publish_nowait(record)   events and broadcast messages: never waits
            └── deliver(records)         the order event outbox relay: waits until Kafka has them

Why aiokafka through trio-asyncio, not confluent-kafka in threads: docs/kafka-client.md.

At least once: the producer waits for every in-sync replica (acks=all) and is idempotent, so
its own retries do not duplicate. A batch that fails (broker down, no answer within
QAKIT_KAFKA_TIMEOUT) is retried, whole, with a growing pause, until it is acknowledged:
records wait in the inbox meanwhile. Duplicates are possible (a batch acknowledged just as our
timeout fired is sent again); losses are not, with one documented exception:

Full inbox: with QAKIT_KAFKA_SPOOL_DIR set, `publish_nowait` writes the record to a disk spool
(kafka_spool.py), and so does every record after it until the spool is empty again (order is
kept: the adapter sends the inbox, then the spool, oldest first). What is still in memory at
shutdown is written there too, and sent after the next start. Without a spool, or when the
spool is full (QAKIT_KAFKA_SPOOL_BYTES), the record is dropped, counted (`dropped` in /health)
and logged: the price of never making a WebSocket reply wait for Kafka. Order events with
PostgreSQL do not take this path: they wait in the event outbox table (order_relay.py).

Nothing here ever raises into a WebSocket or REST handler: Kafka's errors are caught at this
boundary, turned into the adapter's state (`/health`), and retried.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiokafka
import trio
import trio_asyncio
from aiokafka.errors import KafkaError

from qakit_trio import logs
from qakit_trio.adapters.adapter_state import AdapterState
from qakit_trio.adapters.kafka_records import Record
from qakit_trio.adapters.kafka_spool import DiskSpool
from qakit_trio.channels import drain_nowait
from qakit_trio.errors import KafkaUnavailable

log = logging.getLogger(__name__)

BATCH_MAX = 500  # records sent together in one attempt (then all their acks awaited)
# aiokafka's per-partition batch (default 16 KiB): big enough for a whole BATCH_MAX of events in
# one produce request, because an idempotent producer has one request in flight per partition
# and each round trip costs many trio scheduler rounds when the server is busy.
BATCH_BYTES = 512 * 1024
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts: doubling, capped
STOP_TIMEOUT = 1.0  # closing the producer at shutdown, after the flush
WATCH_INTERVAL = 2.0  # seconds: while idle, how often we check that Kafka is still there
KEEP_ACKNOWLEDGED = 1000  # the last acknowledged records, for the inspector (pipeline/trail.py)


@dataclass(eq=False, slots=True)
class Delivery:
    records: Sequence[Record]
    done: trio.Event | None = None  # set once Kafka has acknowledged every record
    ok: bool = False  # stays False when `done` is set because the adapter stopped


class _Producer:
    """The aiokafka producer; every method is asyncio code, called through aio_as_trio."""

    def __init__(self, bootstrap: str, timeout: float) -> None:
        self._bootstrap, self._timeout = bootstrap, timeout
        self._producer: Any = None

    async def _started(self) -> Any:
        if self._producer is None:
            producer = aiokafka.AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id="qakit-trio",
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                max_batch_size=BATCH_BYTES,
                request_timeout_ms=int(self._timeout * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def send_all(self, records: Sequence[Record]) -> list[tuple[int, int]]:
        """Send and wait for every acknowledgement; each record's (partition, offset)."""
        try:
            producer = await self._started()
            sent = [await producer.send(r.topic, r.value, key=r.key) for r in records]
            # Not asyncio.gather: it adds a callback per future, and trio-asyncio runs each
            # callback in its own trio scheduling round (slow when the server is busy). Futures
            # of one produce request complete together: awaiting them in turn costs one wake-up
            # per request, and none for a future already done.
            return [((m := await future).partition, m.offset) for future in sent]
        except (KafkaError, OSError, TimeoutError) as error:
            raise _translated(error) from None

    async def check(self) -> None:
        """Can we reach the cluster? (Asks a broker for fresh metadata.)"""
        try:
            producer = await self._started()
            if not await producer.client.force_metadata_update():
                raise KafkaUnavailable("no broker answered a metadata request")
        except (KafkaError, OSError, TimeoutError) as error:
            raise _translated(error) from None

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


def _translated(error: Exception) -> KafkaUnavailable:
    """aiokafka's errors (and the socket's) become ours at this boundary."""
    return KafkaUnavailable(f"{type(error).__name__}: {error}".rstrip(": "))


class KafkaPublisher:
    enabled = True

    def __init__(
        self,
        bootstrap: str,
        *,
        buffer_size: int,
        timeout: float,
        flush_timeout: float,
        spool: DiskSpool | None = None,
    ) -> None:
        self._bootstrap, self._timeout, self._flush_timeout = bootstrap, timeout, flush_timeout
        self._spool = spool  # where records go when the inbox is full (None: dropped)
        self._spool_opened = False
        # Bounded by QAKIT_KAFKA_BUFFER: how many events may wait for Kafka (an outage, a slow
        # broker) before new ones are dropped and counted; about 1 KiB each at most.
        # Both ends are the publisher's and neither is ever closed: publishers hold the send
        # end for the app's whole life, a supervised restart of run() reads on from the same
        # receive end, and at shutdown _flush drains what is left.
        self._inbox_send, self._inbox = trio.open_memory_channel[Delivery](buffer_size)
        self._buffer_size = buffer_size
        self._in_flight = 0
        self.delivered = 0
        self.dropped = 0
        self.state = AdapterState("kafka", log)
        self._pause = RETRY_FIRST  # before the next attempt after a failure (doubling)
        # (record, partition, offset) of the last acknowledged records: where each one is
        self.acknowledged: deque[tuple[Record, int, int]] = deque(maxlen=KEEP_ACKNOWLEDGED)
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (topic, delivered|dropped|retried)

    # --- for everyone else ----------------------------------------------------------------

    def publish_nowait(self, record: Record) -> None:
        """Hand a record over without waiting: to the inbox, or (when the inbox is full, or
        records already wait in the spool) to the spool; drop it (counted, logged) if
        neither takes it."""
        spool = self._spool
        if spool is None or not spool.pending_records:
            try:
                self._inbox_send.send_nowait(Delivery((record,)))
                return
            except trio.WouldBlock:
                pass
        if spool is not None and self._spooled(spool, record):
            return
        self.dropped += 1
        self.outcomes[(record.topic, "dropped")] += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning(
                "kafka buffer full: event dropped",
                extra={
                    "fields": {
                        "dropped": self.dropped,
                        "buffer": self._buffer_size,
                        "spool": None if spool is None else spool.pending_bytes,
                        "event_id": record.event_id,
                        "topic": record.topic,
                    }
                },
            )

    def _spooled(self, spool: DiskSpool, record: Record) -> bool:
        try:
            return spool.append(record)
        except OSError as error:  # the disk is full, or the directory went away
            log.warning(
                "kafka spool write failed",
                extra={
                    "fields": {
                        "error": f"{type(error).__name__}: {error}",
                        "event_id": record.event_id,
                    }
                },
            )
            return False

    async def deliver(self, records: Sequence[Record]) -> bool:
        """Hand records over and wait until Kafka has acknowledged them all (True), or the
        adapter stopped first (False). The adapter bounds each attempt; the caller waits for
        the outcome, however many attempts an outage takes."""
        delivery = Delivery(records, trio.Event())
        await self._inbox_send.send(delivery)
        assert delivery.done is not None
        await delivery.done.wait()
        return delivery.ok

    def health(self) -> dict[str, Any]:
        waiting = self._inbox.statistics().current_buffer_used + self._in_flight
        health = {
            **self.state.as_dict(),
            "bootstrap": self._bootstrap,
            "delivered": self.delivered,
            "waiting": waiting,
            "dropped": self.dropped,
        }
        if self._spool is not None:
            health["spool"] = self._spool.health()
        return health

    # --- the adapter task -----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._spool is not None and not self._spool_opened:  # once: it holds a lock
            await trio.to_thread.run_sync(self._spool.open)  # SpoolError: start-up fails
            self._spool_opened = True
        async with trio_asyncio.open_loop():
            producer = _Producer(self._bootstrap, self._timeout)
            batch: list[Delivery] = []
            try:
                task_status.started()  # ready at once: records wait in the inbox meanwhile
                while True:
                    if self.state.current != "up":  # starting, or down: probe until it answers
                        await self._check(producer)
                        continue
                    if (
                        self._spool is not None
                        and self._spool.pending_records
                        and not self._inbox.statistics().current_buffer_used
                    ):
                        await self._send_spooled(producer, self._spool)  # the inbox first
                        continue
                    with trio.move_on_after(WATCH_INTERVAL):
                        batch = await self._next_batch()
                    if batch:
                        await self._send_until_acknowledged(producer, batch)
                        batch = []
                    else:  # idle a while: is Kafka still there? (/health should not lie)
                        await self._check(producer)
            finally:
                with trio.CancelScope(shield=True):
                    await self._flush(producer, batch)

    async def _check(self, producer: _Producer) -> None:
        """One bounded probe of the cluster; after a failure, the pause before the next."""
        try:
            with trio.fail_after(self._timeout):
                await trio_asyncio.aio_as_trio(producer.check)()
        except (KafkaUnavailable, trio.TooSlowError) as error:
            await self._failed(str(error) or f"no answer within {self._timeout} s")
        else:
            self._up()

    def _up(self) -> None:
        self.state.set("up")
        self._pause = RETRY_FIRST

    async def _failed(self, error: str) -> None:
        """Kafka is down: say so, then pause before the next attempt (doubling, capped)."""
        self.state.set("down", error)
        await trio.sleep(self._pause)
        self._pause = min(self._pause * 2, RETRY_MAX)

    async def _next_batch(self) -> list[Delivery]:
        """Wait for one delivery, then take what else is waiting, up to BATCH_MAX records."""
        batch = [await self._inbox.receive()]
        count = len(batch[0].records)
        while count < BATCH_MAX:
            try:
                batch.append(self._inbox.receive_nowait())
            except trio.WouldBlock:
                break
            count += len(batch[-1].records)
        self._in_flight = count
        return batch

    async def _attempt(self, producer: _Producer, batch: list[Delivery]) -> None:
        """One bounded attempt to have Kafka acknowledge the whole batch."""
        records = [record for delivery in batch for record in delivery.records]
        try:
            with trio.fail_after(self._timeout):
                placed = await trio_asyncio.aio_as_trio(producer.send_all)(records)
        except trio.TooSlowError:
            raise KafkaUnavailable(f"no acknowledgement within {self._timeout} s") from None
        self.acknowledged.extend((r, *where) for r, where in zip(records, placed, strict=True))
        self.outcomes.update((r.topic, "delivered") for r in records)
        self.delivered += len(records)
        self._in_flight = 0
        for delivery in batch:
            delivery.ok = True
            if delivery.done is not None:
                delivery.done.set()
        self._up()

    async def _send_until_acknowledged(self, producer: _Producer, batch: list[Delivery]) -> None:
        while True:
            try:
                await self._attempt(producer, batch)
                return
            except KafkaUnavailable as error:
                self.outcomes.update((r.topic, "retried") for d in batch for r in d.records)
                await self._failed(str(error))

    async def _send_spooled(self, producer: _Producer, spool: DiskSpool) -> None:
        """Send the oldest records of the spool until Kafka has them, then forget them."""
        where = spool.next_read()
        if where is None:
            return
        read = await trio.to_thread.run_sync(spool.read, BATCH_MAX, *where)
        if read.records:
            self._in_flight = len(read.records)
            await self._send_until_acknowledged(producer, [Delivery(read.records)])
        finished = spool.forget(read)
        await trio.to_thread.run_sync(spool.commit, read, finished)

    async def _flush(self, producer: _Producer, batch: list[Delivery]) -> None:
        """Shutdown (shielded): unless Kafka is known to be down (then waiting would only
        delay the shutdown), one last try, within QAKIT_KAFKA_FLUSH_TIMEOUT, to deliver what
        waits; then close the producer, within its own limit. Waiters are released; what is left is
        logged (order events with PostgreSQL stay in the event outbox for the next start)."""
        batch = drain_nowait(self._inbox, batch)
        left = sum(len(delivery.records) for delivery in batch)
        with trio.move_on_after(0 if self.state.current == "down" else self._flush_timeout):
            while batch:
                part = batch[:BATCH_MAX]
                try:
                    await self._attempt(producer, part)
                except KafkaUnavailable:
                    break
                batch = batch[BATCH_MAX:]
                left -= sum(len(delivery.records) for delivery in part)
        spooled = 0
        for delivery in batch:
            if delivery.done is not None:
                delivery.done.set()  # ok stays False: the relay keeps its rows for next time
            elif self._spool is not None:  # kept for the next start
                spooled += sum(self._spooled(self._spool, r) for r in delivery.records)
        with trio.move_on_after(STOP_TIMEOUT):
            await trio_asyncio.aio_as_trio(producer.stop)()
        self.state.set("stopped")
        logs.info(
            log,
            "kafka publisher stopped",
            delivered=self.delivered,
            left=left,
            spooled=spooled,
            dropped=self.dropped,
        )


class NoKafka:
    """KAFKA_BOOTSTRAP_SERVERS unset: nothing is published, nothing runs."""

    enabled = False
    acknowledged: tuple[tuple[Record, int, int], ...] = ()
    outcomes: ClassVar[dict[tuple[str, str], int]] = {}  # nothing is ever published

    def publish_nowait(self, record: Record) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return {"state": "disabled"}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


Publisher = KafkaPublisher | NoKafka
