"""The qa_kit profile's /ws frames, without an event loop: the original's fields and order."""

from __future__ import annotations

import re

import pytest

from qakit_trio.wire import protocol, qa_kit

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def test_frames_have_the_originals_fields_in_its_order() -> None:
    assert list(qa_kit.hello("general")) == ["type", "message", "ts"]
    assert qa_kit.hello("general")["message"] == "connected to 'general'"
    assert list(qa_kit.ack("r")) == ["type", "request_id", "ts"]
    assert list(qa_kit.echo("r", {})) == ["type", "request_id", "data", "ts"]
    assert list(qa_kit.step("r", 1, "first response")) == [
        "type",
        "request_id",
        "step",
        "message",
        "ts",
    ]
    assert list(qa_kit.event("ws.echo", "r", {})) == ["type", "name", "request_id", "ts", "extra"]
    assert list(qa_kit.channel_message("room", "hi")) == ["type", "channel", "message", "ts"]
    assert list(qa_kit.data("orders", "r", [])) == ["type", "request_id", "data", "ts"]
    assert list(qa_kit.error("r", "x")) == ["type", "request_id", "message", "ts"]
    assert TS.match(qa_kit.ack("r")["ts"])
    assert protocol.encode(qa_kit.error("no-id", "unknown action: None")).startswith(
        '{"type":"error","request_id":"no-id","message":"unknown action: None","ts":"'
    )


@pytest.mark.parametrize(
    ("obj", "request_id"),
    [
        ({}, "no-id"),
        ({"request_id": None}, "no-id"),
        ({"request_id": ""}, "no-id"),
        ({"request_id": 0}, "no-id"),
        ({"request_id": False}, "no-id"),
        ({"request_id": []}, "no-id"),
        ({"request_id": "r1"}, "r1"),
        ({"request_id": 7}, 7),
        ({"request_id": {"a": 1}}, {"a": 1}),
    ],
)
def test_a_missing_or_falsy_request_id_is_no_id(obj: dict[str, object], request_id: object) -> None:
    assert qa_kit.request_id_of(obj) == request_id


@pytest.mark.parametrize(
    ("action", "text"),
    [
        ("fly", "unknown action: fly"),
        (None, "unknown action: None"),
        (5, "unknown action: 5"),
        ([1, 2], "unknown action: [1, 2]"),
        (True, "unknown action: True"),
    ],
)
def test_unknown_action_texts_are_pythons_str(action: object, text: str) -> None:
    assert qa_kit.unknown_action(action) == text
