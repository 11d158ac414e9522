"""The supervisor on trio's virtual clock: restarts with a growing pause, health, start-up."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from qakit_trio.supervisor import RESTART_FIRST, RESTART_MAX, Supervisor


class Flaky:
    """A service that crashes `crashes` times after it is ready, then serves for ever."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.starts: list[float] = []
        self.serving = trio.Event()  # past its crashes

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        task_status.started()
        if len(self.starts) <= self.crashes:
            raise RuntimeError(f"crash {len(self.starts)}")
        self.serving.set()
        await trio.sleep_forever()


async def test_restarts_with_a_doubling_pause_then_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    supervisor, flaky = Supervisor(), Flaky(crashes=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.supervise, "flaky", flaky.run)
        await supervisor.tasks["flaky"].wait_for("restarting")
        assert not supervisor.healthy()
        await flaky.serving.wait()
        pauses = [b - a for a, b in zip(flaky.starts, flaky.starts[1:], strict=False)]
        assert pauses == pytest.approx(
            [RESTART_FIRST, RESTART_FIRST * 2, RESTART_FIRST * 4, RESTART_FIRST * 8]
        )
        assert supervisor.healthy()
        health = supervisor.health()["flaky"]
        assert (health["state"], health["restarts"], health["error"]) == (
            "running",
            4,
            "RuntimeError: crash 4",
        )
        nursery.cancel_scope.cancel()


async def test_the_pause_is_capped(autojump_clock: trio.testing.MockClock) -> None:
    supervisor, flaky = Supervisor(), Flaky(crashes=12)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.supervise, "flaky", flaky.run)
        await flaky.serving.wait()
        assert max(
            b - a for a, b in zip(flaky.starts, flaky.starts[1:], strict=False)
        ) == pytest.approx(RESTART_MAX)
        nursery.cancel_scope.cancel()


async def test_a_crash_before_ready_fails_the_start() -> None:
    async def broken(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise OSError("cannot even start")

    supervisor = Supervisor()
    with pytest.RaisesGroup(
        pytest.RaisesExc(OSError, match="cannot even start"), flatten_subgroups=True
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.supervise, "broken", broken)


async def test_a_task_that_finishes_is_not_restarted_and_cancel_is_not_caught(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def once(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.supervise, "once", once)
        await nursery.start(supervisor.supervise, "forever", Flaky(crashes=0).run)
        await supervisor.tasks["once"].wait_for("finished")
        assert supervisor.healthy()
        nursery.cancel_scope.cancel()
    assert supervisor.tasks["forever"].restarts == 0
