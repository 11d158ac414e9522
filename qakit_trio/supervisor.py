"""Supervision of the service tasks: a crash is logged, shown in /health, and restarted.

Without it, one long-lived task that raises (the log flusher on a line it cannot write, the
keepalive on a bug) takes its siblings down with it: the service nursery is cancelled, the
server keeps answering HTTP, `/health` says `ok`, and logs, pings, the database and Kafka
adapters are silently gone. So every service task runs under `Supervisor.supervise`:

- it is started with `await nursery.start(supervisor.supervise, name, run)`; `run` is a
  `serve`-style function that calls `task_status.started()` when it is really ready. A crash
  *before* that is not caught: the app does not start, with that error (fail loudly);
- a crash *after* it is logged once at ERROR with its traceback, the task's state becomes
  `restarting` (so `/health` says `degraded` and names it), and it is started again after a
  pause that doubles from RESTART_FIRST to RESTART_MAX (a task that ran for RESTART_MAX
  seconds before crashing starts again from RESTART_FIRST);
- cancellation is never caught (`except*` lets `trio.Cancelled` through): shutdown stays fast.

The clock is trio's, so tests/test_supervisor.py runs restarts on the virtual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

log = logging.getLogger(__name__)

RESTART_FIRST = 0.5  # seconds before the first restart of a crashed task
RESTART_MAX = 30.0  # the pause doubles up to this

ServiceRun = Callable[..., Awaitable[None]]  # run(*, task_status) -> None


@dataclass(slots=True)
class TaskState:
    """What /health shows of one service task."""

    state: str = "starting"  # starting -> running -> (restarting -> running)* ; or finished
    restarts: int = 0
    error: str | None = None  # the last crash
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    _changed: trio.Event = field(default_factory=trio.Event)  # set at a change, then replaced

    def set(self, state: str) -> None:
        self.state, self.since = state, datetime.now(UTC)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, state: str) -> None:
        """Return once the task is in `state` (e.g. a test waiting for a restart)."""
        while self.state != state:
            await self._changed.wait()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "error": self.error,
            "since": self.since.isoformat(),
        }


class Supervisor:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}

    def healthy(self) -> bool:
        return all(task.state in ("running", "finished") for task in self.tasks.values())

    def health(self) -> dict[str, Any]:
        return {name: task.as_dict() for name, task in self.tasks.items()}

    async def supervise(
        self,
        name: str,
        run: ServiceRun,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `run` for ever: restart it after a crash (see module docstring)."""
        state = self.tasks[name] = TaskState()
        status = _Started(task_status, state)
        pause = RESTART_FIRST
        while True:
            began = trio.current_time()
            crash: BaseException | None = None
            try:
                await run(task_status=status)
            except* Exception as group:
                if not status.done:
                    raise  # it never got ready: the app must not start half-built
                crash = group.exceptions[0] if len(group.exceptions) == 1 else group
            if crash is None:
                state.set("finished")  # a task with nothing (more) to do, e.g. pings off
                return
            state.restarts += 1
            state.error = f"{type(crash).__name__}: {crash}"
            state.set("restarting")
            if trio.current_time() - began >= RESTART_MAX:
                pause = RESTART_FIRST  # it ran well for a while: not a crash loop
            log.error(
                "service task crashed; restarting it",
                exc_info=crash,
                extra={"fields": {"service": name, "restarts": state.restarts, "pause_s": pause}},
            )
            await trio.sleep(pause)
            pause = min(pause * 2, RESTART_MAX)


class _Started:
    """Passes the first `started()` on to whoever started the supervisor; marks the task
    running at every start (the first and each restart)."""

    def __init__(self, outer: trio.TaskStatus[None], state: TaskState) -> None:
        self._outer = outer
        self._state = state
        self.done = False

    def started(self, value: None = None) -> None:
        self._state.set("running")
        if not self.done:
            self.done = True
            self._outer.started(value)
