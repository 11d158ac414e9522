"""The classroom's tables in PostgreSQL (tables.py says what they hold), through the adapter
(adapters/postgres.py): loaded once at start, written at every change, and, in cluster mode,
followed (`follow`: a round of one query when nothing moved). psycopg is only loaded when
DATABASE_URL is set (services.py imports this module then).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import trio

from qakit_trio.adapters.postgres import SCHEMA_LOCK, Cursor, Database
from qakit_trio.classroom.tables import (
    SCHEMA,
    Finding,
    Followed,
    Loaded,
    Marks,
    Person,
    Table,
)

# the roster's table: made by the first round that follows (only cluster mode follows)
PEOPLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lab_people (
    name text PRIMARY KEY,
    role text NOT NULL,
    first_seen double precision NOT NULL,
    last_seen double precision NOT NULL,
    instance text NOT NULL,
    heard timestamptz NOT NULL DEFAULT clock_timestamp()
)"""
# the latest sighting wins the role and the instance; the first stays the first
SEE = """
INSERT INTO lab_people (name, role, first_seen, last_seen, instance) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE SET
    role = CASE WHEN EXCLUDED.last_seen >= lab_people.last_seen
                THEN EXCLUDED.role ELSE lab_people.role END,
    instance = CASE WHEN EXCLUDED.last_seen >= lab_people.last_seen
                    THEN EXCLUDED.instance ELSE lab_people.instance END,
    first_seen = LEAST(lab_people.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(lab_people.last_seen, EXCLUDED.last_seen),
    heard = clock_timestamp()
"""
MARKS = """
SELECT (SELECT md5(coalesce(string_agg(trainee || ':' || array_to_string(bugs, ',') || ':'
                                       || revealed::text, ';' ORDER BY trainee), ''))
        FROM lab_assignments),
       count(*), coalesce(max(id), 0), coalesce(sum(id), 0), now()
FROM lab_findings
"""
FINDINGS = "SELECT id, trainee, at, status, bug, body FROM lab_findings"


class PostgresTables:
    kind = "postgres"

    def __init__(self, url: str, *, timeout: float) -> None:
        # two connections of its own: a teacher's click and a finding at a time
        self._db = Database(url, pool_size=2, timeout=timeout, schema=SCHEMA)
        # A round reads the people heard of since the last round's clock, less this much: a
        # sighting committed late (its transaction took up to the timeout) is still read.
        self._overlap = timedelta(seconds=timeout + 1.0)
        self._people_table = False  # made by the first round that follows

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._db.run(task_status=task_status)

    def health(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._db.health()}

    async def load(self) -> Loaded:
        def work(cursor: Cursor) -> Loaded:
            table, revealed = _assignments(cursor)
            cursor.execute(f"{FINDINGS} ORDER BY id")
            return Loaded(table, revealed, _findings(cursor))

        return await self._db.call(work)

    async def save_assignments(self, table: Table, revealed: set[str]) -> None:
        def work(cursor: Cursor) -> None:  # one transaction: the whole table or nothing
            cursor.execute("DELETE FROM lab_assignments")
            for trainee, bugs in table.items():
                cursor.execute(
                    "INSERT INTO lab_assignments (trainee, bugs, revealed) VALUES (%s, %s, %s)",
                    (trainee, list(bugs), trainee in revealed),
                )

        await self._db.call(work)

    async def add_finding(
        self, trainee: str | None, at: datetime, status: str, bug: str | None, body: dict[str, Any]
    ) -> Finding:
        def work(cursor: Cursor) -> Finding:
            cursor.execute(
                "INSERT INTO lab_findings (trainee, at, status, bug, body) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (trainee, at, status, bug, json.dumps(body, ensure_ascii=False)),
            )
            row = cursor.fetchone()
            assert row is not None  # (RETURNING gives one row)
            return Finding(int(row[0]), trainee, at, status, bug, body)

        return await self._db.call(work)

    async def clear_findings(self) -> None:
        def work(cursor: Cursor) -> None:
            cursor.execute("DELETE FROM lab_findings")

        await self._db.call(work)

    async def follow(
        self,
        since: Marks | None,
        known: frozenset[int],
        seen: list[Person],
        heard_after: datetime | None,
    ) -> Followed:
        """One round, one transaction: write `seen`, then the marks; what moved since `since`
        (None: everything); the people heard of since `heard_after` (None: all). The marks are
        read before what they cover: what is read is never older than its mark."""
        made = self._people_table

        def work(cursor: Cursor) -> Followed:
            if not made:  # taking turns with every other instance's first round
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                cursor.execute(PEOPLE_SCHEMA)
            if seen:
                cursor.executemany(SEE, seen)
            cursor.execute(MARKS)
            row = cursor.fetchone()
            assert row is not None  # (an aggregate gives one row)
            marks = Marks(row[0], (int(row[1]), int(row[2]), int(row[3])))
            followed = Followed(marks, heard_at=row[4])
            if since is None or marks.assignments != since.assignments:
                followed.assignments = _assignments(cursor)
            if since is None or marks.findings != since.findings:
                cursor.execute("SELECT id FROM lab_findings")
                ids = frozenset(int(found[0]) for found in cursor.fetchall())
                followed.finding_ids = ids
                if new := sorted(ids - known):
                    cursor.execute(f"{FINDINGS} WHERE id = ANY(%s) ORDER BY id", (new,))
                    followed.new_findings = _findings(cursor)
            after = None if heard_after is None else heard_after - self._overlap
            cursor.execute(
                "SELECT name, role, first_seen, last_seen, instance FROM lab_people "
                "WHERE %s::timestamptz IS NULL OR heard > %s",
                (after, after),
            )
            followed.people = [
                (str(p[0]), str(p[1]), float(p[2]), float(p[3]), str(p[4]))
                for p in cursor.fetchall()
            ]
            return followed

        followed = await self._db.call(work)
        self._people_table = True
        return followed


def _assignments(cursor: Cursor) -> tuple[Table, set[str]]:
    cursor.execute("SELECT trainee, bugs, revealed FROM lab_assignments ORDER BY trainee")
    table: Table = {}
    revealed: set[str] = set()
    for trainee, bugs, shown in cursor.fetchall():
        table[trainee] = tuple(bugs)
        if shown:
            revealed.add(trainee)
    return table, revealed


def _findings(cursor: Cursor) -> list[Finding]:
    return [
        Finding(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
        for row in cursor.fetchall()
    ]
