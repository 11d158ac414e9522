"""Where orders live: the store interface, its errors, and the in-memory store.

`DATABASE_URL` unset: `MemoryOrderStore` (the embedded default; nothing else to install).
`DATABASE_URL` set: `postgres.PostgresOrderStore`. Both are long-lived services started in the
service nursery (`await nursery.start(store.run)`), both make a status change atomic, and both
return the `OrderEvent` of every change so it can be shown everywhere with one event_id.

Errors a store raises: the domain's `OrderNotFound` and `InvalidTransition` (orders.py), and
its own `StoreUnavailable` (the database cannot be reached now, or did not answer in time) and
`StoreFailed` (it answered with an error). Foreign errors (psycopg's) never leave a store.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from typing import Any, Protocol

import trio

from qakit_trio.domain.orders import (
    STRICT,
    ChangeRules,
    EventType,
    Order,
    OrderEvent,
    Status,
    check_transition,
)
from qakit_trio.errors import OrderNotFound
from qakit_trio.wire.stamps import new_event_id, wall_now


class OrderStore(Protocol):
    kind: str

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def create(self, customer: str) -> OrderEvent: ...

    async def get(self, order_id: int) -> Order | None: ...

    async def list(
        self, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Order]:
        """A page of orders by id (newest first if asked): `offset` skipped, at most `limit`
        (None: all the rest). A store pages itself: a large table is never read whole."""
        ...

    async def change_status(
        self, order_id: int, status: Status, rules: ChangeRules = STRICT
    ) -> OrderEvent: ...


class MemoryOrderStore:
    """Orders in a dict. A change is atomic because nothing awaits between reading the order
    and writing it back (trio switches tasks only at an await)."""

    kind = "memory"

    def __init__(self) -> None:
        self._orders: dict[int, Order] = {}
        self._next_id = 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # nothing to connect to; nothing to watch

    def health(self) -> dict[str, Any]:
        return {"kind": self.kind, "state": "up", "orders": len(self._orders)}

    async def create(self, customer: str) -> OrderEvent:
        await trio.lowlevel.checkpoint()
        now = wall_now()
        order = Order(self._next_id, customer, Status.CREATED, now, now)
        self._orders[order.id] = order
        self._next_id += 1
        return OrderEvent(new_event_id(), EventType.CREATED, order)

    async def get(self, order_id: int) -> Order | None:
        await trio.lowlevel.checkpoint()
        return self._orders.get(order_id)

    async def list(
        self, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Order]:
        await trio.lowlevel.checkpoint()
        # The dict is in id order: ids grow and each is inserted once (a change replaces the
        # value in place). A page costs offset + limit steps, not a sort of the whole table.
        values = self._orders.values()
        ordered = reversed(values) if newest_first else iter(values)
        return list(islice(ordered, offset, None if limit is None else offset + limit))

    async def change_status(
        self, order_id: int, status: Status, rules: ChangeRules = STRICT
    ) -> OrderEvent:
        await trio.lowlevel.checkpoint()  # the last await: what follows is atomic
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        if rules.check:
            check_transition(order.status, status)
        if rules.race_window:  # (the lab's) a slow write after the read: the race is open
            await trio.sleep(rules.race_window)
        changed = replace(order, status=status, updated_at=wall_now())
        self._orders[order_id] = changed
        return OrderEvent(new_event_id(), EventType.STATUS_CHANGED, changed, order.status)
