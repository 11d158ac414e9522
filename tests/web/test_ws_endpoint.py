"""The envelope protocol on /ws, end to end: real hypercorn, real WebSocket client."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from ..support.helpers import (
    UPGRADE,
    connected,
    receive_json,
    request,
    running_server,
    send_json,
)
from ..support.timeouts import TIMEOUT


async def test_hello_is_the_first_frame() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server, "room-1") as (_ws, hello):
            assert hello["message"] == "connected to 'room-1'"
            assert hello["channel"] == "room-1"
            assert re.fullmatch(r"[0-9a-f]{12}", hello["connection_id"])
            assert datetime.fromisoformat(hello["ts"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize("query", ["", "?channel="])
async def test_no_or_empty_channel_means_the_default(query: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(default_channel="lobby") as server,
            open_websocket_url(f"{server.ws}/ws{query}") as ws,
        ):
            hello = await receive_json(ws)
            assert hello["channel"] == "lobby"
            assert hello["message"] == "connected to 'lobby'"


@pytest.mark.parametrize("channel", ["two%20words", "x" * 65, "tab%09", "%00"])
async def test_invalid_channel_is_refused_with_http_400_json(channel: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.get(
                f"{server.http}/ws?channel={channel}",
                headers=UPGRADE,
            )
            assert response.status_code == 400
            body = response.json()
            assert body["error"] == "invalid_channel"
            assert "1-64 printable characters" in body["detail"]


async def test_echo_sends_ack_echo_event() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            frames = await request(
                ws, {"action": "echo", "payload": {"text": "hello"}, "request_id": "r-echo-1"}
            )
            assert [f["type"] for f in frames] == ["ack", "echo", "event"]
            assert all(f["request_id"] == "r-echo-1" for f in frames)
            assert frames[1]["data"] == {"text": "hello"}
            event = frames[2]
            assert event["name"] == "ws.echo"
            assert event["extra"] == {"text": "hello"}
            assert re.fullmatch(r"[0-9a-f-]{36}", event["event_id"])


async def test_triplet_demo_sends_ack_two_steps_event() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            frames = await request(
                ws, {"action": "triplet_demo", "payload": {}, "request_id": "r-triplet-1"}
            )
            assert [(f["type"], f.get("step"), f.get("message")) for f in frames] == [
                ("ack", None, None),
                ("step", 1, "first response"),
                ("step", 2, "second response"),
                ("event", None, None),
            ]
            assert frames[3]["name"] == "ws.triplet_demo"
            assert {f["request_id"] for f in frames} == {"r-triplet-1"}


async def test_request_ids_are_verbatim_or_assigned() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, hello):
            for given in (42, 4.5, "", "абв"):
                frames = await request(ws, {"action": "echo", "request_id": given})
                assert {json.dumps(f["request_id"]) for f in frames} == {json.dumps(given)}
            first = await request(ws, {"action": "echo"})
            second = await request(ws, {"action": "triplet_demo"})
            conn = hello["connection_id"]
            assert {f["request_id"] for f in first} == {f"srv-{conn}-1"}
            assert {f["request_id"] for f in second} == {f"srv-{conn}-2"}


async def test_event_ids_are_unique() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            ids = {(await request(ws, {"action": "echo"}))[-1]["event_id"] for _ in range(20)}
            assert len(ids) == 20


async def test_broadcast_reaches_the_channel_sender_included_and_no_other() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "room") as (alice, alice_hello),
            connected(server, "room") as (bob, _),
            connected(server, "elsewhere") as (carol, _),
        ):
            frames = await request(
                alice,
                {"action": "broadcast", "payload": {"message": "hi all"}, "request_id": "r-bc-1"},
            )
            assert [f["type"] for f in frames] == ["ack", "message", "event"]
            message = frames[1]
            assert (
                message.items()
                >= {
                    "channel": "room",
                    "message": "hi all",
                    "request_id": "r-bc-1",
                    "from": alice_hello["connection_id"],
                }.items()
            )
            assert frames[2]["name"] == "ws.broadcast"
            assert frames[2]["extra"] == {"channel": "room", "delivered": 2}
            assert (await receive_json(bob)) | {"ts": None} == message | {"ts": None}
            # carol's next frame answers her own request: nothing was queued for her before it
            assert (await request(carol, {"action": "echo", "request_id": "c"}))[0]["type"] == "ack"


ERROR_CASES = [
    ("{wrong-json}", None, "invalid_json", {}),
    ("[1, 2]", None, "invalid_message", {}),
    ('"just a string"', None, "invalid_message", {}),
    ('{"action": 5, "request_id": "e1"}', "e1", "invalid_message", {"field": "action"}),
    (
        '{"action": "echo", "payload": [1], "request_id": "e2"}',
        "e2",
        "invalid_message",
        {"field": "payload"},
    ),
    ('{"payload": {}, "request_id": "e3"}', "e3", "unknown_action", {"raw_action": None}),
    (
        '{"action": "foo_bar", "request_id": "e4"}',
        "e4",
        "unknown_action",
        {"raw_action": "foo_bar"},
    ),
    (
        '{"action": "broadcast", "payload": {}, "request_id": "e5"}',
        "e5",
        "validation_error",
        {"field": "message"},
    ),
    (
        '{"action": "broadcast", "payload": {"message": 7}, "request_id": "e6"}',
        "e6",
        "validation_error",
        {"field": "message"},
    ),
]


@pytest.mark.parametrize(("text", "request_id", "code", "details"), ERROR_CASES)
async def test_errors_are_answered_and_the_connection_stays_open(
    text: str, request_id: str | None, code: str, details: dict[str, object]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            await ws.send_message(text)
            first = await receive_json(ws)
            if request_id is not None:  # a JSON object: acknowledged before the error
                assert first == {"type": "ack", "request_id": request_id, "ts": first["ts"]}
                first = await receive_json(ws)
            assert first["type"] == "error"
            assert first["error"] == code
            assert first["request_id"] == request_id
            assert first.items() >= details.items()
            assert isinstance(first["message"], str)
            assert first["message"]
            frames = await request(ws, {"action": "echo", "request_id": "after"})
            assert [f["type"] for f in frames] == ["ack", "echo", "event"]


async def test_bad_request_id_type_is_acked_with_an_assigned_id_then_explained() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, hello):
            await send_json(ws, {"action": "echo", "request_id": {"nested": 1}})
            ack, error = await receive_json(ws), await receive_json(ws)
            assigned = f"srv-{hello['connection_id']}-1"
            assert (ack["type"], ack["request_id"]) == ("ack", assigned)
            assert (error["error"], error["request_id"], error["field"]) == (
                "invalid_message",
                assigned,
                "request_id",
            )


async def test_binary_frame_gets_an_error_frame() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            for payload in (b'{"action": "echo"}', b""):
                await ws.send_message(payload)
                error = await receive_json(ws)
                assert (error["type"], error["error"], error["request_id"]) == (
                    "error",
                    "invalid_message",
                    None,
                )
                assert "binary" in error["message"]
            assert (await request(ws, {"action": "echo"}))[-1]["name"] == "ws.echo"


@pytest.mark.parametrize("query", ["delay_ms=", "delay_ms=&delay_ms=5", "delay_ms=x&delay_ms=5"])
async def test_the_first_value_of_a_query_name_is_the_one_read(query: str) -> None:
    """As werkzeug's `args.get`: an empty `delay_ms=` is not the default of 0, and of a name
    given twice the first counts (ws_endpoint.query)."""
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.get(f"{server.http}/ws/echo?{query}", headers=UPGRADE)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_delay"
