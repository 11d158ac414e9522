"""The classroom's state: who has signed in (the roster), who has which bugs (the assignments,
read by the lab stage per request: lab/lab.py), whose were revealed, and the findings.

    service nursery
    └── Classroom.run   its tables' task (PostgreSQL: the adapter), then loads what was kept;
                        while the database is down it tries again every LOAD_RETRY seconds;
                        with `follow` (QAKIT_CLUSTER=kafka), then a round every FOLLOW_INTERVAL

Every change is written to the tables first (tables.py) and then made in memory, so what the
lab reads never waits for the database, and a change the database refused did not happen.
Changes (and the load) take a lock, one at a time: a reveal never writes a table an assignment
is replacing, and a load never overwrites a change made while it ran.
The roster is in memory (roster.py): who has been seen since the start (a token survives a
restart; its bearer is seen again at their next request).

Several instances (QAKIT_CLUSTER=kafka, `follow`) share the tables: each round (`follow_once`)
asks them what moved since the last round (tables.py, one query when nothing did) and takes in
what another instance changed: the assignments, the findings, the roster. A change made on one
instance is in every instance's memory within FOLLOW_INTERVAL and a query: within a second.
A round takes the same lock as a change, so it never undoes one made here meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.auth.users import RESERVED, User
from qakit_trio.classroom.roster import Roster, Seen
from qakit_trio.classroom.tables import Finding, Marks, Table, Tables
from qakit_trio.errors import StoreError

log = logging.getLogger(__name__)

LOAD_RETRY = 2.0  # seconds between attempts to load the tables while the database is down
FOLLOW_INTERVAL = 0.25  # seconds between rounds (`follow`): what the others changed, here
MAX_FINDINGS_EACH = 200  # findings kept per trainee: a grade needs a few, not thousands
MAX_FINDINGS = 5_000  # and in all: with their replies (4 KiB each, two), at most 40 MB
Connection = tuple[str, float, str]  # a live connection of a user: (user, seconds idle, instance)


@dataclass(slots=True)
class Classroom:
    tables: Tables
    follow: bool = False  # QAKIT_CLUSTER=kafka: other instances write the same tables
    instance: str = ""  # this instance's name (settings.instance_id): the roster tells it
    # trainee -> their bugs: the lab reads this very dict (lab/lab.py `Lab.assigned`)
    table: dict[str, tuple[str, ...]] = field(default_factory=dict)
    revealed: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    roster: Roster = field(init=False)
    loaded: trio.Event = field(default_factory=trio.Event)
    rounds: int = 0  # follow rounds done (each one's end sets and replaces `round_done`)
    round_done: trio.Event = field(default_factory=trio.Event)
    _by_trainee: dict[str | None, list[Finding]] = field(default_factory=dict)
    _changing: trio.Lock = field(default_factory=trio.Lock)
    _marks: Marks | None = None  # the tables' marks at the last round (None: none yet)
    _heard_at: datetime | None = None  # the database's clock at the last round
    _failing: bool = False  # the last round failed (logged once per outage)

    def __post_init__(self) -> None:
        self.roster = Roster(self.instance)

    @property
    def people(self) -> dict[str, Seen]:
        return self.roster.people

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
            while self.follow:
                await self.follow_once()
                await trio.sleep(FOLLOW_INTERVAL)

    async def follow_once(self) -> None:
        """One round: tell the others who was seen here, take in what they changed. A failed
        round is logged (once per outage) and the next one tries again."""
        try:
            async with self._changing:
                news = self.roster.news()
                known = frozenset(finding.id for finding in self.findings)
                followed = await self.tables.follow(self._marks, known, news, self._heard_at)
                self.roster.told(news)
                if followed.assignments is not None:
                    table, revealed = followed.assignments
                    if table != self.table or revealed != self.revealed:
                        self._replace(table, revealed)
                        log.warning(
                            "lab assignments changed on another instance",
                            extra={"fields": {"trainees": len(table)}},
                        )
                if followed.finding_ids is not None:
                    self._keep_findings(
                        merged(self.findings, followed.finding_ids, followed.new_findings)
                    )
                self.roster.heard(followed.people)
                self._marks, self._heard_at = followed.marks, followed.heard_at
        except StoreError as error:
            if not self._failing:
                log.warning(
                    "classroom tables not followed: trying again every round",
                    extra={"fields": {"error": str(error)}},
                )
            self._failing = True
        else:
            if self._failing:
                logs.info(log, "classroom tables followed again")
            self._failing = False
        self.rounds += 1
        self.round_done.set()
        self.round_done = trio.Event()

    # --- the roster -----------------------------------------------------------------------

    def saw(self, user: User, wall: float) -> None:
        """`user` took a token or made a request now (wall-clock seconds)."""
        self.roster.saw(user.name, user.role, wall)

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

    def board(
        self, connections: Iterable[Connection], wall: float, here: str
    ) -> list[dict[str, Any]]:
        """The teacher's board: one row per trainee. `connections`: every live connection of a
        user, on this instance (`here`) and, in cluster mode, the others. A row's `instance` is
        where the trainee is: their least idle connection's instance, else where they were seen
        last (None: given bugs, never seen); `instances`, every instance they are connected to."""
        live: dict[str, list[tuple[float, str]]] = {}
        for user, idle, instance in connections:
            live.setdefault(user, []).append((idle, instance))
        teachers = {name for name, person in self.people.items() if person.role == "teacher"}
        teachers |= {name for name in live if name.casefold() in RESERVED}
        names = sorted((set(self.people) | set(self.table) | set(live)) - teachers)
        rows = []
        for name in names:
            person = self.people.get(name)
            connected = sorted(live.get(name, []))
            idles = [idle for idle, _ in connected]
            idles_seen = [wall - person.last] if person is not None else []
            seen_at = None if person is None else person.instance or here
            where = connected[0][1] if connected else seen_at
            bugs = list(self.table.get(name, ()))
            found = self.found(name)
            mine = self.mine(name)
            rows.append(
                {
                    "name": name,
                    "role": "trainee" if person is None else person.role,
                    "signed_in": person is not None,
                    "instance": where,
                    "instances": sorted({instance for _, instance in connected}),
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


def merged(findings: list[Finding], ids: frozenset[int], new: list[Finding]) -> list[Finding]:
    """The findings known here that the tables still hold (`ids`: a clear took the others),
    with `new` ones (another instance's) in their place: by id, the order they were kept in."""
    kept = {finding.id: finding for finding in findings if finding.id in ids}
    kept.update((finding.id, finding) for finding in new)
    return [kept[finding_id] for finding_id in sorted(kept)]
