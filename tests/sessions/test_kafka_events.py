"""Every event, end to end: the WS frame, the Kafka record and the log line share one event_id.
A real broker; topics read back with a real consumer, and once with Debian's kcat."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from ..support.helpers import connected, receive_json, request, running_server
from ..support.kafka_broker import kcat
from ..support.kafka_topics import Consumed, has_events, read_topic
from ..support.timeouts import SERVICE_TIMEOUT

EVENT_NAMES = [
    "order.created",
    "order.listed",
    "order.status_changed",
    "order.viewed",
    "ws.broadcast",
    "ws.echo",
    "ws.triplet_demo",
]


async def test_every_event_and_broadcast_is_in_the_ws_topic(
    kafka_settings: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    bootstrap, topic = kafka_settings["kafka_bootstrap"], kafka_settings["kafka_ws_topic"]
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(**kafka_settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server, "lobby") as (ws, hello),
        ):
            asked: list[dict[str, Any]] = [
                {"action": "echo", "request_id": "r-echo", "payload": {"x": 1}},
                {"action": "triplet_demo", "request_id": 2},
                {"action": "broadcast", "request_id": "r-bc", "payload": {"message": "hi"}},
                {"action": "create_order", "payload": {"customer": "Ann"}},
                {"action": "change_status", "payload": {"id": 1, "status": "paid"}},
                {"action": "get_order", "payload": {"id": 1}},
                {"action": "list_orders", "payload": {}},
            ]
            answers = [await request(ws, frame) for frame in asked]
            assert (await http.post("/broadcast?message=hello&channel=lobby")).status_code == 200
            rest_broadcast = await receive_json(ws)
            frames = [frame for answer in answers for frame in answer]
            events = [frame for frame in frames if frame["type"] == "event"]
            message = next(frame for frame in frames if frame["type"] == "message")
            assert sorted(e["name"] for e in events) == EVENT_NAMES

            def complete(records: list[Consumed]) -> bool:
                types = {r.value["type"] for r in records}
                return (
                    has_events({e["event_id"] for e in events})(records)
                    and {"message", "broadcast"} <= types
                )

            read = await read_topic(bootstrap, topic, complete)  # while the service runs

    connection = {
        "source": "qa-websocket",
        "channel": "lobby",
        "connection_id": hello["connection_id"],
    }
    by_id = {r.value["event_id"]: r for r in read if r.value["type"] == "event"}
    for event in events:
        assert by_id[event["event_id"]].value == {**event, **connection}
        assert by_id[event["event_id"]].key == "lobby"
    kinds = {r.value["type"]: r.value for r in read if r.value["type"] != "event"}
    assert kinds == {
        "message": {**message, **connection},
        "broadcast": {**rest_broadcast, **connection, "connection_id": None},
    }
    # acks, data frames and the hello frame are not events: nothing else was published
    assert len(read) == len(events) + 2

    logged = [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "event"
    ]
    assert sorted(f["event_id"] for f in logged) == sorted(e["event_id"] for e in events)

    # and a client nobody here wrote sees the same records
    done = await trio.run_process(
        [kcat(), "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J"],
        capture_stdout=True,
    )
    from_kcat = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert sorted(json.loads(r["payload"]).get("event_id") or "" for r in from_kcat) == sorted(
        r.value.get("event_id") or "" for r in read
    )
    assert {r["key"] for r in from_kcat} == {"lobby"}


async def change_orders_through_every_door(server: Any) -> list[tuple[int, str]]:
    """Orders 1-3 created and moved along through REST, /ws and /ws/orders, interleaved;
    returns (order id, status) in the order the changes were made."""
    made: list[tuple[int, str]] = []
    async with (
        httpx.AsyncClient(base_url=server.http) as http,
        connected(server) as (ws, _),
        open_websocket_url(f"{server.ws}/ws/orders") as legacy,
    ):
        for customer in ("a", "b", "c"):
            made.append(
                ((await http.post("/orders", json={"customer": customer})).json()["id"], "created")
            )
        for order_id, status in [
            (1, "paid"),
            (2, "cancelled"),
            (1, "shipped"),
            (3, "paid"),
            (1, "delivered"),
            (3, "shipped"),
        ]:
            if order_id == 1:
                answer = await request(
                    ws, {"action": "change_status", "payload": {"id": order_id, "status": status}}
                )
                assert answer[1]["data"]["status"] == status
            elif order_id == 2:
                assert (await http.post(f"/orders/{order_id}/cancel")).status_code == 200
            else:
                await legacy.send_message(
                    json.dumps({"action": "change_status", "order_id": order_id, "status": status})
                )
                while (result := await receive_json(legacy))["type"] != "result":
                    pass  # the broadcasts of earlier changes
                assert result["order"]["status"] == status
            made.append((order_id, status))
    return made


def per_order(records: list[Consumed]) -> dict[int, list[str]]:
    """Each order's statuses in the order its events first appear in the topic."""
    seen: set[str] = set()
    statuses: dict[int, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.value["event_id"] not in seen:
            seen.add(record.value["event_id"])
            statuses[record.value["order_id"]].append(record.value["status"])
    return dict(statuses)


async def test_order_events_are_in_the_order_topic_in_order_per_order(
    kafka_settings: dict[str, Any],
    store_settings: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    bootstrap, topic = kafka_settings["kafka_bootstrap"], kafka_settings["kafka_order_topic"]
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running_server(**kafka_settings, **store_settings) as server:
            made = await change_orders_through_every_door(server)
            logged = {
                r.fields["event_id"]: r.fields  # type: ignore[attr-defined]
                for r in caplog.records
                if r.getMessage() == "event"
            }
            read = await read_topic(bootstrap, topic, has_events(set(logged)))

    expected: dict[int, list[str]] = defaultdict(list)
    for order_id, status in made:
        expected[order_id].append(status)
    assert per_order(read) == expected
    for record in read:
        assert record.key == str(record.value["order_id"])
        assert set(record.value) == {"type", "order_id", "customer", "status", "event_id", "ts"}
        assert record.value["status"] == logged[record.value["event_id"]]["extra"]["status"]
    partitions = defaultdict(set)
    for record in read:
        partitions[record.key].add(record.partition)
    assert all(len(used) == 1 for used in partitions.values())  # a key stays on one partition
