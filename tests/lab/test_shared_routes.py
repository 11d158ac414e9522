"""The lab's routes with the shared state (QAKIT_CLUSTER=kafka gives every instance one; here two
stands of the kit on one real PostgreSQL database are given theirs by hand, so that no bus is
needed): PUT /lab/bugs on one stand changes what a request on the other meets within a second,
and so do PUT and DELETE /lab/faults; a refused change is refused before anything is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from qakit_trio.adapters.shared_state import SharedState
from qakit_trio.lab.shared import SharedLab
from qakit_trio.testing import Stand, open_stand

from ..support.timeouts import TIMEOUT
from .test_shared import RULES, WITHIN

pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")


@asynccontextmanager
async def shared_stand(url: str, name: str) -> AsyncIterator[tuple[Stand, SharedState]]:
    async with open_stand({"DATABASE_URL": url}) as stand, trio.open_nursery() as nursery:
        services = stand.app.services
        state = SharedState(url, timeout=5.0, instance=name)
        services.lab.shared = SharedLab(state, services.bugs, services.fault_rules)
        await nursery.start(state.run)
        yield stand, state
        nursery.cancel_scope.cancel()


async def answer_to_an_echo(stand: Stand) -> list[str]:
    """The frame types an echo in `room` gets, on a new connection (the next echo's first frame
    ends it)."""
    async with stand.connect("/ws?channel=room") as ws:
        await ws.receive_json()  # the welcome
        await ws.send_json({"action": "echo", "request_id": "this"})
        await ws.send_json({"action": "echo", "request_id": "next"})
        kinds = []
        while (frame := await ws.receive_json())["request_id"] == "this":
            kinds.append(frame["type"])
        return kinds


async def until(state: SharedState, stand: Stand, path: str, wanted: Any) -> None:
    with trio.fail_after(WITHIN):
        while (await stand.request("GET", path))[1] != wanted:
            await state.next_round()


async def test_a_change_through_one_stand_acts_on_the_other_within_a_second(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            shared_stand(database_url, "a") as (a, _),
            shared_stand(database_url, "b") as (b, b_state),
        ):
            assert await answer_to_an_echo(b) == ["ack", "echo", "event"]
            status, listing = await a.request("PUT", "/lab/bugs", {"enabled": ["duplicate_event"]})
            assert status == 200
            await until(b_state, b, "/lab/bugs", listing)
            assert await answer_to_an_echo(b) == ["ack", "echo", "event", "event"]

            assert (await a.request("PUT", "/lab/bugs", {"enabled": ["nope"]}))[0] == 422
            assert (await a.request("PUT", "/lab/faults", {"rules": "x"}))[0] == 422
            assert (await a.request("PUT", "/lab/faults", RULES)) == (200, RULES)
            await until(b_state, b, "/lab/faults", RULES)
            assert await answer_to_an_echo(b) == ["echo", "event", "event"]  # no ack: the rule

            empty: dict[str, Any] = {"seed": None, "rules": []}
            assert (await a.request("DELETE", "/lab/faults")) == (200, empty)
            await a.request("PUT", "/lab/bugs", {"enabled": []})
            await until(b_state, b, "/lab/faults", empty)
            await until(b_state, b, "/lab/bugs", (await a.request("GET", "/lab/bugs"))[1])
            assert await answer_to_an_echo(b) == ["ack", "echo", "event"]
