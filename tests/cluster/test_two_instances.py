"""Two instances in one process, one Kafka bus and one PostgreSQL (real, over sockets): a
broadcast, a REST broadcast, presence, /stats, order events and a recovery on the other
instance (cluster/)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

from ..support.helpers import Server, connected, receive_json, request, running_server, send_json
from ..support.timeouts import SERVICE_TIMEOUT


@asynccontextmanager
async def two_instances(kafka_bootstrap: str, database_url: str) -> AsyncIterator[list[Server]]:
    topic = f"bus_{uuid.uuid4().hex[:10]}"
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                running_server(
                    cluster=True,
                    instance_id=name,
                    cluster_topic=topic,
                    cluster_heartbeat=0.2,
                    kafka_bootstrap=kafka_bootstrap,
                    kafka_ws_topic=f"ws_{topic}",
                    kafka_order_topic=f"orders_{topic}",
                    database_url=database_url,
                )
            )
            for name in ("node-a", "node-b")
        ]
        yield servers


async def get(server: Server, path: str) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.http + path)
    return response.json()


async def until(check: Any) -> None:
    """Wait until `check()` (an async predicate over the stands' REST answers) is true: what
    another instance knows comes with its next heartbeat, and no event of ours says so."""
    while True:
        if await check():
            return
        await trio.sleep(0.05)


async def test_a_broadcast_reaches_both_instances_with_one_offset(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with two_instances(kafka_bootstrap, database_url) as (a, b):
            health = await get(a, "/health")
            assert health["instance"] == "node-a"
            stand = await get(b, "/stand.json")  # the pages name the instance (stand.js)
            assert (stand["instance"], stand["cluster"]) == ("node-b", True)
            assert health["cluster"]["bus"]["state"] == "up"
            async with connected(a, "room") as (wa, _), connected(b, "room") as (wb, _):
                replies = await request(
                    wa, {"action": "broadcast", "request_id": "r1", "payload": {"message": "hi"}}
                )
                assert [f["type"] for f in replies] == ["ack", "message", "event"]
                sent = replies[1]
                got = await receive_json(wb)
                assert got["type"] == "message"
                assert got["message"] == "hi"
                assert (got["offset"], got["epoch"]) == (sent["offset"], sent["epoch"])

                async def both_see_two() -> bool:
                    stats = await get(b, "/stats")
                    return bool(stats["channels"].get("room") == 2)

                await until(both_see_two)
                stats = await get(b, "/stats")
                assert set(stats["instances"]) == {"node-a", "node-b"}
                assert stats["total_connections"] == 2
                presence = await request(
                    wb,
                    {"action": "presence", "request_id": "p", "payload": {"channel": "room"}},
                )
                members = next(f for f in presence if f["type"] == "presence")["data"]
                assert len(members["clients"]) == 2

                async with httpx.AsyncClient() as client:
                    answer = await client.post(f"{b.http}/broadcast?message=rest&channel=room")
                assert answer.json()["connections"] == 2
                first, second = await receive_json(wa), await receive_json(wb)
                assert first["type"] == second["type"] == "broadcast"
                assert first["offset"] == second["offset"] > sent["offset"]


async def test_a_client_recovers_on_the_other_instance(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with two_instances(kafka_bootstrap, database_url) as (a, b):
            async with connected(a, "news") as (wa, _):
                replies = await request(
                    wa, {"action": "broadcast", "request_id": "r0", "payload": {"message": "0"}}
                )
                seen = replies[1]
                for n in range(1, 4):
                    await request(
                        wa,
                        {
                            "action": "broadcast",
                            "request_id": f"r{n}",
                            "payload": {"message": str(n)},
                        },
                    )
            query = f"news&since={seen['offset']}&epoch={seen['epoch']}"
            async with connected(b, query) as (wb, hello):
                await send_json(wb, {"action": "echo", "request_id": "e", "payload": {}})
                frames: list[dict[str, Any]] = []
                while not frames or frames[-1]["type"] != "event":
                    frames.append(await receive_json(wb))
            recovered = [f["message"] for f in frames if f["type"] == "message"]
            assert recovered == ["1", "2", "3"], hello


async def test_an_order_change_reaches_the_other_instance(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            two_instances(kafka_bootstrap, database_url) as (a, b),
            connected(b, "orders") as (wb, _),
            open_websocket_url(f"{b.ws}/ws/orders") as legacy,
        ):

            async def b_has_both() -> bool:
                health = await get(b, "/health")
                return bool(health["connections"] == 2)

            await until(b_has_both)
            async with httpx.AsyncClient() as client:
                created = await client.post(f"{a.http}/orders", json={"customer": "ivan"})
            assert created.status_code in (200, 201), created.text
            order_id = created.json()["id"]
            event = await receive_json(wb)
            assert event["type"] == "event"
            assert "order.created" in str(event), event
            legacy_frame = json.loads(await legacy.get_message())
            assert legacy_frame["type"] == "order_created"
            assert legacy_frame["order_id"] == order_id


async def test_a_watcher_hears_joins_and_leaves_of_the_other_instance(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            two_instances(kafka_bootstrap, database_url) as (a, b),
            connected(b, "lobby") as (watcher, _),
        ):
            subscribe = {"channel": "room", "join_leave": True}
            await request(watcher, {"action": "subscribe", "request_id": "s", "payload": subscribe})
            async with connected(a, "room") as (_, hello):
                joined = await receive_json(watcher)
                assert joined["type"] == "join"
                assert joined["connection_id"] == hello["connection_id"]
            left = await receive_json(watcher)
            assert left["type"] == "leave"
            assert left["connection_id"] == hello["connection_id"]
