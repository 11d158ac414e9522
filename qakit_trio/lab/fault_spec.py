"""The `fault` field of a /ws request: what a trainee asks to go wrong with this request's
replies, to practise waiting and correlation. Pure: parsing and checking only (no I/O).

    {"action": "echo", "request_id": "r1",
     "fault": {"delay_ms": 60000,           # the data and event frames come this much later
               "drop": ["ack"],             # kinds not sent at all: "ack", "data", "event"
               "duplicate": ["event"],      # kinds sent twice
               "reorder": true,             # this request's frames after the ack, last first
               "fragment": 4,               # each reply frame as 4 WebSocket fragments
               "close": 4000,               # then the server closes with this code:
                                            # 1000, 1001, 1008, 1011 or 3000-4999
               "disconnect_after_ms": 500}} # the TCP connection dropped this much later,
                                            # no close frame (1006): a lost Wi-Fi

A bad `fault` is a `validation_error` naming the field (`fault.delay_ms`, ...), after the ack.
`delay_ms` and `disconnect_after_ms` are at most MAX_DELAY_MS (60 s); how many delayed replies
(and pending disconnects) a connection may hold: ws/delayed.py. A fault of nothing but
`disconnect_after_ms` leaves the replies as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qakit_trio.errors import ErrorCode, ProtocolError

KINDS = ("ack", "data", "event")
MAX_DELAY_MS = 60_000
# Close codes a trainee may ask for: the RFC 6455 codes that fit a server closing on purpose,
# and the registered and private ranges (3000-4999). Not the other 10xx codes (each reports a
# failure that did not happen, or is never sent in a close frame) nor 1016-2999 (unassigned:
# a client fails the connection with 1002 on them).
CLOSE_CODES = frozenset({1000, 1001, 1008, 1011})
CLOSE_RANGE = (3000, 4999)
FIELDS = ("delay_ms", "drop", "duplicate", "reorder", "fragment", "close", "disconnect_after_ms")


@dataclass(frozen=True, slots=True)
class Fault:
    delay_ms: int = 0
    drop: frozenset[str] = frozenset()
    duplicate: frozenset[str] = frozenset()
    reorder: bool = False
    fragment: int = 1
    close: int | None = None
    disconnect_after_ms: int | None = None

    @property
    def only_disconnect(self) -> bool:
        """Nothing but `disconnect_after_ms`: the replies go out as they would without it."""
        return self == Fault(disconnect_after_ms=self.disconnect_after_ms)


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.VALIDATION_ERROR, f"fault.{field}: {message}", field=f"fault.{field}"
    )


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
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR, "fault must be a JSON object", field="fault"
        )
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise _invalid(unknown[0], f"is not a fault ({', '.join(FIELDS)})")
    reorder = value.get("reorder", False)
    if not isinstance(reorder, bool):
        raise _invalid("reorder", "must be true or false")
    close = value.get("close")
    if close is not None and (
        isinstance(close, bool)
        or not isinstance(close, int)
        or (close not in CLOSE_CODES and not CLOSE_RANGE[0] <= close <= CLOSE_RANGE[1])
    ):
        raise _invalid(
            "close",
            "must be 1000, 1001, 1008, 1011 or a whole number from "
            f"{CLOSE_RANGE[0]} to {CLOSE_RANGE[1]}",
        )
    return Fault(
        delay_ms=_whole(value, "delay_ms", 0, MAX_DELAY_MS) or 0,
        drop=_kinds(value, "drop"),
        duplicate=_kinds(value, "duplicate"),
        reorder=reorder,
        fragment=_whole(value, "fragment", 2, 16) or 1,
        close=close,
        disconnect_after_ms=_whole(value, "disconnect_after_ms", 0, MAX_DELAY_MS),
    )


def kind_of(frame: dict[str, Any]) -> str:
    """ack, event, or data (everything else a request is answered with)."""
    kind = frame.get("type")
    return kind if kind in ("ack", "event") else "data"
