"""Both order stores, the same tests: in memory and in a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from qakit_trio.config import Settings
from qakit_trio.kafka import NoKafka
from qakit_trio.order_store import MemoryOrderStore, OrderStore
from qakit_trio.orders import (
    TRANSITIONS,
    EventType,
    InvalidTransition,
    OrderNotFound,
    Status,
)
from qakit_trio.services import make_store

TIMEOUT = 20


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
                EventType.CREATED, 1, "created")  # ids start at 1 on an empty store
            assert second.order.id == 2
            assert first.event_id != second.event_id
            assert await store.get(1) == first.order
            assert await store.get(99) is None
            assert [o.id for o in await store.list()] == [1, 2]
            assert [o.id for o in await store.list(newest_first=True, limit=1)] == [2]
            assert first.order.created_at is not None


async def test_the_happy_paths_and_their_events(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_store(store_settings) as store:
            order = (await store.create("a")).order
            seen = []
            for status in (Status.PAID, Status.SHIPPED, Status.DELIVERED):
                event = await store.change_status(order.id, status)
                seen.append((event.type, event.previous_status, event.order.status))
            assert seen == [(EventType.STATUS_CHANGED, "created", "paid"),
                            (EventType.STATUS_CHANGED, "paid", "shipped"),
                            (EventType.STATUS_CHANGED, "shipped", "delivered")]
            cancelled = (await store.create("b")).order
            assert (await store.change_status(cancelled.id, Status.CANCELLED)).order.status == (
                "cancelled")


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
async def test_concurrent_changes_exactly_one_wins(store_settings: dict[str, Any],
                                                   attempts: int) -> None:
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


# --- property: the memory store against a model of the state machine ------------------------

STORE_OPS = st.lists(st.tuples(st.sampled_from(["create", "change"]), st.integers(0, 5),
                               st.sampled_from(list(Status))), max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops=STORE_OPS)
def test_the_memory_store_follows_the_state_machine(
        ops: list[tuple[str, int, Status]]) -> None:
    async def scenario() -> None:
        store, model = MemoryOrderStore(), dict[int, Status]()
        for op, order_id, status in ops:
            if op == "create":
                event = await store.create("c")
                model[event.order.id] = Status.CREATED
                continue
            if order_id not in model:
                with pytest.raises(OrderNotFound):
                    await store.change_status(order_id, status)
            elif status in TRANSITIONS[model[order_id]]:
                event = await store.change_status(order_id, status)
                assert (event.previous_status, event.order.status) == (model[order_id], status)
                model[order_id] = status
            else:
                with pytest.raises(InvalidTransition):
                    await store.change_status(order_id, status)
        assert {o.id: o.status for o in await store.list()} == model

    trio.run(scenario)
