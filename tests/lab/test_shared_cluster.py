"""Two stands of the kit in cluster mode (QAKIT_CLUSTER=kafka: one PostgreSQL database, one
Kafka bus) in one trio run, wired by services.py as every instance is: a teacher's change of the
stand-wide bugs, the fault rules, the assignments or a finding made through one stand acts on
the other within a second, and the board of each shows the trainee connected to the other."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from qakit_trio.testing import Stand, open_stand

from ..support.class_auth import AUTH, CODE, SECRET, TEACHER, bearer
from ..support.timeouts import SERVICE_TIMEOUT
from .test_shared import RULES, WITHIN


@asynccontextmanager
async def cluster_stand(
    name: str, database_url: str, kafka_bootstrap: str, topic: str
) -> AsyncIterator[Stand]:
    settings = {
        **AUTH,
        "QAKIT_JWT_SECRET": SECRET,  # a token of one instance is good on the other
        "QAKIT_CLUSTER": "kafka",
        "QAKIT_INSTANCE_ID": name,
        "QAKIT_CLUSTER_TOPIC": topic,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    async with open_stand(settings) as stand:
        await stand.app.services.classroom.loaded.wait()
        yield stand


async def call(stand: Stand, method: str, path: str, body: Any = None, token: str = TEACHER) -> Any:
    status, answer = await stand.request(method, path, json=body, headers=bearer(token))
    assert status in (200, 201), (method, path, status, answer)
    return answer


async def within_a_second(stand: Stand, done: Callable[[], Any]) -> None:
    """`await done()` holds on `stand` within WITHIN, looked at after each round of its
    classroom (which runs with its shared lab state's, four a second)."""
    with trio.fail_after(WITHIN):
        while not await done():
            await stand.app.services.classroom.round_done.wait()


async def test_a_teachers_change_through_one_instance_acts_on_the_other(
    database_url: str, kafka_bootstrap: str
) -> None:
    topic = f"bus_{uuid.uuid4().hex[:10]}"
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            cluster_stand("qakit-a", database_url, kafka_bootstrap, topic) as a,
            cluster_stand("qakit-b", database_url, kafka_bootstrap, topic) as b,
        ):
            ivan = (await call(a, "POST", "/auth/token", {"name": "ivan", "class_code": CODE}))[
                "token"
            ]
            bugs = await call(a, "PUT", "/lab/bugs", {"enabled": ["stale_stats"]})

            async def b_has_the_bugs() -> bool:
                return bool(await call(b, "GET", "/lab/bugs") == bugs)

            await within_a_second(b, b_has_the_bugs)
            await call(b, "PUT", "/lab/faults", RULES)

            async def a_has_the_rules() -> bool:
                return bool(await call(a, "GET", "/lab/faults") == RULES)

            await within_a_second(a, a_has_the_rules)

            async def b_knows_ivan() -> bool:  # he took his token on a
                return "ivan" in b.app.services.classroom.trainees()

            await within_a_second(b, b_knows_ivan)
            table = {"assignments": {"ivan": ["duplicate_event"]}}
            await call(b, "PUT", "/lab/assignments", table)

            async def a_has_the_table() -> bool:
                return bool((await call(a, "GET", "/lab/assignments"))["assignments"])

            await within_a_second(a, a_has_the_table)
            async with a.connect("/ws", bearer(ivan)) as ws:  # ivan is on a
                await ws.receive_json()

                async def b_shows_ivan_on_a() -> bool:
                    board = await call(b, "GET", "/lab/classroom")
                    rows = {row["name"]: row for row in board["people"]}
                    return "ivan" in rows and rows["ivan"]["instance"] == "qakit-a"

                with trio.fail_after(SERVICE_TIMEOUT):  # (the bus's heartbeat, not ours)
                    while not await b_shows_ivan_on_a():
                        await b.app.services.classroom.round_done.wait()
