"""What an adapter task (the database's, Kafka's) tells /health: its state, since when, why.

    starting -> up <-> down -> stopped

The adapter task sets it (`set`); /health reads it (`as_dict`); anyone may wait for a state
(`wait_for`, e.g. a test waiting for an outage to be noticed). A change is logged once, by the
adapter's own logger: a warning when it goes down, an info line otherwise.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import trio

from qakit_trio import logs


class AdapterState:
    def __init__(self, name: str, logger: logging.Logger) -> None:
        self._name = name  # "database", "kafka": how the log lines call it
        self._log = logger
        self.current = "starting"
        self.error: str | None = None
        self.since = datetime.now(UTC)  # wall clock: a time users read in /health
        self._changed = trio.Event()  # set at a change, then replaced by a fresh one

    def set(self, state: str, error: str | None = None) -> None:
        """Record the state (and the error that explains it, if any). Never waits."""
        if state != self.current:
            self.current, self.since = state, datetime.now(UTC)
            self._changed.set()
            self._changed = trio.Event()
            if state == "down":
                self._log.warning(f"{self._name} unavailable", extra={"fields": {"error": error}})
            else:
                logs.info(self._log, f"{self._name} {state}")
        self.error = error

    async def wait_for(self, state: str) -> None:
        """Return once the state is `state`."""
        while self.current != state:
            await self._changed.wait()

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.current, "error": self.error, "since": self.since.isoformat()}
