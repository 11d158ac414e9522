"""Sessions as JSON lines, and reading either file, without an event loop: the lines the
writer writes, a round trip, the errors of bad files (by line)."""

from __future__ import annotations

import json

import pytest

from qakit_trio.wire.session_har import write_har
from qakit_trio.wire.session_jsonl import read_jsonl, read_session, write_jsonl
from qakit_trio.wire.sessions import Connection, Frame, Session, SessionFileError, request_id_of

ROOM = "ws://127.0.0.1:8002/ws?channel=room"
SESSION = Session(
    (
        Connection(
            "a",
            ROOM,
            (
                Frame("receive", 10.0, '{"type":"system","message":"a\u2028b"}'),
                Frame("send", 10.5, '{"action":"echo","request_id":"r1"}'),
                Frame("receive", 10.6, '{"type":"ack","request_id":"r1"}'),
            ),
        ),
        Connection("b", ROOM, (Frame("receive", 10.2, '{"type":"system"}'),)),
        Connection("c", "ws://127.0.0.1:8002/ws/echo", (Frame("send", 10.3, b"\x01\x02"),)),
    )
)


def test_one_frame_a_line_in_the_order_of_their_times() -> None:
    lines = [json.loads(line) for line in write_jsonl(SESSION).split("\n")[:-1]]
    assert [(line["conn"], line["time"]) for line in lines] == [
        ("a", 10.0),
        ("b", 10.2),
        ("c", 10.3),
        ("a", 10.5),
        ("a", 10.6),
    ]
    assert lines[3] == {
        "conn": "a",
        "url": ROOM,
        "direction": "send",
        "time": 10.5,
        "request_id": "r1",
        "data": '{"action":"echo","request_id":"r1"}',
    }
    assert (lines[2]["opcode"], lines[2]["data"]) == (2, "AQI=")
    assert "request_id" not in lines[0]


def test_a_round_trip_keeps_every_frame_and_the_connections_order() -> None:
    assert read_jsonl(write_jsonl(SESSION)) == SESSION


def test_read_session_tells_the_files_apart_by_name_then_by_content() -> None:
    har, jsonl = write_har(SESSION), write_jsonl(SESSION)
    frames = [(c.name, c.frames) for c in SESSION.connections]
    for text, name in [(har, "x.HAR"), (har, "x.txt"), (jsonl, "x.ndjson"), (jsonl, "x")]:
        assert [(c.name, c.frames) for c in read_session(text, name).connections] == frames
    one_line = write_jsonl(Session(SESSION.connections[2:]))
    assert read_session(one_line, "saved").connections[0].name == "c"  # one object, no log
    with pytest.raises(SessionFileError, match=r"x\.har: not JSON"):
        read_session(jsonl, "x.har")


def test_a_frame_s_request_id_comes_from_its_json() -> None:
    assert request_id_of('{"request_id": 7}') == 7
    assert request_id_of('{"request_id": "a"') is None  # not JSON
    assert request_id_of('["request_id"]') is None
    assert request_id_of(b'{"request_id": 7}') is None


LINE = {"conn": "1", "url": ROOM, "direction": "send", "time": 1.5, "data": "x"}


def line(**changes: object) -> str:
    return json.dumps({**LINE, **changes})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "s.jsonl: no frames (one JSON object a line)"),
        (f"{line()}\n{{oops\n", "s.jsonl: line 2: not JSON (Expecting property name"),
        (f"\n{line()}\n[1]\n", "s.jsonl: line 3: not a JSON object"),
        (line(conn=None), "s.jsonl: line 1: conn must be a non-empty string or a number"),
        (line(conn=True), "s.jsonl: line 1: conn must be a non-empty string or a number"),
        (line(url=None), "s.jsonl: line 1: the first line of connection 1 needs its url"),
        (line(url=7), "s.jsonl: line 1: url must be a string"),
        (line(url="localhost:8002/ws"), "s.jsonl: line 1: 'localhost:8002/ws' is not a ws://"),
        (
            f"{line()}\n{line(url='ws://other:1/ws')}",
            f"s.jsonl: line 2: connection 1 has another url ({ROOM}) on an earlier line",
        ),
        (line(direction="in"), "s.jsonl: line 1: direction must be 'send' or 'receive', not 'in'"),
        (line(time="1.5"), "s.jsonl: line 1: time must be a number (seconds since the epoch)"),
        (line(time=True), "s.jsonl: line 1: time must be a number"),
        (
            '{"conn":1,"url":"ws://h:1/","direction":"send","time":NaN,"data":""}',
            "s.jsonl: line 1: time must be",
        ),
        (line(data={"action": "echo"}), "s.jsonl: line 1: data must be a string"),
        (line(opcode=8), "s.jsonl: line 1: opcode must be 1 (text) or 2 (binary), not 8"),
        (line(opcode=True), "s.jsonl: line 1: opcode must be 1 (text) or 2 (binary), not True"),
        (line(opcode=2, data="%%%"), "s.jsonl: line 1: a binary frame's data must be base64"),
    ],
)
def test_a_bad_file_names_the_line(text: str, error: str) -> None:
    with pytest.raises(SessionFileError) as raised:
        read_jsonl(text, "s.jsonl")
    assert str(raised.value).startswith(error), str(raised.value)


def test_later_lines_may_leave_the_url_out_and_unknown_fields_are_ignored() -> None:
    text = f"{line(conn=1)}\n" + json.dumps(
        {"conn": 1, "direction": "receive", "time": 2, "data": "y", "channel": "room"}
    )
    (connection,) = read_jsonl(text).connections
    assert (connection.name, connection.url) == ("1", ROOM)
    assert connection.frames == (Frame("send", 1.5, "x"), Frame("receive", 2.0, "y"))
    assert [f.opcode for f in connection.frames] == [1, 1]
    assert connection.sent() == [connection.frames[0]]
    assert connection.received() == [connection.frames[1]]
