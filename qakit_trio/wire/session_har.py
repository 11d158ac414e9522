"""A recorded session as HAR 1.2 with `_webSocketMessages`, the form Chrome DevTools saves
("Save all as HAR with content") and HTTP Toolkit and mitmproxy read and write. Pure: no trio,
no quart, no I/O (tests/wire/test_session_har.py).

One entry per connection: its `request.url` the connection's (ws://HOST:PORT/ws?channel=...),
`response.status` 101, `_resourceType` "websocket", and its frames in `_webSocketMessages`:
`{"type": "send"|"receive", "time": <epoch seconds>, "opcode": 1|2, "data": <text, or base64
for opcode 2>}`. Reading, entries without WebSocket messages (a page's HTTP requests) are
skipped, and so are control frames (opcodes 8, 9, 10, which some tools keep); a connection is
named by its entry's `connection` where those are unique, else 1, 2, ... in the order of
the WebSocket entries.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from qakit_trio.wire.sessions import (
    CONTROL_OPCODES,
    TEXT,
    Connection,
    Frame,
    Session,
    SessionFileError,
    check_direction,
    check_opcode,
    check_time,
    check_url,
    frame_payload,
    unique_names,
)

CREATOR = "qakit-trio"


def read_har(text: str, name: str = "session.har") -> Session:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SessionFileError(f"{name}: not JSON ({error}): is it a HAR file?") from None
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise SessionFileError(f"{name}: not a HAR file (no log.entries list)")
    connections: list[Connection] = []
    for index, entry in enumerate(entries, 1):
        where = f"{name}: entry {index}"
        if not isinstance(entry, dict):
            raise SessionFileError(f"{where}: not an object")
        connection = _har_connection(entry, where, len(connections) + 1)
        if connection is not None:
            connections.append(connection)
    if not connections:
        raise SessionFileError(f"{name}: no WebSocket connection (no entry has _webSocketMessages)")
    return Session(unique_names(connections))


def _har_connection(entry: dict[str, Any], where: str, number: int) -> Connection | None:
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    messages = entry.get("_webSocketMessages")
    websocket = entry.get("_resourceType") == "websocket" or messages is not None
    if not websocket:
        return None  # a page's own HTTP request
    if not isinstance(url, str):
        raise SessionFileError(f"{where}: request.url missing")
    where = f"{where} ({url})"
    check_url(url, where)
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise SessionFileError(f"{where}: _webSocketMessages is not a list")
    frames = []
    for index, message in enumerate(messages):
        frame = _har_frame(message, f"{where}: _webSocketMessages[{index}]")
        if frame is not None:
            frames.append(frame)
    label = entry.get("connection")
    return Connection(
        name=label if isinstance(label, str) and label else str(number),
        url=url,
        frames=tuple(frames),
        started=_har_started(entry.get("startedDateTime"), where),
    )


def _har_frame(message: object, where: str) -> Frame | None:
    if not isinstance(message, dict):
        raise SessionFileError(f"{where}: not an object")
    opcode = message.get("opcode", TEXT)
    if opcode in CONTROL_OPCODES and not isinstance(opcode, bool):
        return None
    opcode = check_opcode(opcode, where)
    direction = check_direction(message.get("type"), where, "type")
    data = message.get("data")
    if not isinstance(data, str):
        raise SessionFileError(f"{where}: data must be a string")
    time = check_time(message.get("time"), where)
    return Frame(direction, time, frame_payload(data, opcode, where))


def _har_started(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SessionFileError(f"{where}: startedDateTime must be an ISO 8601 string")
    try:
        started = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SessionFileError(f"{where}: startedDateTime {value!r} is not ISO 8601") from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return started.timestamp()


def write_har(session: Session, version: str = "") -> str:
    """The session as HAR 1.2: one entry per connection, in the order they opened."""
    entries = [
        _har_entry(connection)
        for connection in sorted(session.connections, key=lambda c: c.opened_at)
    ]
    document = {
        "log": {
            "version": "1.2",
            "creator": {"name": CREATOR, "version": version or "0"},
            "pages": [],
            "entries": entries,
        }
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _har_entry(connection: Connection) -> dict[str, Any]:
    started = connection.opened_at
    ended = max([started, *(frame.time for frame in connection.frames)])
    parts = urlsplit(connection.url)
    return {
        "startedDateTime": datetime.fromtimestamp(started, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "time": round((ended - started) * 1000, 3),
        "request": {
            "method": "GET",
            "url": connection.url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [
                {"name": "Host", "value": parts.netloc},
                {"name": "Connection", "value": "Upgrade"},
                {"name": "Upgrade", "value": "websocket"},
                {"name": "Sec-WebSocket-Version", "value": "13"},
            ],
            "queryString": [
                {"name": key, "value": value}
                for key, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 101,
            "statusText": "Switching Protocols",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [
                {"name": "Connection", "value": "Upgrade"},
                {"name": "Upgrade", "value": "websocket"},
            ],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0},
        "connection": connection.name,
        "_resourceType": "websocket",
        "_webSocketMessages": [_har_message(frame) for frame in connection.frames],
    }


def _har_message(frame: Frame) -> dict[str, Any]:
    data = frame.data
    return {
        "type": frame.direction,
        "time": frame.time,
        "opcode": frame.opcode,
        "data": base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data,
    }
