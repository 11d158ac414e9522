"""Two instances' classrooms over one real PostgreSQL database in one trio run (QAKIT_CLUSTER=
kafka: each follows the tables, classroom.py `follow`): assignments, reveals, findings, a clear
and the roster made on one are in the other's memory within a second, where its lab and its
routes read them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from qakit_trio.auth.users import User
from qakit_trio.classroom.classroom import Classroom
from qakit_trio.classroom.postgres_tables import PostgresTables

from ..support.timeouts import TIMEOUT

pytestmark = pytest.mark.system  # a PostgreSQL server

WITHIN = 1.0  # the promise: a change on one instance acts on all within a second
IVAN, MARIA, TEACHER = User("ivan", "trainee"), User("maria", "trainee"), User("teacher", "teacher")


@asynccontextmanager
async def classroom_on(url: str, instance: str) -> AsyncIterator[Classroom]:
    classroom = Classroom(PostgresTables(url, timeout=5.0), instance=instance, follow=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(classroom.run)
        await classroom.loaded.wait()
        yield classroom
        nursery.cancel_scope.cancel()


async def within_a_second(at: Classroom, done: Callable[[], bool]) -> None:
    """`done()` holds at `at` within WITHIN of now, looked at after each of its rounds."""
    with trio.fail_after(WITHIN):
        while not done():
            await at.round_done.wait()


async def test_the_roster_and_the_assignments_of_one_are_the_others(database_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with classroom_on(database_url, "a") as a, classroom_on(database_url, "b") as b:
            lab_reads = b.table  # the dict the lab stage reads (lab/lab.py Lab.assigned)
            a.saw(IVAN, 1000.0)  # ivan took a token on instance a
            a.saw(TEACHER, 1000.0)
            b.saw(MARIA, 1001.0)
            await within_a_second(b, lambda: b.trainees() == {"ivan", "maria"})
            await within_a_second(a, lambda: a.trainees() == {"ivan", "maria"})
            assert (b.people["ivan"].instance, a.people["maria"].instance) == ("a", "b")
            assert a.people["ivan"].instance is None  # seen here

            await b.assign({"ivan": ("stale_stats", "duplicate_event"), "maria": ("lost_update",)})
            await within_a_second(a, lambda: a.table.get("maria") == ("lost_update",))
            assert a.table["ivan"] == ("stale_stats", "duplicate_event")
            await a.reveal("maria")
            await within_a_second(b, lambda: b.revealed == {"maria"})
            assert b.shown_to("maria") == ["lost_update"]
            await a.assign({})
            await within_a_second(b, lambda: not b.table)
            assert b.table is lab_reads  # replaced in place: the lab never holds a stale dict


async def test_findings_added_and_cleared_on_one_are_the_others(database_url: str) -> None:
    body = {"wrong": {"step": 1, "frame": 4}, "expected": "one event", "steps": 1}
    with trio.fail_after(TIMEOUT):
        async with classroom_on(database_url, "a") as a, classroom_on(database_url, "b") as b:
            await b.assign({"ivan": ("duplicate_event",)})
            first = await a.add_finding("ivan", "confirmed", "duplicate_event", body)
            await within_a_second(b, lambda: len(b.findings) == 1)
            assert b.findings == [first]
            assert b.found("ivan") == ["duplicate_event"]
            assert b.shown_to("ivan") == ["duplicate_event"]  # found: /me may name it there too
            second = await b.add_finding("maria", "not_reproduced", None, body)
            await within_a_second(a, lambda: len(a.findings) == 2)
            assert a.findings == b.findings == [first, second]
            assert [f.id for f in a.mine("maria")] == [second.id]

            await a.clear_findings()
            await within_a_second(b, lambda: not b.findings)
            assert b.mine("ivan") == []
            third = await b.add_finding("ivan", "confirmed", "duplicate_event", body)
            await within_a_second(a, lambda: a.findings == [third])
