"""Where the classroom keeps what must survive a restart: the assignments (who has which bugs,
whose were revealed) and the findings. In memory, or, with DATABASE_URL, in PostgreSQL through
the adapter (adapters/postgres.py; postgres_tables.py), in two tables of their own, created like
`orders`:

    lab_assignments  trainee text PRIMARY KEY, bugs text[], revealed boolean
    lab_findings     id bigserial PRIMARY KEY, trainee text, at timestamptz, status text,
                     bug text, body text (the rest of the finding, as JSON)

What the stand reads per request (lab/lab.py) is never read from here: classroom.py keeps it in
memory, loads it at start and writes every change here first.

Several instances (QAKIT_CLUSTER=kafka) share the tables, and each follows what the others write
(classroom.py `follow`): a round (`Tables.follow`) compares the tables' marks, a digest of the
assignments and (count, largest id, sum of ids) of the findings, which are only ever added or
cleared all at once, with the last round's; reads again what moved; and shares the roster, in a
third table made by the first round (postgres_tables.py):

    lab_people       name text PRIMARY KEY, role text, first_seen, last_seen (wall-clock
                     seconds), instance text (where last seen), heard timestamptz
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import trio

Table = dict[str, tuple[str, ...]]
# a person of the roster as the tables share it: (name, role, first seen, last seen, instance),
# the times in wall-clock seconds
Person = tuple[str, str, float, float, str]

SCHEMA = [  # (postgres_tables.py runs it)
    """
CREATE TABLE IF NOT EXISTS lab_assignments (
    trainee text PRIMARY KEY,
    bugs text[] NOT NULL,
    revealed boolean NOT NULL DEFAULT false
)""",
    """
CREATE TABLE IF NOT EXISTS lab_findings (
    id bigserial PRIMARY KEY,
    trainee text,
    at timestamptz NOT NULL,
    status text NOT NULL,
    bug text,
    body text NOT NULL
)""",
]


@dataclass(frozen=True, slots=True)
class Finding:
    id: int
    trainee: str | None  # None: QAKIT_AUTH=off (everyone is anonymous)
    at: datetime  # when it was judged (wall clock: a time users see)
    status: str  # confirmed | not_reproduced
    bug: str | None  # confirmed: the bug that changed the reply
    body: dict[str, Any]  # wrong, expected, actual, clean, buggy, detail, steps (a count)

    def summary(self) -> dict[str, Any]:
        """What the teacher's board shows of it (not the replies: they may be long)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "status": self.status,
            "bug": self.bug,
            "wrong": self.body.get("wrong"),
        }

    def without_replies(self) -> dict[str, Any]:
        """The finding, its `clean` and `buggy` replies left out (every finding at once)."""
        whole = self.as_json()
        return {key: value for key, value in whole.items() if key not in ("clean", "buggy")}

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.bug is not None:
            answer["bug"] = self.bug
        return {**answer, "trainee": self.trainee, "at": self.at.isoformat(), **self.body}


@dataclass(slots=True)
class Loaded:
    table: Table
    revealed: set[str]
    findings: list[Finding]


@dataclass(frozen=True, slots=True)
class Marks:
    """What moves when the tables change, compared from round to round (never read whole)."""

    assignments: str = ""  # a digest of every row
    findings: tuple[int, int, int] = (0, 0, 0)  # count, largest id, sum of ids


@dataclass(slots=True)
class Followed:
    """One round of following the tables (classroom.py `Classroom.follow_once`)."""

    marks: Marks
    assignments: tuple[Table, set[str]] | None = None  # the whole table, when its mark moved
    finding_ids: frozenset[int] | None = None  # every finding's id, when their mark moved
    new_findings: list[Finding] = field(default_factory=list)  # of those, the ones not known
    people: list[Person] = field(default_factory=list)  # heard of since the last round
    heard_at: datetime | None = None  # the database's clock at this round: the next's `since`


class Tables(Protocol):
    kind: str

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def load(self) -> Loaded: ...

    async def save_assignments(self, table: Table, revealed: set[str]) -> None: ...

    async def add_finding(
        self, trainee: str | None, at: datetime, status: str, bug: str | None, body: dict[str, Any]
    ) -> Finding: ...

    async def clear_findings(self) -> None: ...

    async def follow(
        self,
        since: Marks | None,
        known: frozenset[int],
        seen: list[Person],
        heard_after: datetime | None,
    ) -> Followed: ...


class MemoryTables:
    """Nothing kept across a restart (as the in-memory order store)."""

    kind = "memory"

    def __init__(self) -> None:
        self._next_id = 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def health(self) -> dict[str, Any]:
        return {"kind": self.kind, "state": "up"}

    async def load(self) -> Loaded:
        await trio.lowlevel.checkpoint()
        return Loaded({}, set(), [])

    async def save_assignments(self, table: Table, revealed: set[str]) -> None:
        await trio.lowlevel.checkpoint()

    async def add_finding(
        self, trainee: str | None, at: datetime, status: str, bug: str | None, body: dict[str, Any]
    ) -> Finding:
        await trio.lowlevel.checkpoint()
        finding = Finding(self._next_id, trainee, at, status, bug, body)
        self._next_id += 1
        return finding

    async def clear_findings(self) -> None:
        await trio.lowlevel.checkpoint()

    async def follow(
        self,
        since: Marks | None,
        known: frozenset[int],
        seen: list[Person],
        heard_after: datetime | None,
    ) -> Followed:
        """Nothing to follow: no other instance writes here."""
        await trio.lowlevel.checkpoint()
        return Followed(since or Marks())
