"""Both order stores, the same tests: in memory and in a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qakit_trio.adapters.kafka import NoKafka
from qakit_trio.config import Settings
from qakit_trio.domain.order_store import MemoryOrderStore, OrderStore
from qakit_trio.domain.orders import TRANSITIONS, EventType, Status
from qakit_trio.errors import InvalidTransition, OrderNotFound
from qakit_trio.services import make_store

from ..support.timeouts import TIMEOUT


@asynccontextmanager
async def running_store(store_settings: dict[str, Any]) -> AsyncIterator[OrderStore]:
    store, _ = make_store(replace(Settings(), **store_settings), NoKafka())
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        yield store
        nursery.cancel_scope.cancel()


async def test_create_get_list(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            first = await store.create("Yulia")
            second = await store.create("Ivan")
            assert (first.type, first.order.id, first.order.status) == (
                EventType.CREATED,
                1,
                "created",
            )  # ids start at 1 on an empty store
            assert second.order.id == 2
            assert first.event_id != second.event_id
            assert await store.get(1) == first.order
            assert await store.get(99) is None
            assert [o.id for o in await store.list()] == [1, 2]
            assert [o.id for o in await store.list(newest_first=True, limit=1)] == [2]
            assert first.order.created_at is not None


async def test_a_store_lists_a_page_by_id(store_settings: dict[str, Any]) -> None:
    """limit and offset, both orders, past the end; a change keeps an order in its place."""
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            for customer in "abcdef":
                await store.create(customer)
            await store.change_status(2, Status.PAID)  # changed: still second by id
            assert [o.id for o in await store.list(limit=3, offset=1)] == [2, 3, 4]
            assert [o.id for o in await store.list(offset=4)] == [5, 6]
            assert [o.id for o in await store.list(limit=2, offset=5)] == [6]
            assert await store.list(limit=2, offset=6) == []
            assert [o.id for o in await store.list(newest_first=True, limit=2, offset=1)] == [5, 4]
            assert [o.id for o in await store.list(newest_first=True, offset=4)] == [2, 1]
            assert [(o.id, o.status) for o in await store.list(limit=1, offset=1)] == [(2, "paid")]


async def test_the_happy_paths_and_their_events(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            order = (await store.create("a")).order
            seen = []
            for status in (Status.PAID, Status.SHIPPED, Status.DELIVERED):
                event = await store.change_status(order.id, status)
                seen.append((event.type, event.previous_status, event.order.status))
            assert seen == [
                (EventType.STATUS_CHANGED, "created", "paid"),
                (EventType.STATUS_CHANGED, "paid", "shipped"),
                (EventType.STATUS_CHANGED, "shipped", "delivered"),
            ]
            cancelled = (await store.create("b")).order
            assert (await store.change_status(cancelled.id, Status.CANCELLED)).order.status == (
                "cancelled"
            )


async def test_refusals(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            order = (await store.create("a")).order
            await store.change_status(order.id, Status.PAID)
            await store.change_status(order.id, Status.SHIPPED)
            await store.change_status(order.id, Status.DELIVERED)
            with pytest.raises(InvalidTransition) as caught:
                await store.change_status(order.id, Status.PAID)
            assert str(caught.value) == "Cannot change status from 'delivered' to 'paid'"
            assert (await store.get(order.id)).status == "delivered"  # type: ignore[union-attr]
            with pytest.raises(OrderNotFound):
                await store.change_status(404, Status.PAID)


@pytest.mark.parametrize("attempts", [20, 40])
async def test_concurrent_changes_exactly_one_wins(
    store_settings: dict[str, Any], attempts: int
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            order = (await store.create("contested")).order
            wins: list[str] = []
            refusals: list[str] = []

            async def attempt(status: Status) -> None:
                try:
                    event = await store.change_status(order.id, status)
                except InvalidTransition as refused:
                    refusals.append(str(refused))
                else:
                    wins.append(event.order.status)

            async with trio.open_nursery() as nursery:
                for _ in range(attempts):  # the same transition, all at once
                    nursery.start_soon(attempt, Status.PAID)
            assert wins == ["paid"]
            assert refusals == ["Cannot change status from 'paid' to 'paid'"] * (attempts - 1)
            assert (await store.get(order.id)).status == "paid"  # type: ignore[union-attr]


# --- property: each store against a model of the state machine -----------------------------
# An operation: ("create", ...), ("change", which, status, _), or ("race", which, status,
# other): two concurrent changes of one order, to `status` and to `other`. `which` picks one
# of the orders this example created, or (past the end) an id nobody has.

STORE_OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "change", "race"]),
        st.integers(0, 3),
        st.sampled_from(list(Status)),
        st.sampled_from(list(Status)),
    ),
    max_size=40,
)
Op = tuple[str, int, Status, Status]


async def follows_the_model(store: OrderStore, ops: list[Op]) -> None:
    created: list[int] = []
    model: dict[int, Status] = {}

    async def change(order_id: int, status: Status) -> str:
        try:
            event = await store.change_status(order_id, status)
        except OrderNotFound:
            return "not found"
        except InvalidTransition:
            return "refused"
        assert event.order.status == status
        return "changed"

    for op, which, status, other in ops:
        if op == "create":
            event = await store.create("c")
            created.append(event.order.id)
            model[event.order.id] = Status.CREATED
            continue
        order_id = created[which] if which < len(created) else 10**12 + which
        if op == "change":
            expected = (
                "not found"
                if order_id not in model
                else "changed"
                if status in TRANSITIONS[model[order_id]]
                else "refused"
            )
            assert await change(order_id, status) == expected
            if expected == "changed":
                model[order_id] = status
            continue
        if other == status:
            continue  # two of the same: exactly one wins (test_concurrent_changes_...)
        results: dict[Status, str] = {}

        async def attempt(results: dict[Status, str], oid: int, target: Status) -> None:
            results[target] = await change(oid, target)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt, results, order_id, status)
            nursery.start_soon(attempt, results, order_id, other)
        # the outcome of one of the two serial orders, never a mix (no lost update)
        serial = []
        for first, second in ((status, other), (other, status)):
            state, outcome = model.get(order_id), {}
            for target in (first, second):
                if state is None:
                    outcome[target] = "not found"
                elif target in TRANSITIONS[state]:
                    outcome[target], state = "changed", target
                else:
                    outcome[target] = "refused"
            serial.append((outcome, state))
        matching = [state for outcome, state in serial if outcome == results]
        assert matching, (model.get(order_id), results)
        if order_id in model:
            stored = await store.get(order_id)
            assert stored is not None
            assert stored.status in matching
            model[order_id] = Status(stored.status)
    listed = {o.id: o.status for o in await store.list() if o.id in model}
    assert listed == model


@settings(max_examples=200, deadline=None)
@given(ops=STORE_OPS)
def test_the_memory_store_follows_the_state_machine(ops: list[Op]) -> None:
    trio.run(follows_the_model, MemoryOrderStore(), ops)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # one database for all
@given(ops=STORE_OPS)
def test_the_postgres_store_follows_the_state_machine(database_url: str, ops: list[Op]) -> None:
    """The same model, against a real PostgreSQL (each example makes its own orders)."""

    async def scenario() -> None:
        with trio.fail_after(TIMEOUT):
            async with running_store({"database_url": database_url}) as store:
                await follows_the_model(store, ops)

    trio.run(scenario)
