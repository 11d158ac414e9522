"""The pure protocol module: no event loop anywhere in this file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from qakit_trio import protocol
from qakit_trio.protocol import ErrorCode, ProtocolError


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
        ({"action": "echo", "request_id": True}, ErrorCode.INVALID_MESSAGE,
         {"field": "request_id"}),
    ],
)
def test_parse_request_rejects(obj: dict[str, Any], code: ErrorCode,
                               details: dict[str, Any]) -> None:
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


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "tab\there", "new\nline", "nul\x00",
                                  "nbsp\u00a0"])
def test_invalid_channel_names(name: str) -> None:
    assert protocol.channel_problem(name)


def test_ts_is_utc_iso8601() -> None:
    parsed = datetime.fromisoformat(protocol.ack("r")["ts"])
    assert parsed.utcoffset() == timedelta(0)


def test_frames_have_the_documented_shapes() -> None:
    assert protocol.connected("general", "c1").items() >= {
        "type": "system", "message": "connected to 'general'", "channel": "general",
        "connection_id": "c1"}.items()
    assert protocol.ack(5).keys() == {"type", "request_id", "ts"}
    assert protocol.echo("r", {"a": 1})["data"] == {"a": 1}
    assert protocol.step("r", 2, "second response").items() >= {
        "type": "step", "step": 2, "message": "second response", "request_id": "r"}.items()
    event = protocol.event("ws.echo", "r", {"a": 1}, "e-1")
    assert event.keys() == {"type", "name", "request_id", "ts", "extra", "event_id"}
    message = protocol.channel_message("room", "hi", "r", "c1")
    assert message.items() >= {"type": "message", "channel": "room", "message": "hi",
                               "request_id": "r", "from": "c1"}.items()
    assert protocol.rest_broadcast("room", "hi").keys() == {"type", "channel", "message", "ts"}


def test_error_frame_carries_code_details_and_request_id() -> None:
    frame = protocol.error(None, protocol.unknown_action("foo_bar"))
    assert frame.items() >= {"type": "error", "request_id": None, "error": "unknown_action",
                             "raw_action": "foo_bar"}.items()
    assert frame["message"] == "unknown action 'foo_bar'"


def test_encode_is_compact_json_and_keeps_unicode() -> None:
    text = protocol.encode({"message": "привет", "n": 1})
    assert text == '{"message":"привет","n":1}'
    assert json.loads(text) == {"message": "привет", "n": 1}
