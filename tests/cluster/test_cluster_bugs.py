"""The lab's bugs across instances (lab/bugs.py, surface `cluster`), two instances on one real
Kafka bus and PostgreSQL: each scenario of docs/lab-answer-key.md passes with the bug off
(`[default]`) and shows the bug with it on (`[bug]`)."""

from __future__ import annotations

import httpx
import pytest
import trio

from ..support.helpers import connected, receive_json, request
from ..support.timeouts import SERVICE_TIMEOUT
from .test_two_instances import get, two_instances, until

ON_OFF = pytest.mark.parametrize("on", [False, True], ids=["default", "bug"])


async def switch(url: str, bug: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.put(f"{url}/lab/bugs", json={"enabled": [bug]})
    assert answer.status_code == 200, answer.text


@ON_OFF
async def test_local_only_broadcast(on: bool, kafka_bootstrap: str, database_url: str) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            two_instances(kafka_bootstrap, database_url) as (a, b),
            connected(a, "room") as (wa, _),
            connected(b, "room") as (wb, _),
        ):
            if on:
                await switch(a.http, "local_only_broadcast")
            for n in ("1", "2"):
                replies = await request(
                    wa, {"action": "broadcast", "request_id": n, "payload": {"message": n}}
                )
                assert [f["type"] for f in replies] == ["ack", "message", "event"]
            # a marker published through b: the bus brings b everything before it first
            async with httpx.AsyncClient() as client:
                await client.post(f"{b.http}/broadcast?message=marker&channel=room")
            got = [await receive_json(wb)]
            while got[-1].get("message") != "marker":
                got.append(await receive_json(wb))
            assert [f["message"] for f in got] == (["marker"] if on else ["1", "2", "marker"])


@ON_OFF
async def test_presence_per_instance(on: bool, kafka_bootstrap: str, database_url: str) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            two_instances(kafka_bootstrap, database_url) as (a, b),
            connected(a, "room") as (wa, _),
            connected(b, "room") as (_, hello_b),
        ):
            if on:
                await switch(a.http, "presence_per_instance")

            async def a_knows_b() -> bool:
                stats = await get(a, "/stats")
                return bool(stats["channels"].get("room") == 2)

            await until(a_knows_b)
            replies = await request(
                wa, {"action": "presence", "request_id": "p", "payload": {"channel": "room"}}
            )
            clients = next(f for f in replies if f["type"] == "presence")["data"]["clients"]
            ids = {c["connection_id"] for c in clients}
            assert (hello_b["connection_id"] in ids) is not on
            assert len(ids) == (1 if on else 2)


@ON_OFF
async def test_cross_instance_reorder(on: bool, kafka_bootstrap: str, database_url: str) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            two_instances(kafka_bootstrap, database_url) as (a, b),
            connected(a, "room") as (wa, _),
            connected(b, "room") as (wb, _),
        ):
            if on:
                await switch(b.http, "cross_instance_reorder")
            for n in range(1, 5):
                await request(
                    wa,
                    {"action": "broadcast", "request_id": str(n), "payload": {"message": str(n)}},
                )
            got = [await receive_json(wb) for _ in range(4)]
            assert [f["type"] for f in got] == ["message"] * 4
            order = [f["message"] for f in got]
            assert order == (["2", "1", "4", "3"] if on else ["1", "2", "3", "4"])
            offsets = [f["offset"] for f in got]
            assert (offsets == sorted(offsets)) is not on
