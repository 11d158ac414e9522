"""The legacy orders protocol on /ws/orders: the original stand's frames byte for byte, both
stores, both profiles."""

from __future__ import annotations

import json
from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio import log_fields
from qakit_trio.config import Settings
from qakit_trio.services import Services
from qakit_trio.sessions.legacy import LegacyDoor, LegacySession
from qakit_trio.sessions.pipeline import pipeline
from qakit_trio.wire import framing, protocol

from ..support.helpers import Server, receive_json, running_server
from ..support.timeouts import TIMEOUT


async def ask(ws: WebSocketConnection, message: Any) -> dict[str, Any]:
    await ws.send_message(message if isinstance(message, str) else json.dumps(message))
    return await receive_json(ws)


# The original stand's exact texts for the legacy guide's scenario and its error cases, read
# from its code (services/api-rest/app/main.py and routes_orders.py of github.com/yugoru/qa_kit):
# json.dumps defaults, fields in the original's order, no event_id. Each step: what the client
# sends, then every frame it receives (the requester's result before the broadcast event).
CREATED = (
    '{"type": "order_created", "order_id": 1, "customer": '
    '"\\u042e\\u043b\\u0438\\u044f", "status": "created"}'
)
GOLDEN: list[tuple[str, list[str]]] = [
    ('{"action": "ping"}', ['{"type": "pong"}']),
    (
        '{"action":"create_order","customer":"Юлия"}',
        [
            '{"type": "result", "action": "create_order", "order": {"id": 1, "customer": '
            '"\\u042e\\u043b\\u0438\\u044f", "status": "created"}}',
            CREATED,
        ],
    ),
    (
        '{"action": "change_status", "order_id": "1", "status": "paid"}',
        [
            '{"type": "result", "action": "change_status", "order": {"id": 1, "customer": '
            '"\\u042e\\u043b\\u0438\\u044f", "status": "paid"}}',
            '{"type": "order_status_changed", "order_id": 1, "customer": '
            '"\\u042e\\u043b\\u0438\\u044f", "status": "paid"}',
        ],
    ),
    (
        '{"action": "change_status", "order_id": 1, "status": "flying"}',
        [
            '{"type": "error", "action": "change_status", '
            "\"error\": \"Cannot change status from 'paid' to 'flying'\"}"
        ],
    ),
    (
        '{"action": "change_status", "order_id": 1, "status": "paid"}',
        [
            '{"type": "error", "action": "change_status", '
            "\"error\": \"Cannot change status from 'paid' to 'paid'\"}"
        ],
    ),
    (
        '{"action": "change_status", "order_id": 1}',
        [
            '{"type": "error", "action": "change_status", '
            '"error": "order_id and status are required"}'
        ],
    ),
    (
        '{"action": "change_status", "order_id": "abc", "status": "paid"}',
        ['{"type": "error", "action": "change_status", "error": "order_id must be integer"}'],
    ),
    (
        '{"action": "change_status", "order_id": 99, "status": "paid"}',
        ['{"type": "error", "action": "change_status", "error": "order not found"}'],
    ),
    (
        '{"action": "change_status", "order_id": 99, "status": "flying"}',
        ['{"type": "error", "action": "change_status", "error": "order not found"}'],
    ),
    (
        '{"action": "get_order", "order_id": 1.7}',
        [
            '{"type": "result", "action": "get_order", "order": {"id": 1, "customer": '
            '"\\u042e\\u043b\\u0438\\u044f", "status": "paid"}}'
        ],
    ),
    (
        '{"action": "get_order"}',
        ['{"type": "error", "action": "get_order", "error": "order_id is required"}'],
    ),
    (
        '{"action": "get_order", "order_id": [1]}',
        ['{"type": "error", "action": "get_order", "error": "order_id must be integer"}'],
    ),
    (
        '{"action": "get_order", "order_id": 42}',
        ['{"type": "error", "action": "get_order", "error": "order not found"}'],
    ),
    (
        '{"action": "create_order", "customer": ""}',
        ['{"type": "error", "action": "create_order", "error": "customer is required"}'],
    ),
    (
        '{"action": "create_order"}',
        ['{"type": "error", "action": "create_order", "error": "customer is required"}'],
    ),
    (
        '{"action": "create_order", "customer": 123}',
        [
            '{"type": "result", "action": "create_order", "order": {"id": 2, "customer": "123", '
            '"status": "created"}}',
            '{"type": "order_created", "order_id": 2, "customer": "123", "status": "created"}',
        ],
    ),
    ("{wrong-json}", ['{"type": "error", "error": "invalid_json"}']),
    (
        '{"action": "foo_bar"}',
        ['{"type": "error", "error": "unknown_action", "raw_action": "foo_bar"}'],
    ),
    ("{}", ['{"type": "error", "error": "unknown_action", "raw_action": null}']),
    ('{"action": 5}', ['{"type": "error", "error": "unknown_action", "raw_action": 5}']),
]


def in_profile(profile: str, received: list[str]) -> list[str]:
    """The qa_kit profile sends the broadcast event before the requester's result."""
    if profile == "qa_kit" and len(received) == 2:
        return received[::-1]
    return received


async def test_the_original_stands_frames_byte_for_byte(
    store_settings: dict[str, Any], stand_profile: str
) -> None:
    """Both profiles (conftest.BOTH_PROFILES); only the requester's frame order differs."""
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            open_websocket_url(f"{server.ws}/ws/orders") as ws,
        ):
            for sent, expected in GOLDEN:
                await ws.send_message(sent)
                received = [await ws.get_message() for _ in expected]
                assert received == in_profile(stand_profile, expected), sent
            await ws.send_message('{"action": "ping"}')  # still open, nothing else was sent
            assert await ws.get_message() == '{"type": "pong"}'


async def test_where_the_original_dropped_the_connection_an_error_frame_comes() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, open_websocket_url(f"{server.ws}/ws/orders") as ws:
            cases: list[tuple[str | bytes, str]] = [
                ("[1]", "a command must be a JSON object"),
                ('"ping"', "a command must be a JSON object"),
                (b"\x01\x02", "binary frames are not supported"),
            ]
            for sent, error in cases:
                await ws.send_message(sent)
                assert json.loads(await ws.get_message()) == {
                    "type": "error",
                    "error": "invalid_json",
                    "message": error,
                }
            for customer in ([1], {"a": 1}):
                assert await ask(ws, {"action": "create_order", "customer": customer}) == {
                    "type": "error",
                    "action": "create_order",
                    "error": "customer must be a string",
                }
            assert await ask(ws, {"action": "ping"}) == {"type": "pong"}


async def every_legacy_client_sees_it(server: Server) -> None:
    async with (
        open_websocket_url(f"{server.ws}/ws/orders") as first,
        open_websocket_url(f"{server.ws}/ws/orders") as second,
    ):
        replies = [
            await ask(first, {"action": "create_order", "customer": "Olga"}),
            await receive_json(first),
        ]  # result and event, in the profile's order
        mine = next(frame for frame in replies if frame["type"] != "result")
        theirs = await receive_json(second)
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
        self.id = "c-1"
        self.fields = {"conn": self.id, "channel": "ws/orders"}
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None

    def close_soon(self, code: int, reason: str) -> None:
        self.closed = code

    async def reply(self, frame: dict[str, Any], text: str | None = None) -> None:
        framing.text_frame(text or protocol.encode(frame))  # what the writer does: must not raise
        self.frames.append(frame)

    def payload_fields(self, text: str | bytes) -> dict[str, object]:
        return log_fields.payload_fields(text, 2048)


LEGACY_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["1", "paid", "cancelled", "created", "\ud800", "\x00"])
)
LEGACY_COMMANDS = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["ping", "create_order", "change_status", "get_order", "", "x"])
        | LEGACY_VALUES
    },
    optional={"customer": LEGACY_VALUES, "order_id": LEGACY_VALUES, "status": LEGACY_VALUES},
)


def legacy_text(command: dict[str, Any]) -> str:
    """JSON as a client would write it; lone surrogates escaped (valid UTF-8 on the wire)."""
    return json.dumps(command, allow_nan=True)


@settings(max_examples=400, deadline=None)
@given(
    messages=st.lists(
        LEGACY_COMMANDS.map(legacy_text)
        | st.text(max_size=20)
        | st.binary(max_size=8)
        | st.sampled_from(["NaN", "[1]", "{", '{"action":"ping"}x', "[" * 100]),
        min_size=1,
        max_size=8,
    )
)
def test_any_frame_gets_one_documented_reply(messages: list[str | bytes]) -> None:
    async def scenario() -> None:
        services = Services(Settings())  # the in-memory store; nothing needs to run
        door = LegacyDoor(services.deps, pipeline(services.lab))
        for message in messages:
            conn = RecordingConnection()
            await LegacySession(conn, door).handle(message)  # type: ignore[arg-type]
            assert conn.closed is None, message  # never a handler failure (1011)
            assert conn.frames, message
            first = conn.frames[0]
            assert first["type"] in ("pong", "result", "error"), first
            if first["type"] == "error":
                assert isinstance(first["error"], str)
                assert len(conn.frames) == 1
            else:  # a result may be followed by its order event (sent to everyone)
                assert all(
                    f["type"] in ("order_created", "order_status_changed") for f in conn.frames[1:]
                )

    trio.run(scenario)
