"""The classroom survives a restart on a real PostgreSQL (classroom/postgres_tables.py): the
assignments (and whose were revealed) and the findings are read back by a new stand on the same
database, which gives each trainee their bugs again; a stand started while the database is down
serves at once and loads them once it is up. The kit, with DATABASE_URL: the real adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from qakit_trio.testing import Stand, StandClient, open_stand

from ..support import pg
from ..support.class_auth import AUTH as CLASS
from ..support.class_auth import CODE, SECRET, TEACHER, bearer
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT

pytestmark = pytest.mark.system  # a PostgreSQL server

AUTH = {**CLASS, "QAKIT_JWT_SECRET": SECRET}  # tokens outlive the restart
ECHO = {"conn": "a", "path": "/ws", "send": {"action": "echo", "request_id": "r"}}
DUPLICATE = {"steps": [ECHO], "wrong": {"step": 1, "frame": 4}, "expected": "one event"}
ACK = {"steps": [ECHO], "wrong": {"step": 1, "frame": 1}, "actual": "an ack"}
TABLE = {"ivan": ["duplicate_event", "stale_stats"], "maria": ["lost_update"]}


@asynccontextmanager
async def stand_on(url: str, *, loaded: bool = True) -> AsyncIterator[Stand]:
    """A stand on the database at `url`; with `loaded`, once it has read the classroom."""
    async with open_stand({**AUTH, "DATABASE_URL": url, "QAKIT_DB_TIMEOUT": "2"}) as stand:
        if loaded:
            await stand.app.services.classroom.loaded.wait()
        yield stand


async def call(stand: Stand, method: str, path: str, token: str = TEACHER, body: Any = None) -> Any:
    status, answer = await stand.request(method, path, json=body, headers=bearer(token))
    assert status in (200, 201), (method, path, status, answer)
    return answer


async def events_of_an_echo(ws: StandClient) -> int:
    """The event frames one echo gets (the next echo's ack ends the count)."""
    await ws.send_json({"action": "echo", "request_id": "one"})
    await ws.send_json({"action": "echo", "request_id": "two"})
    count = 0
    while (frame := await ws.receive_json())["request_id"] == "one":
        count += frame["type"] == "event"
    return count


async def test_assignments_and_findings_survive_a_restart(database_url: str) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with stand_on(database_url) as first:
            people = {}
            for name in ("ivan", "maria"):
                answer = await call(
                    first, "POST", "/auth/token", TEACHER, {"name": name, "class_code": CODE}
                )
                people[name] = answer["token"]
            await call(first, "PUT", "/lab/assignments", body={"assignments": TABLE})
            await call(first, "POST", "/lab/assignments/maria/reveal")
            confirmed = await call(first, "POST", "/lab/findings", people["ivan"], DUPLICATE)
            reproduced = await call(first, "POST", "/lab/findings", people["maria"], ACK)
            assert (confirmed["status"], reproduced["status"]) == ("confirmed", "not_reproduced")
            before = {
                "assignments": await call(first, "GET", "/lab/assignments"),
                "findings": await call(first, "GET", "/lab/findings"),
                "ivan": await call(first, "GET", "/lab/findings/mine", people["ivan"]),
                "maria": await call(first, "GET", "/lab/findings/mine", people["maria"]),
            }
        assert before["assignments"] == {"assignments": TABLE, "revealed": ["maria"]}
        assert [f["id"] for f in before["findings"]["findings"]] == [
            confirmed["id"],
            reproduced["id"],
        ]

        async with stand_on(database_url) as second:
            after = {
                "assignments": await call(second, "GET", "/lab/assignments"),
                "findings": await call(second, "GET", "/lab/findings"),
                "ivan": await call(second, "GET", "/lab/findings/mine", people["ivan"]),
                "maria": await call(second, "GET", "/lab/findings/mine", people["maria"]),
            }
            assert after == before
            assert after["ivan"]["bugs"] == ["duplicate_event"]  # found: stale_stats still not
            assert after["maria"]["bugs"] == ["lost_update"]  # revealed
            # the new stand gives ivan his bugs again, and maria none of his
            async with (
                second.connect("/ws", bearer(people["ivan"])) as ivan,
                second.connect("/ws", bearer(people["maria"])) as maria,
            ):
                await ivan.receive_json()
                await maria.receive_json()
                assert (await events_of_an_echo(ivan), await events_of_an_echo(maria)) == (2, 1)
            again = await call(second, "POST", "/lab/findings", people["ivan"], DUPLICATE)
            assert (again["status"], again["id"] > reproduced["id"]) == ("confirmed", True)
            kept = await call(second, "GET", "/lab/classroom")
            assert kept["tables"]["kind"] == "postgres"


async def test_a_stand_started_while_the_database_is_down_loads_it_later(
    own_cluster: pg.Cluster,
) -> None:
    url = own_cluster.url()
    with trio.fail_after(SERVICE_TIMEOUT):
        async with stand_on(url) as first:
            await call(first, "POST", "/auth/token", TEACHER, {"name": "ivan", "class_code": CODE})
            await call(
                first, "PUT", "/lab/assignments", body={"assignments": {"ivan": ["stale_stats"]}}
            )
        await trio.to_thread.run_sync(own_cluster.stop)
        async with stand_on(url, loaded=False) as second:
            classroom = second.app.services.classroom
            with trio.fail_after(TIMEOUT):  # it serves at once, from memory
                assert (await second.request("GET", "/health"))[0] in (200, 503)
                assert await call(second, "GET", "/lab/assignments") == {
                    "assignments": {},
                    "revealed": [],
                }
                status, refused = await second.request(
                    "DELETE", "/lab/assignments", headers=bearer(TEACHER)
                )
                assert (status, refused["detail"][:10]) == (503, "not saved:")
                async with second.connect("/ws", bearer(TEACHER)) as ws:
                    await ws.receive_json()
                    await ws.send_json({"action": "echo", "request_id": "up"})
                    assert (await ws.receive_json())["type"] == "ack"
            assert not classroom.loaded.is_set()
            await trio.to_thread.run_sync(own_cluster.start)
            await classroom.loaded.wait()  # its next attempt (every LOAD_RETRY seconds)
            assert await call(second, "GET", "/lab/assignments") == {
                "assignments": {"ivan": ["stale_stats"]},
                "revealed": [],
            }
            assert second.app.services.lab.on  # the lab reads what was loaded
