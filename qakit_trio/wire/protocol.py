"""Wire messages of the envelope protocol on `/ws`: parsing requests, building frames.

This module is pure: it imports neither trio nor quart and does no I/O, so every rule of the
protocol is tested without an event loop (tests/wire/test_protocol.py). The `ts` and ids it
puts on frames come from stamps.py (the wall clock, or the deterministic one).

A request is a JSON object `{"action": str, "payload": object, "request_id": str | number}`.
Parsing happens in two steps because of one rule: every text that parses as a JSON *object* is
acknowledged before anything else, even when it then turns out to be a bad request.

1. `decode_object(text)` -> the object, or `ProtocolError` (`invalid_json`, `invalid_message`);
2. `ack(request_id_of(obj, ...))` goes out;
3. `parse_request(obj, request_id)` -> `Request`, or `ProtocolError` answered after the ack.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from qakit_trio.errors import ErrorCode, ProtocolError
from qakit_trio.wire.compact_json import compact_encoder
from qakit_trio.wire.stamps import frame_ts

__all__ = [
    "ErrorCode",
    "ProtocolError",  # defined in errors.py, part of the wire contract
]

Message = dict[str, Any]  # one JSON message (what a text frame carries); wire bytes: framing.Frame
RequestId = str | int | float

MAX_CHANNEL_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    payload: dict[str, Any]
    request_id: RequestId


# One encoder and one decoder for the whole process: json.dumps/json.loads with options build
# a new one per call, which shows up in profiles at one call per frame (and the encoder's C
# part is made once too: compact_json.py).
_ENCODE = compact_encoder()


def encode(frame: Message) -> str:
    """One frame as compact JSON text; non-ASCII text stays readable in DevTools."""
    return _ENCODE(frame)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


# How deep a message may nest. Every frame the server sends wraps a payload in two more levels
# (an event's `extra`), and json's encoder gives up near 1000: 64 is far from both, and more
# than any real request needs.
MAX_DEPTH = 64


def decode_json(text: str) -> Any:
    """Parse one message with the rule every door applies (/ws, /ws/orders, REST bodies).

    Refused as `invalid_json`: text that is not JSON, `NaN` / `Infinity` / numbers out of
    range, nesting deeper than MAX_DEPTH, and `\\u` escapes that do not make a Unicode
    character (a lone UTF-16 surrogate such as `"\\ud800"`): nothing that could not be stored,
    sent back in a frame or written to a log line ever gets past this function.
    """
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "JSON is nested too deeply") from None
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise ProtocolError(ErrorCode.INVALID_JSON, f"not valid JSON: {error}") from None
    # Cheap tests first (one C-level scan each): only a \u escape can make a lone surrogate (the
    # text itself is valid UTF-8, the WebSocket layer checked it), and nesting deeper than
    # MAX_DEPTH needs more than MAX_DEPTH brackets.
    if "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        _check_text_and_depth(value)
    return value


def _check_text_and_depth(value: Any) -> None:
    """Walk a decoded value (iteratively: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_unicode(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ProtocolError(
                    ErrorCode.INVALID_JSON, f"JSON is nested deeper than {MAX_DEPTH} levels"
                )
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_unicode(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise ProtocolError(
            ErrorCode.INVALID_JSON,
            f"not valid JSON text: \\u{ord(bad):04x} is half of a UTF-16 surrogate pair, "
            "not a Unicode character",
        ) from None


def decode_object(text: str) -> dict[str, Any]:
    """Parse one text frame (decode_json's rule); it must be a JSON object."""
    value = decode_json(text)
    if not isinstance(value, dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"a request must be a JSON object, got {_json_type(value)}",
        )
    return value


def is_request_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value))


def request_id_of(obj: dict[str, Any], assign: Callable[[], str]) -> RequestId:
    """The client's `request_id` verbatim, or a server-assigned one when it is absent or bad."""
    value = obj.get("request_id")
    return cast(RequestId, value) if is_request_id(value) else assign()


def parse_request(obj: dict[str, Any], request_id: RequestId) -> Request:
    """Check the envelope of an already acknowledged object (the action itself is not looked up)."""
    if (
        "request_id" in obj
        and obj["request_id"] is not None
        and not is_request_id(obj["request_id"])
    ):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"request_id must be a string or a number, got {_json_type(obj['request_id'])}; "
            f"this request was given the id {request_id!r}",
            field="request_id",
        )
    if "action" not in obj or obj["action"] is None:
        raise unknown_action(None)
    action = obj["action"]
    if not isinstance(action, str):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"action must be a string, got {_json_type(action)}",
            field="action",
        )
    payload = obj.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"payload must be a JSON object, got {_json_type(payload)}",
            field="payload",
        )
    return Request(action=action, payload=payload, request_id=request_id)


def unknown_action(raw_action: object) -> ProtocolError:
    if raw_action is None:
        message = "the request has no action"
    else:
        message = f"unknown action {raw_action!r}"
    return ProtocolError(ErrorCode.UNKNOWN_ACTION, message, raw_action=raw_action)


def require_str(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str):
        got = "" if value is None else f", got {_json_type(value)}"
        raise validation_error(field, f"payload.{field} is required and must be a string{got}")
    return value


def validation_error(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, message, field=field)


def require_int(
    payload: dict[str, Any],
    field: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer field: a JSON integer, not a string, a float or a boolean (never coerced)."""
    value = payload.get(field)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        got = "" if value is None else f", got {_json_type(value)}"
        required = "is required and " if default is None else ""
        raise validation_error(field, f"payload.{field} {required}must be an integer{got}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise validation_error(field, f"payload.{field} must be between {minimum} and {maximum}")
    return value


def channel_problem(name: str) -> str | None:
    """Why `name` is not a valid channel name, or None. Rule: 1-64 printable, non-space chars."""
    if not name:
        return "channel name is empty"
    if len(name) > MAX_CHANNEL_LENGTH:
        return f"channel name is longer than {MAX_CHANNEL_LENGTH} characters"
    for char in name:
        if char.isspace() or not char.isprintable():
            return f"channel name contains whitespace or a control character ({char!r})"
    return None


def channel_from_query(raw: str | None, default: str) -> tuple[str, str | None]:
    """The channel a request asks for (empty or absent: the default) and what is wrong with it."""
    channel = raw or default
    return channel, channel_problem(channel)


def invalid_channel(channel: str, problem: str) -> dict[str, str]:
    """The body of the 400 a bad channel gets (before any WebSocket is accepted)."""
    return {
        "error": "invalid_channel",
        "detail": f"{problem}; rule: 1-64 printable characters, no whitespace",
        "channel": channel,
    }


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- frames the server sends ----------------------------------------------------------------


def connected(
    channel: str, connection_id: str, user: str | None = None, role: str | None = None
) -> Message:
    """The hello frame; with QAKIT_AUTH=on it says who the client is (`user`, `role`)."""
    frame: Message = {
        "type": "system",
        "message": f"connected to '{channel}'",
        "channel": channel,
        "connection_id": connection_id,
    }
    if user is not None:
        frame["user"], frame["role"] = user, role
    frame["ts"] = frame_ts()
    return frame


def ack(request_id: RequestId) -> Message:
    return {"type": "ack", "request_id": request_id, "ts": frame_ts()}


def echo(request_id: RequestId, data: dict[str, Any]) -> Message:
    return {"type": "echo", "request_id": request_id, "data": data, "ts": frame_ts()}


def step(request_id: RequestId, number: int, message: str) -> Message:
    return {
        "type": "step",
        "step": number,
        "message": message,
        "request_id": request_id,
        "ts": frame_ts(),
    }


def event(name: str, request_id: RequestId | None, extra: Any, event_id: str) -> Message:
    return {
        "type": "event",
        "name": name,
        "request_id": request_id,
        "ts": frame_ts(),
        "extra": extra,
        "event_id": event_id,
    }


def channel_message(
    channel: str, message: str, request_id: RequestId, sender: str, from_user: str | None = None
) -> Message:
    """What every member of a channel receives from the `broadcast` action (with
    QAKIT_AUTH=on, `from_user`: who sent it)."""
    frame: Message = {
        "type": "message",
        "channel": channel,
        "message": message,
        "request_id": request_id,
        "from": sender,
    }
    if from_user is not None:
        frame["from_user"] = from_user
    frame["ts"] = frame_ts()
    return frame


def rest_broadcast(channel: str, message: str, from_user: str | None = None) -> Message:
    """What every member of a channel receives from `POST /broadcast` (with QAKIT_AUTH=on,
    `from_user`: who sent it)."""
    frame: Message = {"type": "broadcast", "channel": channel, "message": message}
    if from_user is not None:
        frame["from_user"] = from_user
    frame["ts"] = frame_ts()
    return frame


def data(kind: str, request_id: RequestId, value: Any) -> Message:
    """A data frame: {"type": kind, "request_id", "data", "ts"} (`order`, `orders`)."""
    return {"type": kind, "request_id": request_id, "data": value, "ts": frame_ts()}


def token_expiring(expires_in_ms: int) -> Message:
    """QAKIT_AUTH=on: the connection's token expires in `expires_in_ms` (sessions/expiry.py)."""
    return {
        "type": "system",
        "event": "token_expiring",
        "expires_in_ms": expires_in_ms,
        "ts": frame_ts(),
    }


def token(request_id: RequestId, expires_at: str | None) -> Message:
    """The `refresh` action's data frame: when the connection's new token expires (UTC,
    ISO-8601 like `ts`; None: never, the teacher's own token)."""
    return {"type": "token", "request_id": request_id, "expires_at": expires_at, "ts": frame_ts()}


def error(request_id: RequestId | None, failure: ProtocolError) -> Message:
    return {
        "type": "error",
        "request_id": request_id,
        "error": str(failure.code),
        "message": failure.message,
        **failure.details,
        "ts": frame_ts(),
    }


LOGGED_KEYS = ("type", "request_id", "error_code")  # the fields logged_values gives, in order


def logged_values(frame: Message) -> tuple[Any, Any, Any]:
    """What a frame's `frame out` log line says of it: its type, request id and error code
    (the envelope's keys, which the qa_kit and legacy frames share; ws/connection.py asks the
    session, and knows none of them), in LOGGED_KEYS' order (None: absent)."""
    kind = frame.get("type")
    return kind, frame.get("request_id"), frame.get("error") if kind == "error" else None
