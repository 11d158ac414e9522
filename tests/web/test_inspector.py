"""The inspector's WebSocket (/ws/_inspect), the live task tree (/debug/tasks) and an event's
trail (/debug/events/ID), against a real server; the trail's Kafka record from a real broker."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import trio
import trio.testing
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.adapters.kafka import KafkaPublisher
from qakit_trio.web import inspector as inspector_web
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.outbox import Inlet, open_outbox

from ..support.helpers import (
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
    send_json,
)
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT


async def next_of(inspector: WebSocketConnection, kind: str) -> dict[str, Any]:
    while True:
        message = await receive_json(inspector)
        if message["type"] == kind:
            return message


async def frames_until(inspector: WebSocketConnection, done: Any) -> list[dict[str, Any]]:
    """Tapped frames, batch after batch, until `done(frames)`."""
    seen: list[dict[str, Any]] = []
    while not done(seen):
        seen += (await next_of(inspector, "frames"))["frames"]
    return seen


async def test_the_inspector_sees_a_channel_live_with_request_and_event_ids() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            open_websocket_url(f"{server.ws}/ws/_inspect") as inspector,
        ):
            assert await receive_json(inspector) == {"type": "watching", "watch": {}}
            async with (
                connected(server, "room") as (ws, hello),
                connected(server, "other") as (other, _),
            ):
                table = await next_of(inspector, "connections")
                while table["total"] < 2:
                    table = await next_of(inspector, "connections")
                row = next(r for r in table["connections"] if r["id"] == hello["connection_id"])
                assert (row["hub"], row["channel"], row["protocol"]) == ("/ws", "room", "envelope")
                assert row["frames_out"] == 1
                assert row["frames_in"] == 0
                assert row["connected_s"] >= 0

                await send_json(inspector, {"watch": {"hub": "/ws", "channel": "room"}})
                assert (await next_of(inspector, "watching"))["watch"] == {
                    "hub": "/ws",
                    "channel": "room",
                }
                await request(other, {"action": "echo", "request_id": "elsewhere"})
                answer = await request(
                    ws, {"action": "broadcast", "request_id": "b1", "payload": {"message": "hi"}}
                )
                event = answer[-1]

                def complete(seen: list[dict[str, Any]]) -> bool:
                    return any(f["event_id"] == event["event_id"] for f in seen)

                seen = await frames_until(inspector, complete)
                assert all(f["channel"] == "room" for f in seen)  # "other" is not watched
                assert [(f["dir"], f["type"] or f["action"]) for f in seen] == [
                    ("in", "broadcast"),
                    ("out", "ack"),
                    ("publish", "message"),
                    ("out", "message"),
                    ("out", "event"),
                ]
                assert {f["request_id"] for f in seen} == {"b1"}
                publish = seen[2]  # to the channel's other members: none; the sender's copy
                assert (publish["conn"], publish["delivered"]) == (None, 0)  # is its own
                assert seen[0]["conn"] == seen[3]["conn"] == hello["connection_id"]
                assert json.loads(seen[4]["text"]) == event

                async with httpx.AsyncClient(base_url=server.http) as http:
                    trail = (await http.get(f"/debug/events/{event['event_id']}")).json()
                [line] = trail["log_lines"]
                logged = json.loads(line)
                assert (logged["message"], logged["event.id"], logged["qakit.connection_id"]) == (
                    "event",
                    event["event_id"],
                    hello["connection_id"],
                )
                assert trail["kafka"] == {"state": "disabled", "records": []}


async def table_row(inspector: WebSocketConnection, conn: str, done: Any) -> dict[str, Any]:
    """Connection `conn`'s row in the tables that come, the first for which `done(row)`."""
    while True:
        table = await next_of(inspector, "connections")
        rows: list[dict[str, Any]] = table["connections"]
        row = next((r for r in rows if r["id"] == conn), None)
        if row is not None and done(row):
            return row


async def test_the_table_lists_each_connections_subscriptions() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            open_websocket_url(f"{server.ws}/ws/_inspect") as inspector,
            connected(server, "room") as (ws, hello),
        ):
            conn = hello["connection_id"]
            row = await table_row(inspector, conn, lambda _: True)
            assert (row["channel"], row["subscriptions"]) == ("room", 1)
            assert row["channels"] == [{"channel": "room", "join_leave": False}]
            news = {"channel": "news", "join_leave": True}
            await request(ws, {"action": "subscribe", "request_id": "s", "payload": news})
            await request(
                ws, {"action": "unsubscribe", "request_id": "u", "payload": {"channel": "room"}}
            )
            row = await table_row(inspector, conn, lambda r: r["channels"] == [news])
            assert (row["channel"], row["subscriptions"]) == ("room", 1)  # the URL's, as before


async def test_a_row_lists_the_first_subscriptions_in_their_order_and_counts_them_all() -> None:
    hub = Hub()
    send, _receive = open_outbox(4)
    member = hub.join("room", "c1", Inlet(send, lambda data: 0), lambda code, reason: None)
    most = inspector_web.MAX_CHANNELS_LISTED
    for number in range(most + 2):
        hub.subscribe(member, f"extra-{number}", join_leave=number == 1)
    hub.unsubscribe(member, "extra-0")
    row = inspector_web.row(hub, member, trio.current_time(), "qakit")
    assert row["channels"] == [
        {"channel": "room", "join_leave": False},
        {"channel": "extra-1", "join_leave": True},
        *({"channel": f"extra-{n}", "join_leave": False} for n in range(2, most)),
    ]
    assert (row["channel"], row["subscriptions"]) == ("room", most + 2)


async def test_watching_one_connection_and_bad_watch_messages() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            open_websocket_url(f"{server.ws}/ws/_inspect") as inspector,
        ):
            await next_of(inspector, "watching")
            async with (
                connected(server, "room") as (ws, hello),
                connected(server, "room") as (neighbour, _),
            ):
                await send_json(inspector, {"watch": {"conn": hello["connection_id"]}})
                await next_of(inspector, "watching")
                await request(neighbour, {"action": "echo", "request_id": "not-mine"})
                await request(ws, {"action": "echo", "request_id": "mine"})
                seen = await frames_until(inspector, lambda s: any(f["type"] == "event" for f in s))
                assert {f["request_id"] for f in seen} == {"mine"}
                await inspector.send_message("not json")
                assert (await next_of(inspector, "error"))["error"] == "invalid_json"
                await send_json(inspector, {"watch": {"hub": "/nowhere", "channel": "x"}})
                assert (await next_of(inspector, "error"))["error"] == "invalid_watch"
                await request(ws, {"action": "echo", "request_id": "still"})  # still serving


async def test_the_inspector_is_not_a_client_of_the_stand() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            open_websocket_url(f"{server.ws}/ws/_inspect") as inspector,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            await next_of(inspector, "watching")
            stats = (await http.get("/stats")).json()
            assert stats["total_connections"] == 0
            assert (await http.post("/broadcast?message=hi&channel=general")).json()[
                "connections"
            ] == 0


async def test_at_most_eight_inspectors_the_next_is_closed_with_1013() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, contextlib.AsyncExitStack() as stack:
            taps = server.app.services.taps
            open_ones = [
                await stack.enter_async_context(open_websocket_url(f"{server.ws}/ws/_inspect"))
                for _ in range(8)
            ]
            for inspector in open_ones:
                await next_of(inspector, "watching")
            async with open_websocket_url(f"{server.ws}/ws/_inspect") as ninth:
                closed = await read_until_closed(ninth)
            assert (closed.code, closed.reason, closed.messages) == (
                1013,
                "too many inspectors (max 8)",
                [],
            )
            assert len(taps) == 8
            await open_ones[0].aclose()
            while len(taps) == 8:  # the server sees it go
                await trio.testing.wait_all_tasks_blocked(0.01)
            async with open_websocket_url(f"{server.ws}/ws/_inspect") as next_one:
                assert await receive_json(next_one) == {"type": "watching", "watch": {}}


def connection_nodes(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every connection task in the tree, by connection id (from its label)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any]) -> None:
        if node.get("kind") == "connection":
            found[node["label"].split()[1]] = node
        for child in node.get("tasks", []):
            walk(child)
        for nursery in node.get("nurseries", []):
            for child in nursery["tasks"]:
                walk(child)

    walk(tree["root"])
    return found


async def test_the_task_tree_shows_each_connection_nursery_and_drops_a_closed_one(
    server_path: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            async with connected(server, "a") as (client_a, first):
                async with open_websocket_url(f"{server.ws}/ws/orders") as legacy:
                    await send_json(legacy, {"action": "ping"})
                    assert await receive_json(legacy) == {"type": "pong"}
                    nodes = connection_nodes((await http.get("/debug/tasks")).json())
                    assert first["connection_id"] in nodes
                    assert len(nodes) == 2
                    node = nodes[first["connection_id"]]
                    assert "(/ws, channel a)" in node["label"]
                    kinds = [t["kind"] for n in node["nurseries"] for t in n["tasks"]]
                    # an idle client has no outbox and no writer (ws/outbox.py, LazyOutbox); on
                    # the plain path its hello waits in the outbox (ASGI cannot write at once)
                    assert kinds == ([] if server_path == "fast" else ["writer"])
                    await send_json(client_a, {"action": "echo", "request_id": "r"})
                    for _ in range(3):  # ack, echo, event: its first own replies start it
                        await receive_json(client_a)
                    # (another limit: the tree of the same limit is cached for a moment)
                    tree = (await http.get("/debug/tasks", params={"limit": 19})).json()
                    node = connection_nodes(tree)[first["connection_id"]]
                    kinds = [t["kind"] for n in node["nurseries"] for t in n["tasks"]]
                    assert kinds == ["writer"]
                    legacy_node = next(n for i, n in nodes.items() if i != first["connection_id"])
                    assert "(/ws/orders, channel orders)" in legacy_node["label"]
                # the legacy client has closed: its tasks end as the server finishes the close
                while len(nodes) != 1:
                    await trio.testing.wait_all_tasks_blocked(0.01)
                    nodes = connection_nodes((await http.get("/debug/tasks")).json())
                assert list(nodes) == [first["connection_id"]]
            for limit in ("0", "501", "10000", "\u00b2", "\u0661\u0660", "\uff15", "1e3", "-1"):
                bad = await http.get("/debug/tasks", params={"limit": limit})
                assert (bad.status_code, bad.json()) == (
                    400,
                    {
                        "error": "invalid_limit",
                        "detail": "limit must be a whole number from 1 to 500",
                    },
                ), limit
            assert (await http.get("/debug/tasks?limit=500")).status_code == 200
            bad = await http.get("/debug/tasks?expand=connection,nope")
            assert (bad.status_code, bad.json()["error"]) == (400, "invalid_expand")
            assert "'nope'" in bad.json()["detail"]


async def test_an_events_kafka_record_is_in_its_trail(kafka_settings: dict[str, Any]) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(**kafka_settings) as server,
            connected(server, "lobby") as (ws, _),
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            event = (await request(ws, {"action": "echo", "request_id": "k1"}))[-1]
            # a barrier: records are acknowledged in order, so once this empty delivery is
            # done, the event's record has been acknowledged (and kept) before it
            kafka = server.app.services.kafka
            assert isinstance(kafka, KafkaPublisher)
            assert await kafka.deliver(())
            trail = (await http.get(f"/debug/events/{event['event_id']}")).json()
            [record] = trail["kafka"]["records"]
            assert trail["kafka"]["state"] == "up"
            assert (record["topic"], record["key"]) == (kafka_settings["kafka_ws_topic"], "lobby")
            assert json.loads(record["value"])["event_id"] == event["event_id"]
            assert record["offset"] >= 0
            assert record["partition"] >= 0
            assert len(trail["log_lines"]) == 1
