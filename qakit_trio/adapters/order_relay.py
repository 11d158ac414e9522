"""The event outbox relay: order events from the `order_outbox` table to Kafka, none lost.

    service nursery
    └── OrderRelay.run   (PostgreSQL and Kafka both configured)
            loop: read the oldest unsent rows -> deliver them to the Kafka adapter and wait
                  for the acknowledgement -> mark them sent
            wakes up when an order changes (wake()), and every POLL_INTERVAL anyway (rows
            written by another worker process, or left unsent by a crash or an outage)

A row is marked sent only after Kafka has acknowledged it, so a crash between the two sends it
again: at least once, duplicates possible, never lost. Rows go out in id order, which for one
order is the order of its changes (postgres_orders.py), and they are keyed by order id.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.adapters.kafka import KafkaPublisher
from qakit_trio.adapters.kafka_records import stored_order_record
from qakit_trio.adapters.postgres_orders import PostgresOrderStore
from qakit_trio.errors import StoreFailed, StoreUnavailable

log = logging.getLogger(__name__)

BATCH = 100  # rows read, published and marked sent together
POLL_INTERVAL = 5.0  # seconds: the longest a row written elsewhere waits to be noticed
RETRY_PAUSE = 1.0  # after the database or the Kafka adapter failed us
# Retention: rows sent to Kafka more than RETENTION seconds ago are deleted, PRUNE_BATCH at a
# time, at most every PRUNE_INTERVAL seconds while the relay has caught up. An hour keeps what
# a trainee may want to look at in the table; the table no longer grows for ever.
RETENTION = 3600.0
PRUNE_INTERVAL = 60.0
PRUNE_BATCH = 1000


class OrderRelay:
    def __init__(self, store: PostgresOrderStore, publisher: KafkaPublisher, topic: str) -> None:
        self._store = store
        self._publisher = publisher
        self._topic = topic
        # Size 1: a wake-up is a flag ("look again"); one pending is as good as many. Both ends
        # are the relay's; nothing to close (no task ever waits on the send end).
        self._wake_send, self._wake_receive = trio.open_memory_channel[None](1)
        self.relayed = 0  # rows published and marked sent, for /health
        self.in_flight = 0  # rows handed to Kafka, not acknowledged yet (an outage: waiting)
        self.pruned = 0  # sent rows deleted after RETENTION
        self._next_prune = 0.0  # trio time

    def wake(self) -> None:
        """An order changed: look at the event outbox now. Never waits."""
        with contextlib.suppress(trio.WouldBlock):  # a wake-up is pending already
            self._wake_send.send_nowait(None)

    def health(self) -> dict[str, Any]:
        return {"relayed": self.relayed, "in_flight": self.in_flight, "pruned": self.pruned}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                moved = await self._relay_once()
            except (StoreUnavailable, StoreFailed) as error:
                if isinstance(error, StoreFailed):  # an outage is logged by the adapter itself
                    log.warning(
                        "event outbox relay: query failed", extra={"fields": {"error": str(error)}}
                    )
                moved = 0
                await trio.sleep(RETRY_PAUSE)
            if moved < BATCH:  # caught up: prune now and then, and wait for news
                if trio.current_time() >= self._next_prune:
                    self._next_prune = trio.current_time() + PRUNE_INTERVAL
                    with contextlib.suppress(StoreUnavailable, StoreFailed):  # next time
                        self.pruned += await self._store.prune_sent(RETENTION, PRUNE_BATCH)
                with trio.move_on_after(POLL_INTERVAL):
                    await self._wake_receive.receive()

    async def _relay_once(self) -> int:
        """Publish the oldest unsent rows; return how many were relayed."""
        rows = await self._store.unsent(BATCH)
        if not rows:
            return 0
        records = [stored_order_record(self._topic, value) for _, value in rows]
        self.in_flight = len(rows)
        try:
            delivered = await self._publisher.deliver(records)
        finally:
            self.in_flight = 0
        if not delivered:
            await trio.sleep(RETRY_PAUSE)  # the adapter is stopping or restarting
            return 0
        await self._store.mark_sent([row_id for row_id, _ in rows])
        self.relayed += len(rows)
        logs.info(log, "event outbox relayed", rows=len(rows))
        return len(rows)
