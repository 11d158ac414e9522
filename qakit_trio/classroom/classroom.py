"""The classroom's state: who has signed in (the roster), who has which bugs (the assignments,
read by the lab stage per request: lab/lab.py), whose were revealed, and the findings.

    service nursery
    └── Classroom.run   its tables' task (PostgreSQL: the adapter), then loads what was kept;
                        while the database is down it tries again every LOAD_RETRY seconds

Every change is written to the tables first (tables.py) and then made in memory, so what the
lab reads never waits for the database, and a change the database refused did not happen.
Changes (and the load) take a lock, one at a time: a reveal never writes a table an assignment
is replacing, and a load never overwrites a change made while it ran.
The roster is in memory only: it is who has been seen since the start (a token survives a
restart; its bearer is seen again at their next request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.auth.users import User
from qakit_trio.classroom.tables import Finding, Table, Tables
from qakit_trio.errors import StoreError

log = logging.getLogger(__name__)

LOAD_RETRY = 2.0  # seconds between attempts to load the tables while the database is down
MAX_PEOPLE = 1_000  # the roster's size (a class is thirty); past it, the longest-idle goes
MAX_FINDINGS_EACH = 200  # findings kept per trainee: a grade needs a few, not thousands
MAX_FINDINGS = 5_000  # and in all: with their replies (4 KiB each, two), at most 40 MB


@dataclass(slots=True)
class Seen:
    name: str
    role: str
    first: float  # wall-clock seconds: when they were first seen (a time users see)
    last: float  # and last


@dataclass(slots=True)
class Classroom:
    tables: Tables
    # trainee -> their bugs: the lab reads this very dict (lab/lab.py `Lab.assigned`)
    table: dict[str, tuple[str, ...]] = field(default_factory=dict)
    revealed: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    people: dict[str, Seen] = field(default_factory=dict)
    loaded: trio.Event = field(default_factory=trio.Event)
    _by_trainee: dict[str | None, list[Finding]] = field(default_factory=dict)
    _changing: trio.Lock = field(default_factory=trio.Lock)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.tables.run)
            task_status.started()  # ready: until loaded, the tables answer from memory
            while not self.loaded.is_set():
                try:
                    async with self._changing:
                        kept = await self.tables.load()
                        self._replace(kept.table, kept.revealed)
                        self._keep_findings(kept.findings)
                except StoreError as error:
                    log.warning(
                        "classroom tables not loaded yet: trying again",
                        extra={"fields": {"error": str(error), "retry_s": LOAD_RETRY}},
                    )
                    await trio.sleep(LOAD_RETRY)
                    continue
                self.loaded.set()
                logs.info(
                    log,
                    "classroom tables loaded",
                    store=self.tables.kind,
                    trainees=len(self.table),
                    findings=len(self.findings),
                )

    # --- the roster -----------------------------------------------------------------------

    def saw(self, user: User, wall: float) -> None:
        """`user` took a token or made a request now (wall-clock seconds)."""
        seen = self.people.get(user.name)
        if seen is None:
            if len(self.people) >= MAX_PEOPLE:
                idlest = min(self.people.values(), key=lambda person: person.last)
                del self.people[idlest.name]
            self.people[user.name] = Seen(user.name, user.role, wall, wall)
            return
        seen.last = wall
        seen.role = user.role

    def trainees(self) -> set[str]:
        """Everyone known as a trainee: seen with a trainee's token, or given bugs before."""
        seen = {name for name, person in self.people.items() if person.role != "teacher"}
        return seen | set(self.table)

    # --- assignments ----------------------------------------------------------------------

    async def assign(self, table: Table) -> None:
        """Replace the whole table (nobody's bugs revealed any more)."""
        async with self._changing:
            await self.tables.save_assignments(table, set())
            self._replace(table, set())

    async def reveal(self, name: str) -> bool:
        """Show `name` their bugs on /me; False when they have none."""
        async with self._changing:
            if name not in self.table:
                return False
            revealed = self.revealed | {name}
            await self.tables.save_assignments(dict(self.table), revealed)
            self.revealed = revealed
            return True

    def _replace(self, table: Table, revealed: set[str]) -> None:
        self.table.clear()  # the same dict: the lab reads it
        self.table.update(table)
        self.revealed = revealed

    # --- findings -------------------------------------------------------------------------

    def mine(self, trainee: str | None) -> list[Finding]:
        return self._by_trainee.get(trainee, [])

    def _keep_findings(self, findings: list[Finding]) -> None:
        self.findings = findings
        self._by_trainee = {}
        for finding in findings:
            self._by_trainee.setdefault(finding.trainee, []).append(finding)

    def room_for(self, trainee: str | None) -> str | None:
        """Why no finding of `trainee`'s can be kept now (None: there is room)."""
        if len(self.findings) >= MAX_FINDINGS:
            return f"the stand keeps at most {MAX_FINDINGS} findings: the teacher may clear them"
        if len(self.mine(trainee)) >= MAX_FINDINGS_EACH:
            return f"you have {MAX_FINDINGS_EACH} findings already: that is the most kept"
        return None

    async def add_finding(
        self, trainee: str | None, status: str, bug: str | None, body: dict[str, Any]
    ) -> Finding:
        async with self._changing:
            at = datetime.now(UTC)
            finding = await self.tables.add_finding(trainee, at, status, bug, body)
            self.findings.append(finding)
            self._by_trainee.setdefault(trainee, []).append(finding)
            return finding

    async def clear_findings(self) -> None:
        """Every finding gone (a new class, a new term)."""
        async with self._changing:
            await self.tables.clear_findings()
            self._keep_findings([])

    def found(self, trainee: str) -> list[str]:
        """The bugs `trainee` has proved (confirmed findings), in the order found."""
        names: list[str] = []
        for finding in self.mine(trainee):
            if finding.status != "confirmed" or not finding.bug:
                continue
            for name in finding.bug.split("+"):  # (bugs that change a reply only together)
                if name not in names:
                    names.append(name)
        return names

    def shown_to(self, trainee: str) -> list[str]:
        """What /me may name of a trainee's bugs: all once revealed, else those they found."""
        bugs = self.table.get(trainee, ())
        if trainee in self.revealed:
            return list(bugs)
        found = set(self.found(trainee))
        return [bug for bug in bugs if bug in found]

    def board(self, connections: Iterable[tuple[str, float]], wall: float) -> list[dict[str, Any]]:
        """The teacher's board: one row per trainee (connections: (user, seconds idle) each)."""
        live: dict[str, list[float]] = {}
        for user, idle in connections:
            live.setdefault(user, []).append(idle)
        teachers = {name for name, person in self.people.items() if person.role == "teacher"}
        names = sorted((set(self.people) | set(self.table) | set(live)) - teachers)
        rows = []
        for name in names:
            person = self.people.get(name)
            idles = live.get(name, [])
            idles_seen = [wall - person.last] if person is not None else []
            bugs = list(self.table.get(name, ()))
            found = self.found(name)
            mine = self.mine(name)
            rows.append(
                {
                    "name": name,
                    "role": "trainee" if person is None else person.role,
                    "signed_in": person is not None,
                    "connections": len(idles),
                    "idle_s": round(min([*idles_seen, *idles]), 1) if idles_seen or idles else None,
                    "bugs": bugs,
                    "revealed": name in self.revealed,
                    "found": found,
                    "findings": [finding.summary() for finding in mine[-20:]],
                    "confirmed": sum(1 for finding in mine if finding.status == "confirmed"),
                    "not_reproduced": sum(
                        1 for finding in mine if finding.status == "not_reproduced"
                    ),
                    "progress": f"{len([bug for bug in found if bug in bugs])}/{len(bugs)}",
                }
            )
        return rows
