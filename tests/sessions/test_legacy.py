"""The legacy orders protocol on /ws/orders, message by message (the README's table),
both stores."""

from __future__ import annotations

import json
from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.config import Settings
from qakit_trio.services import Services
from qakit_trio.sessions.legacy import LegacySession
from qakit_trio.wire import framing, protocol

from ..support.helpers import Server, receive_json, running_server

TIMEOUT = 20


async def ask(ws: WebSocketConnection, message: Any) -> dict[str, Any]:
    await ws.send_message(message if isinstance(message, str) else json.dumps(message))
    return await receive_json(ws)


async def test_the_protocol_message_by_message(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with (running_server(**store_settings) as server,
                    open_websocket_url(f"{server.ws}/ws/orders") as ws):
            assert await ask(ws, {"action": "ping"}) == {"type": "pong"}

            created = await ask(ws, {"action": "create_order", "customer": "Yulia"})
            assert created == {"type": "result", "action": "create_order",
                               "order": {"id": 1, "customer": "Yulia", "status": "created"}}
            broadcast = await receive_json(ws)  # the requester gets its result first
            assert broadcast.items() >= {"type": "order_created", "order_id": 1,
                                         "customer": "Yulia", "status": "created"}.items()

            paid = await ask(ws, {"action": "change_status", "order_id": 1, "status": "paid"})
            assert paid == {"type": "result", "action": "change_status",
                            "order": {"id": 1, "customer": "Yulia", "status": "paid"}}
            changed = await receive_json(ws)
            assert changed.items() >= {"type": "order_status_changed", "order_id": 1,
                                       "customer": "Yulia", "status": "paid"}.items()

            assert await ask(ws, {"action": "get_order", "order_id": 1}) == {
                "type": "result", "action": "get_order",
                "order": {"id": 1, "customer": "Yulia", "status": "paid"}}
            assert await ask(ws, {"action": "get_order", "order_id": 2}) == {
                "type": "error", "action": "get_order", "error": "order not found"}

            for status in ("shipped", "delivered"):
                await ask(ws, {"action": "change_status", "order_id": 1, "status": status})
                await receive_json(ws)  # its broadcast
            assert await ask(ws, {"action": "change_status", "order_id": 1,
                                  "status": "paid"}) == {
                "type": "error", "action": "change_status",
                "error": "Cannot change status from 'delivered' to 'paid'"}

            assert await ask(ws, "{wrong-json}") == {"type": "error", "error": "invalid_json"}
            assert await ask(ws, {"action": "foo_bar"}) == {
                "type": "error", "error": "unknown_action", "raw_action": "foo_bar"}
            assert await ask(ws, {"action": "ping"}) == {"type": "pong"}  # still open


async def test_missing_and_wrong_fields_are_named() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, open_websocket_url(f"{server.ws}/ws/orders") as ws:
            cases = [
                ({"action": "create_order"}, "create_order", "missing field 'customer'"),
                ({"action": "create_order", "customer": ""}, "create_order",
                 "customer must not be empty"),
                ({"action": "change_status", "status": "paid"}, "change_status",
                 "missing field 'order_id'"),
                ({"action": "change_status", "order_id": 1}, "change_status",
                 "missing field 'status'"),
                ({"action": "change_status", "order_id": "1", "status": "paid"},
                 "change_status", "order_id must be an integer"),
                ({"action": "get_order"}, "get_order", "missing field 'order_id'"),
            ]
            for message, action, error in cases:
                assert await ask(ws, message) == {"type": "error", "action": action,
                                                  "error": error}
            unknown = await ask(ws, {"action": "change_status", "order_id": 1, "status": "x"})
            assert unknown["error"].startswith("unknown status 'x'")
            assert await ask(ws, {"action": "change_status", "order_id": 5,
                                  "status": "paid"}) == {
                "type": "error", "action": "change_status", "error": "order not found"}
            assert (await ask(ws, {"action": "ping"}))["type"] == "pong"


async def every_legacy_client_sees_it(server: Server) -> None:
    async with (open_websocket_url(f"{server.ws}/ws/orders") as first,
                open_websocket_url(f"{server.ws}/ws/orders") as second):
        await ask(first, {"action": "create_order", "customer": "Olga"})
        mine, theirs = await receive_json(first), await receive_json(second)
        assert mine == theirs
        assert mine["type"] == "order_created"


async def test_every_legacy_client_gets_the_broadcast(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(**store_settings) as server:
            await every_legacy_client_sees_it(server)


# --- property: any frame on /ws/orders gets documented replies, never an exception -----------

class RecordingConnection:
    """What LegacySession uses of a Connection: `fields` for its log lines, and `reply`."""

    def __init__(self) -> None:
        self.fields = {"conn": "c-1", "channel": "ws/orders"}
        self.frames: list[dict[str, Any]] = []

    async def reply(self, frame: dict[str, Any]) -> None:
        framing.text_frame(protocol.encode(frame))  # what the writer does: must not raise
        self.frames.append(frame)


LEGACY_VALUES = (st.none() | st.booleans() | st.integers(-2, 3) | st.floats() | st.text(max_size=8)
                 | st.sampled_from(["1", "paid", "cancelled", "created", "\ud800", "\x00"]))
LEGACY_COMMANDS = st.fixed_dictionaries(
    {"action": st.sampled_from(["ping", "create_order", "change_status", "get_order", "", "x"])
     | LEGACY_VALUES},
    optional={"customer": LEGACY_VALUES, "order_id": LEGACY_VALUES, "status": LEGACY_VALUES})


def legacy_text(command: dict[str, Any]) -> str:
    """JSON as a client would write it; lone surrogates escaped (valid UTF-8 on the wire)."""
    return json.dumps(command, allow_nan=True)


@settings(max_examples=400, deadline=None)
@given(messages=st.lists(LEGACY_COMMANDS.map(legacy_text) | st.text(max_size=20)
                         | st.binary(max_size=8)
                         | st.sampled_from(["NaN", "[1]", "{", '{"action":"ping"}x', "[" * 100]),
                         min_size=1, max_size=8))
def test_any_frame_gets_one_documented_reply(messages: list[str | bytes]) -> None:
    async def scenario() -> None:
        services = Services(Settings())  # the in-memory store; nothing needs to run
        for message in messages:
            conn = RecordingConnection()
            await LegacySession(conn, services).handle(message)  # type: ignore[arg-type]
            assert conn.frames, message
            first = conn.frames[0]
            assert first["type"] in ("pong", "result", "error"), first
            if first["type"] == "error":
                assert isinstance(first["error"], str)
                assert len(conn.frames) == 1
            else:  # a result may be followed by its order event (sent to everyone)
                assert all(f["type"] in ("order_created", "order_status_changed")
                           for f in conn.frames[1:])

    trio.run(scenario)
