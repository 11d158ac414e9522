"""The event outbox relay: order events from the `order_outbox` table to Kafka, none lost, each
sent once even with several instances relaying the same table (QAKIT_CLUSTER=kafka).

    service nursery
    └── OrderRelay.run   (PostgreSQL and Kafka both configured)
            loop, one transaction per round (outbox_claims.py):
                claim the oldest unsent rows (FOR UPDATE SKIP LOCKED: other relays skip them)
                -> deliver them to the Kafka adapter and wait for the acknowledgement
                -> mark them sent, COMMIT
            wakes up when an order changes (wake()), and every POLL_INTERVAL anyway (rows
            written by another instance or worker, or left unsent by a crash or an outage)

A row is marked sent only after Kafka has acknowledged it, so a crash between the two sends it
again: at least once, duplicates possible, never lost. While relays run and nothing fails, each
row is sent once: a claimed row is locked until its relay commits or its session ends.
Rows go out in id order per order (the order of its changes, postgres_orders.py), keyed by
order id: a relay holds back an order's rows while another relay still has an earlier one
(outbox_claims.py `in_turn`) and looks again after HELD_BACK_PAUSE.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.adapters.kafka import KafkaPublisher
from qakit_trio.adapters.kafka_records import stored_order_record
from qakit_trio.adapters.outbox_claims import Round
from qakit_trio.adapters.postgres_orders import PostgresOrderStore
from qakit_trio.errors import StoreFailed, StoreUnavailable

log = logging.getLogger(__name__)

BATCH = 100  # rows claimed, published and marked sent together
POLL_INTERVAL = 5.0  # seconds: the longest a row written elsewhere waits to be noticed
RETRY_PAUSE = 1.0  # after the database or the Kafka adapter failed us
# rows held back for another relay (an earlier row of their order is in flight there): that
# relay commits within a Kafka round trip, so look again soon, not after POLL_INTERVAL
HELD_BACK_PAUSE = 0.05
# Retention: rows sent to Kafka more than RETENTION seconds ago are deleted, PRUNE_BATCH at a
# time, at most every PRUNE_INTERVAL seconds while the relay has caught up. An hour keeps what
# a trainee may want to look at in the table; the table no longer grows for ever.
RETENTION = 3600.0
PRUNE_INTERVAL = 60.0
PRUNE_BATCH = 1000


class OrderRelay:
    def __init__(
        self,
        store: PostgresOrderStore,
        publisher: KafkaPublisher,
        topic: str,
        *,
        batch: int = BATCH,
    ) -> None:
        self._store = store
        self._claims = store.outbox_claims()  # the relay's own connection (outbox_claims.py)
        self._publisher = publisher
        self._topic = topic
        self._batch = batch
        # Size 1: a wake-up is a flag ("look again"); one pending is as good as many. Both ends
        # are the relay's; nothing to close (no task ever waits on the send end).
        self._wake_send, self._wake_receive = trio.open_memory_channel[None](1)
        self.relayed = 0  # rows published and marked sent, for /health
        self.in_flight = 0  # rows handed to Kafka, not acknowledged yet (an outage: waiting)
        self.held_back = 0  # rows left to another relay's turn (their order's earlier row)
        self.pruned = 0  # sent rows deleted after RETENTION
        self._next_prune = 0.0  # trio time

    def wake(self) -> None:
        """An order changed: look at the event outbox now. Never waits."""
        with contextlib.suppress(trio.WouldBlock):  # a wake-up is pending already
            self._wake_send.send_nowait(None)

    def health(self) -> dict[str, Any]:
        return {
            "relayed": self.relayed,
            "in_flight": self.in_flight,
            "held_back": self.held_back,
            "pruned": self.pruned,
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                done = await self._relay_once()
                if done.relayed and done.claimed >= self._batch:
                    continue  # a backlog: the next rows at once
                if done.held_back:  # another relay is finishing their orders' earlier rows
                    with trio.move_on_after(HELD_BACK_PAUSE):
                        await self._wake_receive.receive()
                    continue
                if trio.current_time() >= self._next_prune:  # caught up: prune now and then
                    self._next_prune = trio.current_time() + PRUNE_INTERVAL
                    with contextlib.suppress(StoreUnavailable, StoreFailed):  # next time
                        self.pruned += await self._store.prune_sent(RETENTION, PRUNE_BATCH)
                with trio.move_on_after(POLL_INTERVAL):  # and wait for news
                    await self._wake_receive.receive()
        finally:
            self._claims.close()

    async def _relay_once(self) -> Round:
        """Claim, publish and mark sent the oldest unsent rows whose turn it is."""
        try:
            done = await self._claims.relay(self._batch, self._deliver)
        except (StoreUnavailable, StoreFailed) as error:
            if isinstance(error, StoreFailed):  # an outage is in /health (the pool's state)
                log.warning(
                    "event outbox relay: query failed", extra={"fields": {"error": str(error)}}
                )
            await trio.sleep(RETRY_PAUSE)
            return Round()
        self.held_back = done.held_back
        if done.undelivered:
            await trio.sleep(RETRY_PAUSE)  # the Kafka adapter is stopping or restarting
        if done.relayed:
            self.relayed += done.relayed
            logs.info(log, "event outbox relayed", rows=done.relayed)
        return done

    async def _deliver(self, rows: list[tuple[int, str]]) -> bool:
        """Hand the claimed rows to the Kafka adapter; wait for the acknowledgement."""
        records = [stored_order_record(self._topic, value) for _, value in rows]
        self.in_flight = len(rows)
        try:
            return await self._publisher.deliver(records)
        finally:
            self.in_flight = 0
