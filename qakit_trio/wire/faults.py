"""The `fault` field of a /ws request: what a trainee asks to go wrong with this request's
replies, to practise waiting and correlation. Pure: parsing and checking only (no I/O).

    {"action": "echo", "request_id": "r1",
     "fault": {"delay_ms": 60000,           # the data and event frames come this much later
               "drop": ["ack"],             # kinds not sent at all: "ack", "data", "event"
               "duplicate": ["event"],      # kinds sent twice
               "reorder": true,             # this request's frames after the ack, last first
               "fragment": 4,               # each reply frame as 4 WebSocket fragments
               "close": 4000}}              # then the server closes with this code

A bad `fault` is a `validation_error` naming the field (`fault.delay_ms`, ...), after the ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qakit_trio.errors import ErrorCode, ProtocolError

KINDS = ("ack", "data", "event")
MAX_DELAY_MS = 60_000
UNSENDABLE_CODES = {1004, 1005, 1006, 1015}  # RFC 6455: never sent in a close frame


@dataclass(frozen=True, slots=True)
class Fault:
    delay_ms: int = 0
    drop: frozenset[str] = frozenset()
    duplicate: frozenset[str] = frozenset()
    reorder: bool = False
    fragment: int = 1
    close: int | None = None


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, f"fault.{field}: {message}",
                         field=f"fault.{field}")


def _whole(spec: dict[str, Any], field: str, low: int, high: int) -> int | None:
    value = spec.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"must be a whole number from {low} to {high}")
    return value


def _kinds(spec: dict[str, Any], field: str) -> frozenset[str]:
    value = spec.get(field, [])
    if not isinstance(value, list) or not all(isinstance(k, str) and k in KINDS for k in value):
        raise _invalid(field, f"must be a list of {', '.join(repr(k) for k in KINDS)}")
    return frozenset(value)


def parse_fault(value: object) -> Fault:
    """The request's `fault`, checked; ProtocolError (validation_error) naming what is wrong."""
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "fault must be a JSON object",
                            field="fault")
    unknown = sorted(set(value) - {"delay_ms", "drop", "duplicate", "reorder", "fragment",
                                   "close"})
    if unknown:
        raise _invalid(unknown[0], "is not a fault (delay_ms, drop, duplicate, reorder, "
                                   "fragment, close)")
    reorder = value.get("reorder", False)
    if not isinstance(reorder, bool):
        raise _invalid("reorder", "must be true or false")
    close = _whole(value, "close", 1000, 4999)
    if close in UNSENDABLE_CODES:
        raise _invalid("close", f"{close} cannot be sent in a close frame (RFC 6455)")
    return Fault(delay_ms=_whole(value, "delay_ms", 0, MAX_DELAY_MS) or 0,
                 drop=_kinds(value, "drop"), duplicate=_kinds(value, "duplicate"),
                 reorder=reorder, fragment=_whole(value, "fragment", 2, 16) or 1, close=close)


def kind_of(frame: dict[str, Any]) -> str:
    """ack, event, or data (everything else a request is answered with)."""
    kind = frame.get("type")
    return kind if kind in ("ack", "event") else "data"
