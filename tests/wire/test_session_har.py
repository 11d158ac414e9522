"""Sessions as HAR 1.2 with `_webSocketMessages`, without an event loop: what the writer
writes, a round trip, a file as Chrome DevTools saves one, and the errors of bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from qakit_trio.wire.session_har import read_har, write_har
from qakit_trio.wire.sessions import Connection, Frame, Session, SessionFileError

HELLO = '{"type":"system","channel":"room"}'
ECHO = '{"action":"echo","payload":{"text":"hi"},"request_id":"r1"}'
SESSION = Session(
    (
        Connection(
            "1",
            "ws://127.0.0.1:8002/ws?channel=room",
            (
                Frame("receive", 1_700_000_000.5, HELLO),
                Frame("send", 1_700_000_000.75, ECHO),
                Frame("send", 1_700_000_001.0, b"\x00\xffbinary"),
            ),
            started=1_700_000_000.25,
        ),
        Connection("2", "ws://127.0.0.1:8002/ws/echo", (Frame("send", 1_700_000_002.0, "x"),)),
    )
)


def test_the_writer_writes_one_websocket_entry_per_connection() -> None:
    document = json.loads(write_har(SESSION, version="0.1.0"))
    log = document["log"]
    assert (log["version"], log["creator"]) == ("1.2", {"name": "qakit-trio", "version": "0.1.0"})
    first, second = log["entries"]
    assert first["startedDateTime"] == "2023-11-14T22:13:20.250Z"
    assert first["time"] == 750.0  # ms from the start to the last frame
    assert first["request"]["url"] == "ws://127.0.0.1:8002/ws?channel=room"
    assert first["request"]["queryString"] == [{"name": "channel", "value": "room"}]
    assert {"name": "Upgrade", "value": "websocket"} in first["request"]["headers"]
    assert (first["response"]["status"], first["_resourceType"]) == (101, "websocket")
    assert first["_webSocketMessages"] == [
        {"type": "receive", "time": 1_700_000_000.5, "opcode": 1, "data": HELLO},
        {"type": "send", "time": 1_700_000_000.75, "opcode": 1, "data": ECHO},
        {"type": "send", "time": 1_700_000_001.0, "opcode": 2, "data": "AP9iaW5hcnk="},
    ]
    # no start of its own: its first frame's time
    assert second["startedDateTime"] == "2023-11-14T22:13:22.000Z"
    for entry in log["entries"]:  # what HAR 1.2 requires of an entry
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(entry)
        assert {"send", "wait", "receive"} <= set(entry["timings"])


def test_a_round_trip_keeps_every_frame() -> None:
    first, second = SESSION.connections
    started = replace(second, started=1_700_000_002.0)  # written: its first frame's time
    assert read_har(write_har(SESSION)) == Session((first, started))


def chrome_har() -> dict[str, Any]:
    """What Chrome DevTools saves: the page's HTTP requests too, a WebSocket entry with the
    socket's connection id, and (from some tools) control frames."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [{"id": "page_1", "title": "playground"}],
            "entries": [
                {
                    "startedDateTime": "2026-11-22T10:00:00.000Z",
                    "request": {"method": "GET", "url": "http://localhost:8002/playground"},
                    "response": {"status": 200},
                },
                {
                    "_resourceType": "websocket",
                    "connection": "81234",
                    "startedDateTime": "2026-11-22T10:00:01.000+00:00",
                    "request": {"method": "GET", "url": "ws://localhost:8002/ws?channel=general"},
                    "response": {"status": 101},
                    "_webSocketMessages": [
                        {"type": "receive", "time": 1795345201.1, "opcode": 1, "data": HELLO},
                        {"type": "send", "time": 1795345201.2, "opcode": 1, "data": ECHO},
                        {"type": "receive", "time": 1795345201.3, "opcode": 9, "data": ""},
                    ],
                },
                {
                    "_resourceType": "websocket",
                    "request": {"method": "GET", "url": "wss://example.test/ws"},
                    "response": {"status": 101},
                },
            ],
        }
    }


def test_a_chrome_har_reads_its_websocket_entries_only() -> None:
    session = read_har(json.dumps(chrome_har()))
    first, second = session.connections
    assert (first.name, first.url, first.started) == (
        "81234",
        "ws://localhost:8002/ws?channel=general",
        datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC).timestamp(),
    )
    assert first.frames == (
        Frame("receive", 1795345201.1, HELLO),
        Frame("send", 1795345201.2, ECHO),
    )  # the ping (opcode 9) left out
    assert (second.name, second.frames) == ("2", ())  # no connection id: its place


def test_connection_names_that_repeat_become_numbers() -> None:
    document = chrome_har()
    entries = document["log"]["entries"]
    entries[2]["connection"] = "81234"
    assert [c.name for c in read_har(json.dumps(document)).connections] == ["1", "2"]


def broken(path: str, value: object) -> str:
    """The Chrome HAR with the WebSocket entry's field at `path` (dotted) set to `value`."""
    document = chrome_har()
    target: Any = document["log"]["entries"][1]
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return json.dumps(document)


AT = "s.har: entry 2 (ws://localhost:8002/ws?channel=general)"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "s.har: not JSON (Expecting property name"),
        ("[]", "s.har: not a HAR file (no log.entries list)"),
        ('{"log": {"entries": [3]}}', "s.har: entry 1: not an object"),
        (broken("request", {}), "s.har: entry 2: request.url missing"),
        (
            broken("request.url", "http://localhost:8002/ws"),
            "s.har: entry 2 (http://localhost:8002/ws): 'http://localhost:8002/ws' is not a "
            "ws:// or wss:// URL",
        ),
        (broken("_webSocketMessages", {}), f"{AT}: _webSocketMessages is not a list"),
        (broken("_webSocketMessages.1", "x"), f"{AT}: _webSocketMessages[1]: not an object"),
        (
            broken("_webSocketMessages.1.type", "outgoing"),
            f"{AT}: _webSocketMessages[1]: type must be 'send' or 'receive', not 'outgoing'",
        ),
        (
            broken("_webSocketMessages.1.opcode", 5),
            f"{AT}: _webSocketMessages[1]: opcode must be 1 (text) or 2 (binary), not 5",
        ),
        (
            broken("_webSocketMessages.1.data", None),
            f"{AT}: _webSocketMessages[1]: data must be a string",
        ),
        (
            broken("_webSocketMessages.0.time", "10:00"),
            f"{AT}: _webSocketMessages[0]: time must be a number (seconds since the epoch)",
        ),
        (
            broken("_webSocketMessages.1.opcode", 2),
            f"{AT}: _webSocketMessages[1]: a binary frame's data must be base64",
        ),
        (broken("startedDateTime", "yesterday"), f"{AT}: startedDateTime 'yesterday' is not ISO"),
        ('{"log": {"entries": []}}', "s.har: no WebSocket connection (no entry has _webSocket"),
    ],
)
def test_a_bad_file_names_the_entry_and_the_message(text: str, error: str) -> None:
    with pytest.raises(SessionFileError) as raised:
        read_har(text, "s.har")
    assert str(raised.value).startswith(error), str(raised.value)
