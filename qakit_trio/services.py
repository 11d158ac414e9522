"""The app's long-lived tasks, all children of one service nursery.

    quart-trio lifespan nursery (app.nursery)
    └── service nursery (Services.run; started in before_serving, cancelled in after_serving)
        ├── log flusher      writes buffered JSON log lines out every 0.1 s (logs.py)
        ├── keepalive        pings every member, drops the silent ones (keepalive.py)
        └── shutdown watch   one per hypercorn worker: waits for the server's "terminated"
                             event, then asks every connection to close with 1001

The shutdown watch is started by the first WebSocket connection of a worker, because that is
where hypercorn's "terminated" event becomes visible to the app (hyper_ext.py). It works the
same whether the server was started by our CLI (signal -> shutdown trigger) or by `hypercorn`.
"""

from __future__ import annotations

import logging

import trio

from . import logs
from .config import Settings
from .hub import Hub
from .keepalive import run_keepalive
from .logs import run_log_flusher
from .transport import ServerTerminated

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self._nursery: trio.Nursery | None = None
        self._watched: set[int] = set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(run_log_flusher)
            await nursery.start(run_keepalive, self.hub, self.settings.ping_interval)
            log.info("services started")
            task_status.started()
            await trio.sleep_forever()  # the nursery stays open for watches started later

    def stop(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            self._nursery = None

    def watch_server(self, terminated: ServerTerminated | None) -> None:
        """Close every connection with 1001 once this server (worker) starts shutting down."""
        if terminated is None or id(terminated) in self._watched or self._nursery is None:
            return
        self._watched.add(id(terminated))
        self._nursery.start_soon(self._close_all_when, terminated)

    async def _close_all_when(self, terminated: ServerTerminated) -> None:
        await terminated.wait()
        logs.info(log, "server shutting down: closing every connection with 1001",
                  connections=self.hub.total())
        self.hub.close_all()
