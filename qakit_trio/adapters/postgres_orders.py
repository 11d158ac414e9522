"""Orders in PostgreSQL: the SQL of the order store, run through the adapter (postgres.py).

Tables: `orders`, compatible with the original QA Kit's (an existing QA Kit database is read
and used as it is), and, when Kafka is on, `order_outbox`: the transactional outbox. An order
change and its event row are written in one transaction; order_relay.py publishes unsent rows
and marks them sent, so a crash or a Kafka outage between the two loses nothing. The relay
claims its rows on a connection of its own, in a transaction held open while Kafka takes them
(outbox_claims.py): several instances relay one table, each row once.
"""

from __future__ import annotations

from typing import Any

import trio

from qakit_trio.adapters.kafka_records import encode, order_value
from qakit_trio.adapters.outbox_claims import OutboxClaims
from qakit_trio.adapters.postgres import Cursor, Database
from qakit_trio.domain.orders import (
    STRICT,
    ChangeRules,
    EventType,
    Order,
    OrderEvent,
    Status,
    check_transition,
)
from qakit_trio.errors import OrderNotFound, StoreFailed
from qakit_trio.wire.stamps import new_event_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id serial PRIMARY KEY,
    customer text NOT NULL,
    status text NOT NULL DEFAULT 'created',
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
)
"""
RESET = "DROP TABLE IF EXISTS orders"
OUTBOX_SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS order_outbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    order_id integer NOT NULL,
    value text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
)""",
    "CREATE INDEX IF NOT EXISTS order_outbox_unsent ON order_outbox (id) WHERE sent_at IS NULL",
    # a relay's look for an earlier unsent row of the orders it claimed (outbox_claims.py)
    "CREATE INDEX IF NOT EXISTS order_outbox_unsent_order ON order_outbox (order_id, id) "
    "WHERE sent_at IS NULL",
]
COLUMNS = "id, customer, status, created_at, updated_at"
OutboxRows = list[tuple[int, str]]  # (row id, the order topic's record value)
RowIds = list[int]


def _order(row: tuple[Any, ...]) -> Order:
    return Order(id=row[0], customer=row[1], status=row[2], created_at=row[3], updated_at=row[4])


class PostgresOrderStore:
    kind = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int,
        timeout: float,
        event_outbox: bool = False,
        reset: bool = False,
    ) -> None:
        self.event_outbox = event_outbox  # every order event to order_outbox too (Kafka on)
        self._url, self._timeout = url, timeout
        # reset (RESET_ORDERS_ON_START): the orders table is dropped and made again, once, on
        # the first connection, as the original stand did, so ids start at 1 as in the guides.
        # The event outbox is kept: its events happened, and Kafka is still owed them.
        self._db = Database(
            url,
            pool_size=pool_size,
            timeout=timeout,
            schema=[*([RESET] if reset else []), SCHEMA, *(OUTBOX_SCHEMA if event_outbox else [])],
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._db.run(task_status=task_status)

    def health(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._db.health()}

    async def create(self, customer: str) -> OrderEvent:
        def work(cursor: Cursor) -> OrderEvent:
            cursor.execute(
                f"INSERT INTO orders (customer, status, created_at, updated_at) "
                f"VALUES (%s, %s, now(), now()) RETURNING {COLUMNS}",
                (customer, Status.CREATED.value),
            )
            return self._with_event_row(
                cursor, OrderEvent(new_event_id(), EventType.CREATED, _order(_one(cursor)))
            )

        return await self._db.call(work)

    async def get(self, order_id: int) -> Order | None:
        def work(cursor: Cursor) -> Order | None:
            cursor.execute(f"SELECT {COLUMNS} FROM orders WHERE id = %s", (order_id,))
            row = cursor.fetchone()
            return None if row is None else _order(row)

        return await self._db.call(work)

    async def list(
        self, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Order]:
        order_by = "id DESC" if newest_first else "id"

        def work(cursor: Cursor) -> list[Order]:  # LIMIT NULL: no limit
            cursor.execute(
                f"SELECT {COLUMNS} FROM orders ORDER BY {order_by} LIMIT %s OFFSET %s",
                (limit, offset),
            )
            return [_order(row) for row in cursor.fetchall()]

        return await self._db.call(work)

    async def change_status(
        self, order_id: int, status: Status, rules: ChangeRules = STRICT
    ) -> OrderEvent:
        """Read the order FOR UPDATE, check the transition, write: concurrent attempts on one
        order queue on the row lock, so exactly one of the same transition succeeds. (`rules`:
        only the lab's store wrapper asks for less, domain/orders.py ChangeRules.)"""

        lock = "" if rules.race_window else " FOR UPDATE"  # the lab's lost_update: no row lock

        def work(cursor: Cursor) -> OrderEvent:
            cursor.execute(f"SELECT {COLUMNS} FROM orders WHERE id = %s{lock}", (order_id,))
            row = cursor.fetchone()
            if row is None:
                raise OrderNotFound(order_id)
            previous = _order(row)
            if rules.check:
                check_transition(previous.status, status)
            if rules.race_window:  # a slow write after an unlocked read: the race is open
                cursor.execute("SELECT pg_sleep(%s)", (rules.race_window,))
            cursor.execute(
                f"UPDATE orders SET status = %s, updated_at = now() WHERE id = %s "
                f"RETURNING {COLUMNS}",
                (status.value, order_id),
            )
            return self._with_event_row(
                cursor,
                OrderEvent(
                    new_event_id(), EventType.STATUS_CHANGED, _order(_one(cursor)), previous.status
                ),
            )

        return await self._db.call(work)

    def _with_event_row(self, cursor: Cursor, event: OrderEvent) -> OrderEvent:
        """In the change's transaction: its event outbox row, if the event outbox is on."""
        if self.event_outbox:
            cursor.execute(
                "INSERT INTO order_outbox (event_id, order_id, value) VALUES (%s, %s, %s)",
                (event.event_id, event.order.id, encode(order_value(event))),
            )
        return event

    # --- the event outbox, for order_relay.py ----------------------------------------------------

    def outbox_claims(self) -> OutboxClaims:
        """A relay's own connection to the event outbox (outbox_claims.py): one per relay."""
        return OutboxClaims(self._url, timeout=self._timeout, schema=OUTBOX_SCHEMA)

    async def unsent(self, limit: int) -> OutboxRows:
        """The oldest event outbox rows not yet sent: (row id, record value), in commit order per
        order (a change waits for the previous one's row lock, so its row comes later). A look,
        not a claim: the relay claims through outbox_claims()."""

        def work(cursor: Cursor) -> OutboxRows:
            cursor.execute(
                "SELECT id, value FROM order_outbox WHERE sent_at IS NULL ORDER BY id LIMIT %s",
                (limit,),
            )
            return [(row[0], row[1]) for row in cursor.fetchall()]

        return await self._db.call(work)

    async def prune_sent(self, older_than_s: float, limit: int) -> int:
        """Delete up to `limit` event outbox rows sent more than `older_than_s` seconds ago
        (they are in Kafka); return how many. The event outbox is a queue, not an archive."""

        def work(cursor: Cursor) -> int:
            cursor.execute(
                "DELETE FROM order_outbox WHERE id IN (SELECT id FROM order_outbox "
                "WHERE sent_at < now() - make_interval(secs => %s) LIMIT %s)",
                (older_than_s, limit),
            )
            return cursor.rowcount

        return await self._db.call(work)

    async def mark_sent(self, row_ids: RowIds) -> None:
        def work(cursor: Cursor) -> None:
            cursor.execute("UPDATE order_outbox SET sent_at = now() WHERE id = ANY(%s)", (row_ids,))

        await self._db.call(work)


def _one(cursor: Cursor) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:
        raise StoreFailed("the database returned no row")
    return row
