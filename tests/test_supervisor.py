"""The supervisor on trio's virtual clock: restarts with a growing pause, health, start-up."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from qakit_trio import logs, supervisor
from qakit_trio.supervisor import RESTART_FIRST, RESTART_MAX, Supervisor
from qakit_trio.testing import open_stand
from qakit_trio.ws import keepalive

from .support.timeouts import TIMEOUT
from .test_hardening import crash_once


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


async def test_a_crashed_service_task_is_restarted_and_health_says_so(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Issue 9: each of the stand's own service tasks, crashed once, is restarted while the
    stand keeps serving. The whole stand on the virtual clock (the in-memory kit): pings every
    50 ms and a 0.2 s slow-consumer watch call the crashing functions at once, and no machine
    is too busy to answer them in time."""
    monkeypatch.setattr(supervisor, "RESTART_FIRST", 0.05)
    settings = {"QAKIT_PING_INTERVAL": "0.05", "QAKIT_SLOW_CONSUMER_TIMEOUT": "0.2"}
    with trio.fail_after(TIMEOUT):
        async with open_stand(settings) as stand, stand.connect() as ws:
            assert (await ws.receive_json())["type"] == "system"
            tasks = stand.app.services.supervisor.tasks
            for task, owner, name in [
                ("log flusher", logs, "hand_off_logs"),
                ("keepalive", keepalive, "ping_round"),
                ("slow-consumer watch", keepalive, "evict_stalled"),
            ]:
                await crash_once(monkeypatch, owner, name).wait()
                assert tasks[task].restarts == 1
                assert "fails on purpose" in str(tasks[task].error)
                await tasks[task].wait_for("running")
                assert tasks[task].restarts == 1
            # the stand as a whole never stopped serving, and the client was never dropped
            await ws.send_json({"action": "echo", "request_id": "after"})
            frames = [await ws.receive_json() for _ in range(3)]
            assert [(f["type"], f["request_id"]) for f in frames] == [
                ("ack", "after"),
                ("echo", "after"),
                ("event", "after"),
            ]
            status, health = await stand.request("GET", "/health")
            assert (status, health["status"]) == (200, "ok")
            assert all(t["state"] in ("running", "finished") for t in health["tasks"].values())
