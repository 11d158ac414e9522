"""Several event outbox relays over one PostgreSQL database (QAKIT_CLUSTER=kafka: every instance
runs one), on the real server and, for the end-to-end count, the real Kafka broker: each order
event reaches the topic exactly once while they all run, in order per order; a relay that dies
with rows claimed hands them to the next one (at least once, documented in outbox_claims.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import trio

from qakit_trio.adapters.kafka import KafkaPublisher
from qakit_trio.adapters.kafka_records import Record
from qakit_trio.adapters.order_relay import OrderRelay
from qakit_trio.adapters.outbox_claims import Round
from qakit_trio.adapters.postgres_orders import PostgresOrderStore
from qakit_trio.domain.orders import Status

from ..sessions.test_kafka_events import per_order
from ..support.kafka_topics import whole_topic
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT

RELAYS = 3
ORDERS = 40  # created, then each paid, then every other shipped: 100 events
BATCH = 5  # small: many rounds, so the relays' claims interleave


class Gated(KafkaPublisher):
    """A publisher whose first deliveries wait until `together` of them have been asked for:
    proof that the relays held different rows at the same time (and a test that fails if
    two of them ever claim the same row)."""

    def __init__(self, bootstrap: str, gate: dict[str, Any]) -> None:
        super().__init__(bootstrap, buffer_size=100, timeout=3.0, flush_timeout=3.0)
        self._gate = gate

    async def deliver(self, records: Sequence[Record]) -> bool:
        gate = self._gate
        if not gate["open"].is_set():
            gate["held"].append([r.event_id for r in records])
            if len(gate["held"]) >= gate["together"]:
                gate["open"].set()
            await gate["open"].wait()
        return await super().deliver(records)


@asynccontextmanager
async def running_store(database_url: str) -> AsyncIterator[PostgresOrderStore]:
    store = PostgresOrderStore(database_url, pool_size=2, timeout=5.0, event_outbox=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        yield store
        nursery.cancel_scope.cancel()


async def make_changes(store: PostgresOrderStore) -> dict[int, list[str]]:
    """ORDERS orders created, paid, and every other one shipped: each order's statuses."""
    made: dict[int, list[str]] = {}
    for n in range(ORDERS):
        event = await store.create(f"customer {n}")
        made[event.order.id] = ["created"]
    for status in (Status.PAID, Status.SHIPPED):
        for order_id in sorted(made)[:: 1 if status is Status.PAID else 2]:
            await store.change_status(order_id, status)
            made[order_id].append(status.value)
    return made


def unsent_rows(database_url: str) -> int:
    with psycopg.connect(database_url) as db:
        row = db.execute("SELECT count(*) FROM order_outbox WHERE sent_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


async def test_three_relays_send_every_order_event_exactly_once_in_order(
    database_url: str, kafka_bootstrap: str
) -> None:
    topic = f"relays_{uuid.uuid4().hex[:10]}"
    gate: dict[str, Any] = {"open": trio.Event(), "held": [], "together": RELAYS}
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running_store(database_url) as store, trio.open_nursery() as nursery:
            made = await make_changes(store)
            events = sum(len(statuses) for statuses in made.values())
            relays = []
            for _ in range(RELAYS):  # each instance: its publisher, its relay, one database
                publisher = Gated(kafka_bootstrap, gate)
                await nursery.start(publisher.run)
                relay = OrderRelay(store, publisher, topic, batch=BATCH)
                await nursery.start(relay.run)
                relays.append(relay)
            for relay in relays:
                relay.wake()
            # the three first claims were all held at once: three different sets of rows
            await gate["open"].wait()
            held = [event_id for batch in gate["held"] for event_id in batch]
            assert len(gate["held"]) == RELAYS
            assert len(held) == len(set(held)) == RELAYS * BATCH

            # the database's state: no event tells it, so it is polled (fail_after bounds it)
            while await trio.to_thread.run_sync(unsent_rows, database_url):  # noqa: ASYNC110
                await trio.sleep(0.05)
            # every row sent (and so acknowledged): nothing more can reach the topic
            read = await whole_topic(kafka_bootstrap, topic)
            nursery.cancel_scope.cancel()
    ids = [r.value["event_id"] for r in read]
    assert len(ids) == len(set(ids)) == events
    assert per_order(read) == made  # and, per order, in the order of its changes


async def test_a_relay_holds_back_an_order_whose_earlier_event_another_relay_holds(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(database_url) as store, trio.open_nursery() as nursery:
            first = await store.create("ivan")  # row 1
            await store.change_status(first.order.id, Status.PAID)  # row 2, the same order
            await store.create("maria")  # row 3, another order
            a, b = store.outbox_claims(), store.outbox_claims()
            a_has, a_may_go = trio.Event(), trio.Event()
            sent: list[list[int]] = []

            async def a_delivers(rows: list[tuple[int, str]]) -> bool:
                sent.append([row_id for row_id, _ in rows])
                a_has.set()
                await a_may_go.wait()  # Kafka is slow for A
                return True

            async def b_delivers(rows: list[tuple[int, str]]) -> bool:
                sent.append([row_id for row_id, _ in rows])
                return True

            a_done = trio.Event()

            async def relay_a() -> None:
                assert await a.relay(1, a_delivers) == Round(claimed=1, relayed=1)
                a_done.set()

            nursery.start_soon(relay_a)
            await a_has.wait()  # A holds row 1, its transaction open
            # B skips row 1 (locked), claims 2 and 3; row 2's order has row 1 elsewhere
            assert await b.relay(10, b_delivers) == Round(claimed=2, relayed=1, held_back=1)
            assert sent == [[1], [3]]
            a_may_go.set()
            await a_done.wait()  # A has committed: row 1 is sent
            assert await b.relay(10, b_delivers) == Round(claimed=1, relayed=1)
            assert sent == [[1], [3], [2]]
            a.close()
            b.close()
            nursery.cancel_scope.cancel()


async def test_a_relay_that_dies_with_rows_claimed_hands_them_to_the_next(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(database_url) as store:
            for customer in ("ivan", "maria"):
                await store.create(customer)
            a, b = store.outbox_claims(), store.outbox_claims()
            handed: list[list[str]] = []

            async def handed_then_crash(rows: list[tuple[int, str]]) -> bool:
                handed.append([json.loads(value)["event_id"] for _, value in rows])
                raise RuntimeError("the process dies after Kafka had the records")

            async def delivers(rows: list[tuple[int, str]]) -> bool:
                handed.append([json.loads(value)["event_id"] for _, value in rows])
                return True

            try:
                await a.relay(10, handed_then_crash)
            except RuntimeError:
                pass
            else:
                raise AssertionError("the crash did not reach the relay's caller")
            # no wait: A's session has ended, its locks with it
            assert await b.relay(10, delivers) == Round(claimed=2, relayed=2)
            assert handed[0] == handed[1]  # sent twice: at least once, never lost
            assert await b.relay(10, delivers) == Round()
            b.close()
