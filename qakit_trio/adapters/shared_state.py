"""Values every instance of a cluster shares (QAKIT_CLUSTER=kafka), kept in PostgreSQL: the
lab's stand-wide bugs and a teacher's fault rules (lab/shared.py says which keys and what they
mean; this module knows nothing of the lab).

    service nursery
    └── SharedState.run   the adapter's task (postgres.py), then a round every INTERVAL:
                          the versions of the watched keys; a value whose version moved is read
                          and handed to its key's `apply`, in this task

    lab_state  key text PRIMARY KEY, value jsonb, version bigint, instance text, changed_at

A change (`put`) is written first, its key's version one more than before (the row's lock
orders writers: the last one wins), and applied here once the database has it; every other
instance applies it at its next round: within INTERVAL plus a query, well inside a second.
What a request reads stays in memory (the lab's Bugs and FaultRules): no request waits for the
database, and a change the database refused did not happen anywhere.

Why a poll, not LISTEN/NOTIFY: a round is one indexed query of a few rows, four times a second
per instance; a listening connection would need its own thread blocked in psycopg, a reconnect
and a poll anyway, for what it missed while it was away. The versions make the poll exact: a
round reads a value only when its version is newer than the one applied here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from psycopg.types.json import Jsonb

from qakit_trio import logs
from qakit_trio.adapters.postgres import Cursor, Database
from qakit_trio.errors import StoreError

log = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between rounds: a change elsewhere is applied here within about this
SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS lab_state (
    key text PRIMARY KEY,
    value jsonb,
    version bigint NOT NULL,
    instance text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
)"""
]
PUT = (
    "INSERT INTO lab_state (key, value, version, instance) VALUES (%s, %s, 1, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = lab_state.version + 1, "
    "instance = EXCLUDED.instance, changed_at = now() RETURNING version"
)
# every watched key's version; its value only when the version is not the one known here
ROUND = (
    "SELECT key, version, instance, CASE WHEN version > COALESCE((%s::jsonb ->> key)::bigint, 0) "
    "THEN value END FROM lab_state WHERE key = ANY(%s)"
)

Apply = Callable[[Any, str], None]  # (the value, the instance that set it); ValueError: refused


@dataclass(frozen=True, slots=True)
class Stored:
    key: str
    version: int
    instance: str  # the instance that wrote it
    value: Any  # None when the version is the one known (not read)


def newer(known: Mapping[str, int], rows: Sequence[Stored]) -> list[Stored]:
    """The rows whose version is past the one applied here (a key's versions only grow)."""
    return [row for row in rows if row.version > known.get(row.key, 0)]


class SharedState:
    def __init__(
        self, url: str, *, timeout: float, instance: str, interval: float = INTERVAL
    ) -> None:
        # two connections of its own: the rounds, and a teacher's change
        self._db = Database(url, pool_size=2, timeout=timeout, schema=SCHEMA)
        self.instance = instance
        self._interval = interval
        self._apply: dict[str, Apply] = {}
        self.versions: dict[str, int] = {}  # key -> the version applied here
        self.rounds = 0  # rounds done, for /health and for whoever waits for one
        self._round_done = trio.Event()
        self._failing = False  # the last round failed (logged once per outage)

    def watch(self, key: str, apply: Apply) -> None:
        """Call `apply(value, instance)` for every new value of `key` (before run)."""
        self._apply[key] = apply

    def health(self) -> dict[str, Any]:
        return {**self._db.health(), "rounds": self.rounds, "versions": dict(self.versions)}

    async def put(self, key: str, value: Any) -> None:
        """Write `value` for every instance, then apply it here. StoreError: not written (or,
        its text says, not known whether it was), and not applied."""

        def work(cursor: Cursor) -> int:
            cursor.execute(PUT, (key, Jsonb(value), self.instance))
            row = cursor.fetchone()
            assert row is not None  # (RETURNING gives one row)
            return int(row[0])

        version = await self._db.call(work)
        self._applied(Stored(key, version, self.instance, value))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self._db.run)
            await self._round()  # what the others have set, before this instance serves
            task_status.started()
            while True:
                await trio.sleep(self._interval)
                await self._round()

    async def next_round(self) -> None:
        """Wait until a round ends (the one under way, if any): who waits for another
        instance's change looks again after each one."""
        await self._round_done.wait()

    async def _round(self) -> None:
        keys = sorted(self._apply)

        def work(cursor: Cursor) -> list[Stored]:
            cursor.execute(ROUND, (Jsonb(self.versions), keys))
            return [Stored(row[0], int(row[1]), row[2], row[3]) for row in cursor.fetchall()]

        try:
            rows = await self._db.call(work)
        except StoreError as error:
            if not self._failing:
                log.warning(
                    "shared lab state: not read (trying again every round)",
                    extra={"fields": {"error": str(error)}},
                )
            self._failing = True
        else:
            if self._failing:
                logs.info(log, "shared lab state: read again")
            self._failing = False
            for row in newer(self.versions, rows):
                self._applied(row)
        self.rounds += 1
        self._round_done.set()
        self._round_done = trio.Event()

    def _applied(self, row: Stored) -> None:
        """Apply a new version (an older one than what is applied here is left alone: a round
        that read it before our own put returned)."""
        if row.version <= self.versions.get(row.key, 0):
            return
        self.versions[row.key] = row.version
        try:
            self._apply[row.key](row.value, row.instance)
        except ValueError as error:  # written by a newer or older version of the stand
            log.warning(
                "shared lab state: a value not understood here is left out",
                extra={"fields": {"instance": row.instance, "error": f"{row.key}: {error}"}},
            )
