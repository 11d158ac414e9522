"""Wire messages of `/ws` in the `qa_kit` profile: the original QA Kit stand's frames, field
for field (services/websocket-service/app/main.py of github.com/yugoru/qa_kit). Pure: no trio,
no quart, no I/O (tests/wire/test_qa_kit.py).

    hello   {"type": "system", "message": "connected to 'general'", "ts"}
    ack     {"type": "ack", "request_id", "ts"}       request_id: the client's, or "no-id"
    echo    {"type": "echo", "request_id", "data", "ts"}
    step    {"type": "step", "request_id", "step", "message", "ts"}
    event   {"type": "event", "name", "request_id", "ts", "extra"}       (no event_id)
    message {"type": "message", "channel", "message", "ts"}              (broadcast action)
    order   {"type": "order", "request_id", "data": {id, customer, status, created_at} | null}
    orders  {"type": "orders", "request_id", "data": [{id, customer, status}, ...]}
    error   {"type": "error", "request_id", "message", "ts"}

Differences from our own envelope protocol (protocol.py) are the point of this module: no
`connection_id`, `channel` or `event_id` in frames, "no-id" for a missing (or empty, 0, false)
request_id, any JSON value kept as a request id, `unknown action: X` texts.
"""

from __future__ import annotations

from typing import Any

from qakit_trio.wire.protocol import Message
from qakit_trio.wire.stamps import frame_ts

NO_ID = "no-id"


def request_id_of(obj: dict[str, Any]) -> Any:
    """`msg.get("request_id") or "no-id"`: any truthy JSON value, as the client sent it."""
    return obj.get("request_id") or NO_ID


def hello(channel: str) -> Message:
    return {"type": "system", "message": f"connected to '{channel}'", "ts": frame_ts()}


def ack(request_id: Any) -> Message:
    return {"type": "ack", "request_id": request_id, "ts": frame_ts()}


def echo(request_id: Any, data: Any) -> Message:
    return {"type": "echo", "request_id": request_id, "data": data, "ts": frame_ts()}


def step(request_id: Any, number: int, message: str) -> Message:
    return {
        "type": "step",
        "request_id": request_id,
        "step": number,
        "message": message,
        "ts": frame_ts(),
    }


def event(name: str, request_id: Any, extra: Any) -> Message:
    return {
        "type": "event",
        "name": name,
        "request_id": request_id,
        "ts": frame_ts(),
        "extra": extra,
    }


def channel_message(channel: str, message: Any) -> Message:
    return {"type": "message", "channel": channel, "message": message, "ts": frame_ts()}


def data(kind: str, request_id: Any, value: Any) -> Message:
    return {"type": kind, "request_id": request_id, "data": value, "ts": frame_ts()}


def error(request_id: Any, message: str) -> Message:
    return {"type": "error", "request_id": request_id, "message": message, "ts": frame_ts()}


def unknown_action(action: object) -> str:
    """The original's text: Python's str() of whatever `action` was (None, 5, [1, 2])."""
    return f"unknown action: {action}"
