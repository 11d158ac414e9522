"""Wire messages of the legacy orders protocol on `/ws/orders`, frozen at the original QA Kit
stand's contract byte for byte. Pure: no trio, no quart, no I/O (tests/wire/test_legacy.py).

    {"action": "ping"}                                 -> {"type": "pong"}
    {"action": "create_order", "customer": C}          -> {"type": "result", "action":
                                  "create_order", "order": {"id": 1, "customer": C, "status": S}}
    {"action": "change_status", "order_id": N, "status": S}  -> result, or an error
    {"action": "get_order", "order_id": N}             -> result, or an error
    invalid JSON                                       -> {"type": "error", "error": "invalid_json"}
    anything else                  -> {"type": "error", "error": "unknown_action", "raw_action": A}

Every client also receives every order event: {"type": "order_created" |
"order_status_changed", "order_id", "customer", "status"} (its `event_id` is in the log line
and the Kafka record, never in this frame).

The text is what the original's `json.dumps` wrote: Python's defaults, `", "` and `": "`
separators and non-ASCII as `\\uXXXX` escapes, fields in the order above.
"""

from __future__ import annotations

import json
from typing import Any

Message = dict[str, Any]

# Python's json.dumps defaults, built once (one call per frame).
_ENCODER = json.JSONEncoder()


def encode(message: Message) -> str:
    """One frame's text, exactly as the original stand's `json.dumps(frame)`."""
    return _ENCODER.encode(message)


ACTIONS = frozenset({"ping", "create_order", "change_status", "get_order"})

# The original's error texts, one place.
CUSTOMER_REQUIRED = "customer is required"
CUSTOMER_NOT_TEXT = "customer must be a string"  # the original dropped the connection here
ORDER_ID_REQUIRED = "order_id is required"
ID_AND_STATUS_REQUIRED = "order_id and status are required"
ORDER_ID_NOT_INTEGER = "order_id must be integer"
ORDER_NOT_FOUND = "order not found"


def pong() -> Message:
    return {"type": "pong"}


def result(action: str, order: Message) -> Message:
    return {"type": "result", "action": action, "order": order}


def error(error: str, *, action: str | None = None, **more: Any) -> Message:
    """{"type": "error", "action"?, "error", ...}: the original's field order."""
    frame: Message = {"type": "error"}
    if action is not None:
        frame["action"] = action
    frame["error"] = error
    frame.update(more)
    return frame


def unknown_action(action: object) -> Message:
    return {"type": "error", "error": "unknown_action", "raw_action": action}


def order_event(event_type: str, order_id: int, customer: str, status: str) -> Message:
    return {"type": event_type, "order_id": order_id, "customer": customer, "status": status}


def as_order_id(value: object) -> int | None:
    """`order_id` as the original read it, `int(value)`: 2, "2", " 2 ", 2.9 (-> 2) and true
    (-> 1) are order ids; "2.5", "abc", lists and objects are not (None)."""
    try:
        number: int = int(value)  # type: ignore[call-overload]  # Python's rule, on purpose
        return number
    except (TypeError, ValueError, OverflowError):
        return None


def customer_text(value: object) -> str | None:
    """A truthy `customer` as the original stored it in its text column: strings as they are,
    numbers and booleans as PostgreSQL writes them (123 -> "123", true -> "true"); None for
    lists and objects (the original's database driver failed on them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def transition_refused(old: str, new: object) -> str:
    """The original's text for a status it does not allow, whatever `new` is."""
    return f"Cannot change status from '{old}' to '{new}'"
