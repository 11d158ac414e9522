"""Recorded WebSocket sessions: the model both session files read into. Pure: no trio, no
quart, no I/O (tests/wire/test_session_har.py, test_session_jsonl.py).

A session is its connections, each with its URL and its frames in the order they passed, each
frame with its direction (`send`: client to server, `receive`: server to client), its time
(seconds since the epoch) and its data (text, or bytes for a binary frame). The files: HAR 1.2
(session_har.py, as Chrome DevTools saves it) and JSON lines (session_jsonl.py, which also
reads either by its name or content: `read_session`). A file that cannot be read raises
SessionFileError, naming the line or the entry and the message at fault.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Direction = Literal["send", "receive"]
DIRECTIONS: tuple[Direction, ...] = ("send", "receive")
TEXT, BINARY = 1, 2
CONTROL_OPCODES = (8, 9, 10)  # close, ping, pong: skipped where a tool kept them


class SessionFileError(ValueError):
    """A session file that cannot be read: the message names where and why."""


@dataclass(frozen=True)
class Frame:
    direction: Direction
    time: float  # seconds since the epoch
    data: str | bytes  # bytes: a binary frame

    @property
    def opcode(self) -> int:
        return BINARY if isinstance(self.data, bytes) else TEXT


@dataclass(frozen=True)
class Connection:
    name: str  # "1", "2", ... or what the file calls it
    url: str  # ws://HOST:PORT/PATH?QUERY
    frames: tuple[Frame, ...]
    started: float | None = None  # when the handshake began, where the file says

    @property
    def opened_at(self) -> float:
        """When the connection opened: its start, else its first frame (else 0)."""
        if self.started is not None:
            return self.started
        return self.frames[0].time if self.frames else 0.0

    def sent(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.direction == "send"]

    def received(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.direction == "receive"]


@dataclass(frozen=True)
class Session:
    connections: tuple[Connection, ...]

    def frame_count(self) -> int:
        return sum(len(connection.frames) for connection in self.connections)


def request_id_of(data: str | bytes) -> object:
    """The `request_id` of a frame that is a JSON object with one, else None."""
    if isinstance(data, bytes) or not data.startswith("{"):
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value.get("request_id") if isinstance(value, dict) else None


def check_direction(value: object, where: str, field: str) -> Direction:
    for direction in DIRECTIONS:
        if value == direction:
            return direction
    raise SessionFileError(f"{where}: {field} must be 'send' or 'receive', not {value!r}")


def check_opcode(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in (TEXT, BINARY):
        return value
    raise SessionFileError(f"{where}: opcode must be 1 (text) or 2 (binary), not {value!r}")


def check_time(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SessionFileError(f"{where}: time must be a number (seconds since the epoch)")
    return float(value)


def frame_payload(data: str, opcode: int, where: str) -> str | bytes:
    if opcode == TEXT:
        return data
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SessionFileError(f"{where}: a binary frame's data must be base64") from None


def check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise SessionFileError(f"{where}: {url!r} is not a ws:// or wss:// URL")


def unique_names(connections: list[Connection]) -> tuple[Connection, ...]:
    """The connections, renamed 1, 2, ... if the file's names are not unique."""
    if len({connection.name for connection in connections}) == len(connections):
        return tuple(connections)
    return tuple(
        Connection(str(number), c.url, c.frames, c.started)
        for number, c in enumerate(connections, 1)
    )


def in_time_order(session: Session) -> list[tuple[float, int, Connection, Frame]]:
    """Every connection's frames by time (a connection's own kept in its order)."""
    merged: list[tuple[float, int, Connection, Frame]] = []
    for connection in session.connections:
        latest = -math.inf
        for frame in connection.frames:
            latest = max(latest, frame.time)  # never before the connection's earlier frame
            merged.append((latest, len(merged), connection, frame))
    return sorted(merged, key=lambda item: (item[0], item[1]))
