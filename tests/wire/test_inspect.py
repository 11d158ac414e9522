"""The inspector's messages: pure, no event loop."""

from __future__ import annotations

import json

import pytest

from qakit_trio.wire import inspect


def test_a_frame_is_described_with_the_ids_a_trainee_follows() -> None:
    text = json.dumps(
        {"type": "event", "name": "ws.echo", "request_id": "r1", "event_id": "e-1", "extra": {}}
    )
    row = inspect.describe("out", "/ws", "x", "c1", text, 12.5, "2026-12-01T00:00:00+00:00", None)
    assert row["dir"] == "out"
    assert row["conn"] == "c1"
    assert row["channel"] == "x"
    assert (row["type"], row["request_id"], row["event_id"]) == ("event", "r1", "e-1")
    assert row["size"] == len(text.encode())
    assert row["text"] == text
    assert not row["truncated"]


def test_legacy_frames_have_an_action_and_numbers_stay_numbers() -> None:
    row = inspect.describe("in", "/ws/orders", "orders", "c2", '{"action": "ping"}', 0, "t", None)
    assert (row["action"], row["type"], row["request_id"]) == ("ping", None, None)
    numeric = inspect.describe("in", "/ws", "x", "c", '{"request_id": 7}', 0, "t", None)
    assert numeric["request_id"] == 7
    odd = inspect.describe("in", "/ws", "x", "c", '{"request_id": [1], "type": true}', 0, "t", None)
    assert (odd["request_id"], odd["type"]) == (None, None)  # only scalars are ids


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '"a string"', "\ud800", "[" * 3000, '{"request_id": NaN}']
)
def test_text_that_is_not_a_json_object_is_shown_as_it_is(text: str) -> None:
    row = inspect.describe("in", "/ws", "x", "c", text, 0, "t", None)
    assert row["text"] == text
    assert row["request_id"] is None


def test_binary_and_long_frames() -> None:
    binary = inspect.describe("in", "/ws", "x", "c", b"\x00\xffab", 0, "t", None)
    assert binary["binary"]
    assert binary["size"] == 4
    assert binary["type"] is None
    long = "x" * (inspect.TEXT_MAX + 10)
    row = inspect.describe("publish", "/ws", "x", None, long, 0, "t", 3)
    assert row["truncated"]
    assert len(row["text"]) == inspect.TEXT_MAX
    assert row["delivered"] == 3
    # Multi-byte text: the size is in bytes, as on the wire
    assert inspect.describe("in", "/ws", "x", "c", "ю", 0, "t", None)["size"] == 2


@pytest.mark.parametrize(
    ("text", "watch"),
    [
        ('{"watch": {}}', {}),
        ('{"watch": {"conn": "abc"}}', {"conn": "abc"}),
        ('{"watch": {"channel": "x"}}', {"hub": "/ws", "channel": "x"}),
        (
            '{"watch": {"hub": "/ws/orders", "channel": "orders"}}',
            {"hub": "/ws/orders", "channel": "orders"},
        ),
    ],
)
def test_watch_messages(text: str, watch: dict[str, str]) -> None:
    assert inspect.parse_watch(text) == (watch, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "invalid_json"),
        ("[" * 5000, "invalid_json"),  # deeper than any door accepts: no RecursionError
        (b'{"watch": {}}', "invalid_message"),  # a binary frame
        ("[]", "invalid_message"),
        ('{"watch": 1}', "invalid_message"),
        ('{"watch": {"conn": ""}}', "invalid_watch"),
        ('{"watch": {"conn": 5}}', "invalid_watch"),
        ('{"watch": {"hub": "/elsewhere", "channel": "x"}}', "invalid_watch"),
        ('{"watch": {"conn": "a", "channel": "x"}}', "invalid_watch"),
    ],
)
def test_bad_watch_messages_get_an_error_naming_the_problem(text: str | bytes, code: str) -> None:
    watch, problem = inspect.parse_watch(text)
    assert watch is None
    assert problem is not None
    assert problem["type"] == "error"
    assert problem["error"] == code
    assert problem["detail"]


def test_messages_built_from_parts_encoded_once_are_the_messages() -> None:
    """An inspector's frames and tables are put together from text encoded once for every
    inspector: the result must be exactly what encoding the whole message gives."""
    rows = [
        inspect.describe(
            "in", "/ws", "x", "c1", '{"action":"echo","s":"\\ud800 é"}', 1.5, "ts", None
        ),
        inspect.describe("publish", "/ws", "x", None, b"\x00\xff", 2.0, "ts", 3),
    ]
    assert inspect.frames_text([inspect.encode(row) for row in rows], 7) == inspect.encode(
        inspect.frames(rows, 7)
    )
    assert inspect.frames_text([], 0) == inspect.encode(inspect.frames([], 0))
    table = [{"id": "c1", "hub": "/ws", "channel": "x"}]
    head = inspect.connections_head(table, 12, "ts")
    assert head + "41}" == inspect.encode(inspect.connections(table, 12, "ts", 41))
