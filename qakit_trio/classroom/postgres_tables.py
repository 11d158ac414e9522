"""The classroom's tables in PostgreSQL (tables.py says what they hold), through the adapter
(adapters/postgres.py): loaded once at start, written at every change. psycopg is only loaded
when DATABASE_URL is set (services.py imports this module then).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import trio

from qakit_trio.adapters.postgres import Cursor, Database
from qakit_trio.classroom.tables import SCHEMA, Finding, Loaded, Table


class PostgresTables:
    kind = "postgres"

    def __init__(self, url: str, *, timeout: float) -> None:
        # two connections of its own: a teacher's click and a finding at a time
        self._db = Database(url, pool_size=2, timeout=timeout, schema=SCHEMA)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._db.run(task_status=task_status)

    def health(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._db.health()}

    async def load(self) -> Loaded:
        def work(cursor: Cursor) -> Loaded:
            cursor.execute("SELECT trainee, bugs, revealed FROM lab_assignments ORDER BY trainee")
            table: Table = {}
            revealed: set[str] = set()
            for trainee, bugs, shown in cursor.fetchall():
                table[trainee] = tuple(bugs)
                if shown:
                    revealed.add(trainee)
            cursor.execute(
                "SELECT id, trainee, at, status, bug, body FROM lab_findings ORDER BY id"
            )
            findings = [
                Finding(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
                for row in cursor.fetchall()
            ]
            return Loaded(table, revealed, findings)

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
