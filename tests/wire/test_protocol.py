"""The pure protocol module: no event loop anywhere in this file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qakit_trio.wire import framing, protocol
from qakit_trio.wire.protocol import ErrorCode, ProtocolError


def _assign() -> str:
    return "srv-x-1"


def test_decode_object_accepts_objects() -> None:
    assert protocol.decode_object('{"action": "echo"}') == {"action": "echo"}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{wrong-json}", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ('{"a": NaN}', ErrorCode.INVALID_JSON),
        ('{"a": 1e400}', ErrorCode.INVALID_JSON),
        ("[" * 100_000, ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_MESSAGE),
        ('"text"', ErrorCode.INVALID_MESSAGE),
        ("42", ErrorCode.INVALID_MESSAGE),
        ("null", ErrorCode.INVALID_MESSAGE),
    ],
)
def test_decode_object_rejects(text: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.decode_object(text)
    assert caught.value.code == code
    assert caught.value.message


@pytest.mark.parametrize("given", ["abc-1", 7, 2.5, ""])
def test_request_id_is_kept_verbatim(given: object) -> None:
    assert protocol.request_id_of({"request_id": given}, _assign) == given


@pytest.mark.parametrize("given", [None, True, [1], {"a": 1}])
def test_absent_or_bad_request_id_is_assigned(given: object) -> None:
    obj = {} if given is None else {"request_id": given}
    assert protocol.request_id_of(obj, _assign) == "srv-x-1"


def test_parse_request_defaults_payload() -> None:
    request = protocol.parse_request({"action": "echo"}, "r1")
    assert request == protocol.Request("echo", {}, "r1")


@pytest.mark.parametrize(
    ("obj", "code", "details"),
    [
        ({}, ErrorCode.UNKNOWN_ACTION, {"raw_action": None}),
        ({"action": None}, ErrorCode.UNKNOWN_ACTION, {"raw_action": None}),
        ({"action": 5}, ErrorCode.INVALID_MESSAGE, {"field": "action"}),
        ({"action": "echo", "payload": [1]}, ErrorCode.INVALID_MESSAGE, {"field": "payload"}),
        ({"action": "echo", "payload": "x"}, ErrorCode.INVALID_MESSAGE, {"field": "payload"}),
        (
            {"action": "echo", "request_id": True},
            ErrorCode.INVALID_MESSAGE,
            {"field": "request_id"},
        ),
    ],
)
def test_parse_request_rejects(
    obj: dict[str, Any], code: ErrorCode, details: dict[str, Any]
) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_request(obj, "r1")
    assert caught.value.code == code
    assert caught.value.details == details


def test_require_str_names_the_field() -> None:
    assert protocol.require_str({"message": "hi"}, "message") == "hi"
    for payload in ({}, {"message": 3}, {"message": None}):
        with pytest.raises(ProtocolError) as caught:
            protocol.require_str(payload, "message")
        assert caught.value.code == ErrorCode.VALIDATION_ERROR
        assert caught.value.details == {"field": "message"}
        assert "payload.message" in caught.value.message


@pytest.mark.parametrize("name", ["general", "orders", "класс-1", "a", "x" * 64, "a.b:c/d"])
def test_valid_channel_names(name: str) -> None:
    assert protocol.channel_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "a b", "tab\there", "new\nline", "nul\x00", "nbsp\u00a0"]
)
def test_invalid_channel_names(name: str) -> None:
    assert protocol.channel_problem(name)


def test_ts_is_utc_iso8601() -> None:
    parsed = datetime.fromisoformat(protocol.ack("r")["ts"])
    assert parsed.utcoffset() == timedelta(0)


def test_frames_have_the_documented_shapes() -> None:
    assert (
        protocol.connected("general", "c1").items()
        >= {
            "type": "system",
            "message": "connected to 'general'",
            "channel": "general",
            "connection_id": "c1",
        }.items()
    )
    assert protocol.ack(5).keys() == {"type", "request_id", "ts"}
    assert protocol.echo("r", {"a": 1})["data"] == {"a": 1}
    assert (
        protocol.step("r", 2, "second response").items()
        >= {"type": "step", "step": 2, "message": "second response", "request_id": "r"}.items()
    )
    event = protocol.event("ws.echo", "r", {"a": 1}, "e-1")
    assert event.keys() == {"type", "name", "request_id", "ts", "extra", "event_id"}
    message = protocol.channel_message("room", "hi", "r", "c1")
    assert (
        message.items()
        >= {
            "type": "message",
            "channel": "room",
            "message": "hi",
            "request_id": "r",
            "from": "c1",
        }.items()
    )
    assert protocol.rest_broadcast("room", "hi").keys() == {"type", "channel", "message", "ts"}


def test_error_frame_carries_code_details_and_request_id() -> None:
    frame = protocol.error(None, protocol.unknown_action("foo_bar"))
    assert (
        frame.items()
        >= {
            "type": "error",
            "request_id": None,
            "error": "unknown_action",
            "raw_action": "foo_bar",
        }.items()
    )
    assert frame["message"] == "unknown action 'foo_bar'"


def test_encode_is_compact_json_and_keeps_unicode() -> None:
    text = protocol.encode({"message": "привет", "n": 1})
    assert text == '{"message":"привет","n":1}'
    assert json.loads(text) == {"message": "привет", "n": 1}


# --- properties: any input -> one documented outcome, never an exception -------------------

JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
).map(json.dumps)
HOSTILE = st.sampled_from(
    ['"\\ud800"', '"\\udfff"', "NaN", "-Infinity", "1e999", "[" * 80, "{" * 3, '"\\ud83d\\ude00"']
)


@settings(max_examples=500, deadline=None)
@given(
    text=st.text()
    | JSON_TEXT
    | st.builds(lambda a, b, c: a + b + c, JSON_TEXT, HOSTILE, JSON_TEXT)
    | HOSTILE.map(lambda h: '{"action":"echo","payload":{"x":' + h + '},"request_id":1}')
)
def test_any_text_is_a_request_or_a_protocol_error_and_replies_always_encode(text: str) -> None:
    try:
        obj = protocol.decode_object(text)
        request_id = protocol.request_id_of(obj, _assign)
        reply: protocol.Message = protocol.ack(request_id)
        try:
            request = protocol.parse_request(obj, request_id)
            reply = protocol.echo(request_id, request.payload)  # the payload goes back out
        except ProtocolError as failure:
            reply = protocol.error(request_id, failure)
    except ProtocolError as failure:
        reply = protocol.error(None, failure)
        assert reply["error"] in (ErrorCode.INVALID_JSON, ErrorCode.INVALID_MESSAGE)
    # whatever came in, the frame going out is JSON that encodes to valid UTF-8
    framed = framing.text_frame(protocol.encode(reply))
    assert framed
    assert json.loads(protocol.encode(reply))["type"] in ("ack", "echo", "error")


@settings(max_examples=200, deadline=None)
@given(depth=st.integers(min_value=0, max_value=3000), kind=st.sampled_from("[{"))
def test_nesting_is_accepted_up_to_max_depth_only(depth: int, kind: str) -> None:
    text = "[" * depth + "1" + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth
    if depth <= protocol.MAX_DEPTH:
        assert protocol.decode_json(text) is not None
    else:
        with pytest.raises(ProtocolError) as raised:
            protocol.decode_json(text)
        assert raised.value.code == ErrorCode.INVALID_JSON


def test_a_frames_log_fields_are_its_type_request_id_and_error_code() -> None:
    error = protocol.error("r", protocol.unknown_action("fly"))
    assert protocol.LOGGED_KEYS == ("type", "request_id", "error_code")
    assert protocol.logged_values(error) == ("error", "r", "unknown_action")
    assert protocol.logged_values({"type": "pong"}) == ("pong", None, None)
