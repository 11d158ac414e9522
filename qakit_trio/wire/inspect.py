"""The inspector's messages (`/ws/_inspect`, web/inspector.py). Pure: no trio, no quart.

Client -> server, one kind:
    {"watch": {}}                                  everything
    {"watch": {"hub": "/ws", "channel": "NAME"}}   one channel (hub: "/ws" or "/ws/orders")
    {"watch": {"conn": "CONNECTION_ID"}}           one connection: its frames, and what is
                                                   published to its channel
Server -> client:
    {"type": "watching", "watch": {...}}           the filter now in force
    {"type": "connections", "ts", "total", "connections": [row, ...], "dropped"}   every second
        row: {"id", "hub", "channel", "protocol", "connected_s", "frames_in", "frames_out",
              "queued_frames", "queued_bytes", "last_heard_s", "channels", "subscriptions"}
        channels: [{"channel", "join_leave"}, ...] its subscriptions (the first 8),
        subscriptions: how many it has; `channel` is the URL's
    {"type": "frames", "frames": [frame, ...], "dropped"}   as traffic passes
    {"type": "error", "error", "detail"}           a message it could not use

A frame: {"dir": "in"|"out"|"publish", "hub", "channel", "conn", "ts", "t", "size", "text",
"truncated", "binary", "type", "action", "request_id", "event_id", "delivered"}: `t` is the
server's monotonic clock in seconds (for "time since the request"), `ts` the wall clock.
`dropped` counts the frames this inspector lost because it fell behind (never the stand's).
"""

from __future__ import annotations

import json
from typing import Any

from qakit_trio.errors import ProtocolError
from qakit_trio.wire.protocol import decode_json

HUBS = ("/ws", "/ws/orders")
TEXT_MAX = 4096  # characters of a frame's text an inspector is sent (the size says the rest)
PARSE_MAX = 64 * 1024  # frames longer than this are not parsed for their ids


def describe(
    direction: str,
    hub: str,
    channel: str,
    conn: str | None,
    text: str | bytes,
    at: float,
    ts: str,
    delivered: int | None,
    size: int | None = None,
) -> dict[str, Any]:
    """One tapped frame as the inspector shows it, with the ids a trainee follows. `size`:
    the frame's size in bytes when `text` is only its start (a frame over PARSE_MAX)."""
    binary = isinstance(text, bytes)
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    row: dict[str, Any] = {
        "dir": direction,
        "hub": hub,
        "channel": channel,
        "conn": conn,
        "ts": ts,
        "t": round(at, 6),
        "size": size
        if size is not None
        else len(text if binary else shown.encode("utf-8", "surrogatepass")),
        "text": shown[:TEXT_MAX],
        "truncated": size is not None or len(shown) > TEXT_MAX,
        "binary": binary,
        "type": None,
        "action": None,
        "request_id": None,
        "event_id": None,
        "delivered": delivered,
    }
    if binary or size is not None or len(text) > PARSE_MAX:
        return row
    try:
        value = decode_json(shown)  # the rule of every door: no recursion on "[[[[..."
    except ProtocolError:
        return row
    if isinstance(value, dict):
        for key in ("type", "action", "request_id", "event_id"):
            found = value.get(key)
            if isinstance(found, str | int | float) and not isinstance(found, bool):
                row[key] = found
    return row


def parse_watch(text: str | bytes) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(the filter, None) or (None, an error message)."""
    if isinstance(text, bytes):
        return None, error("invalid_message", 'send text: a JSON object such as {"watch": {}}')
    try:
        message = decode_json(text)
    except ProtocolError:
        return None, error("invalid_json", 'send JSON such as {"watch": {}}')
    watch = message.get("watch") if isinstance(message, dict) else None
    if not isinstance(watch, dict):
        return None, error(
            "invalid_message",
            'the only message is {"watch": {...}}: '
            '{} for everything, {"hub": "/ws", "channel": NAME} or '
            '{"conn": ID}',
        )
    if any(not isinstance(v, str) or not v for v in watch.values()):
        return None, error("invalid_watch", "hub, channel and conn are non-empty strings")
    keys = set(watch)
    if keys == {"conn"} or not keys:
        return dict(watch), None
    if keys == {"hub", "channel"} or keys == {"channel"}:
        hub = watch.get("hub", "/ws")
        if hub not in HUBS:
            return None, error("invalid_watch", f"hub must be one of {', '.join(HUBS)}")
        return {"hub": hub, "channel": watch["channel"]}, None
    return None, error(
        "invalid_watch", f"unknown keys {sorted(keys)}: use hub and channel, or conn, or nothing"
    )


def watching(watch: dict[str, str]) -> dict[str, Any]:
    return {"type": "watching", "watch": watch}


def connections(rows: list[dict[str, Any]], total: int, ts: str, dropped: int) -> dict[str, Any]:
    return {
        "type": "connections",
        "ts": ts,
        "total": total,
        "connections": rows,
        "dropped": dropped,
    }


def frames(rows: list[dict[str, Any]], dropped: int) -> dict[str, Any]:
    return {"type": "frames", "frames": rows, "dropped": dropped}


def frames_text(rows: list[str], dropped: int) -> str:
    """`encode(frames(...))` of rows already encoded (each frame is encoded once, for every
    inspector that shows it)."""
    return f'{{"type":"frames","frames":[{",".join(rows)}],"dropped":{dropped}}}'


def connections_head(rows: list[dict[str, Any]], total: int, ts: str) -> str:
    """`encode(connections(...))` up to its `dropped` value: the table is built and encoded
    once for every inspector, and each adds its own count and the closing brace."""
    return encode(connections(rows, total, ts, 0)).removesuffix("0}")


def error(code: str, detail: str) -> dict[str, str]:
    return {"type": "error", "error": code, "detail": detail}


def encode(message: dict[str, Any]) -> str:
    """ASCII JSON: a frame's text may hold anything a client sent, and JSON's escapes carry
    even a lone surrogate safely to the browser."""
    return json.dumps(message, separators=(",", ":"), default=str)
