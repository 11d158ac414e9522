"""An adapter's state for /health: changes logged once, waiters woken (no sockets)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from qakit_trio.adapters.adapter_state import AdapterState

from ..support.timeouts import TIMEOUT

log = logging.getLogger("test_adapter_state")


async def test_a_change_is_logged_once_and_the_error_kept(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    state = AdapterState("kafka", log)
    assert state.as_dict()["state"] == "starting"
    state.set("down", "connection refused")
    state.set("down", "still refused")  # the same state: no new line, the error updated
    state.set("up")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "kafka unavailable"),
        ("INFO", "kafka up"),
    ]
    assert (state.current, state.error) == ("up", None)


async def test_waiters_wake_on_the_state_they_wait_for() -> None:
    state = AdapterState("database", log)
    seen: list[str] = []

    async def wait(target: str) -> None:
        await state.wait_for(target)
        seen.append(target)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait, "down")
            nursery.start_soon(wait, "up")
            await trio.testing.wait_all_tasks_blocked()
            state.set("up")
            await trio.testing.wait_all_tasks_blocked()
            assert seen == ["up"]
            state.set("down", "gone")
    assert seen == ["up", "down"]
    await state.wait_for("down")  # already there: returns at once
