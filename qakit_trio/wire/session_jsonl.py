"""A recorded session as JSON lines, and reading either file. Pure: no trio, no quart, no
I/O (tests/wire/test_session_jsonl.py).

One frame a line, every connection's in the order they passed:
`{"conn": "1", "url": "ws://...", "direction": "send"|"receive", "time": <epoch seconds>,
"request_id": <its request_id, if any>, "data": <text>}`, plus `"opcode": 2` (data in base64)
for a binary frame. `url` is required on a connection's first line (and, when repeated, must be
the same); `request_id` is for people and grep (the reader ignores it), and so are fields of
other names. Blank lines are skipped.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from qakit_trio.wire.session_har import read_har
from qakit_trio.wire.sessions import (
    BINARY,
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
    in_time_order,
    request_id_of,
)


def read_session(text: str, name: str = "session") -> Session:
    """Read a HAR or a JSON-lines file: by its name's suffix (.har; .jsonl, .ndjson), else by
    its content (one JSON object with a `log` is a HAR)."""
    lowered = name.lower()
    if lowered.endswith(".har"):
        return read_har(text, name)
    if lowered.endswith((".jsonl", ".ndjson")):
        return read_jsonl(text, name)
    try:
        whole = json.loads(text)
    except ValueError:
        return read_jsonl(text, name)
    if isinstance(whole, dict) and "log" in whole:
        return read_har(text, name)
    return read_jsonl(text, name)


def read_jsonl(text: str, name: str = "session.jsonl") -> Session:
    urls: dict[str, str] = {}
    frames: dict[str, list[Frame]] = {}
    for number, line in enumerate(text.split("\n"), 1):  # (not splitlines: U+2028 is text)
        if not line.strip():
            continue
        where = f"{name}: line {number}"
        try:
            record = json.loads(line)
        except ValueError as error:
            raise SessionFileError(f"{where}: not JSON ({error})") from None
        if not isinstance(record, dict):
            raise SessionFileError(f"{where}: not a JSON object")
        conn = record.get("conn")
        if isinstance(conn, bool) or not isinstance(conn, str | int) or conn == "":
            raise SessionFileError(f"{where}: conn must be a non-empty string or a number")
        conn = str(conn)
        url = record.get("url")
        if url is not None:
            if not isinstance(url, str):
                raise SessionFileError(f"{where}: url must be a string")
            check_url(url, where)
            if urls.setdefault(conn, url) != url:
                raise SessionFileError(
                    f"{where}: connection {conn} has another url ({urls[conn]}) on an earlier line"
                )
        elif conn not in urls:
            raise SessionFileError(f"{where}: the first line of connection {conn} needs its url")
        opcode = check_opcode(record.get("opcode", TEXT), where)
        data = record.get("data")
        if not isinstance(data, str):
            raise SessionFileError(f"{where}: data must be a string")
        frame = Frame(
            check_direction(record.get("direction"), where, "direction"),
            check_time(record.get("time"), where),
            frame_payload(data, opcode, where),
        )
        frames.setdefault(conn, []).append(frame)
    if not urls:
        raise SessionFileError(f"{name}: no frames (one JSON object a line)")
    return Session(
        tuple(Connection(conn, urls[conn], tuple(frames.get(conn, ()))) for conn in urls)
    )


def write_jsonl(session: Session) -> str:
    """The session as JSON lines, every connection's frames in the order of their times
    (a connection's own in its order), `url` on each line."""
    lines = []
    for _, _, connection, frame in in_time_order(session):
        record: dict[str, Any] = {
            "conn": connection.name,
            "url": connection.url,
            "direction": frame.direction,
            "time": frame.time,
        }
        request_id = request_id_of(frame.data)
        if request_id is not None:
            record["request_id"] = request_id
        if isinstance(frame.data, bytes):
            record["opcode"] = BINARY
            record["data"] = base64.b64encode(frame.data).decode("ascii")
        else:
            record["data"] = frame.data
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return "".join(f"{line}\n" for line in lines)
