"""The messages of the WebSocket protocols, as JSON Schema, for the AsyncAPI document
(asyncapi.py): the `Message` record, the schemas every protocol shares (timestamps, ids,
orders), `frame()` and `object_schema()` to build one, and /ws/echo's one message. Each
protocol's messages are in their own module: asyncapi_envelope.py (/ws), asyncapi_qa_kit.py
(/ws in the qa_kit profile), asyncapi_legacy.py (/ws/orders).

Frames are built in wire/protocol.py, wire/qa_kit.py and wire/legacy.py; the suite checks every
frame its end-to-end tests receive against these schemas (tests/support/contract.py), so a frame
and its schema cannot drift apart.

`Message(name, title, summary, payload, examples)`: examples are payloads; a client's examples
are sent to a live server by the suite and must be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qakit_trio.domain.orders import MAX_CUSTOMER_LENGTH, Status

Schema = dict[str, Any]


@dataclass(frozen=True)
class Message:
    name: str
    title: str
    summary: str
    payload: Schema
    examples: list[Any] = field(default_factory=list)


TS: Schema = {
    "type": "string",
    "format": "date-time",
    "description": "UTC, ISO-8601, microseconds: 2026-11-22T10:00:00.123456+00:00. "
    "When the stand queued this frame for this connection; a frame "
    "published to a channel (a broadcast, an order event) carries when "
    "it was published, the same for every client that gets it. So ts "
    "never decreases in the order frames arrive on one connection, "
    "with the lab's faults too: a delayed, duplicated or reordered "
    "frame carries when it was actually queued (a reordering shows in "
    "the frame types, not in ts)",
}
REQUEST_ID: Schema = {
    "description": "The client's own id, verbatim (a string or a number), or one the server "
    "assigns: srv-<connection_id>-<n>, n counting the connection's requests",
    "oneOf": [{"type": "string"}, {"type": "number"}],
}
EVENT_ID: Schema = {
    "type": "string",
    "format": "uuid",
    "description": "The same id in the log line and the Kafka record",
}
STATUS: Schema = {"type": "string", "enum": [str(s) for s in Status]}
CUSTOMER: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOMER_LENGTH}
ORDER: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "customer", "status", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "customer": {"type": "string"},
        "status": {"type": "string"},
        "created_at": {"type": ["string", "null"]},
        "updated_at": {"type": ["string", "null"]},
    },
}
ORDER_SUMMARY: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "customer", "status"],
    "properties": {
        "id": {"type": "integer"},
        "customer": {"type": "string"},
        "status": {"type": "string"},
    },
}
RETRY_AFTER_MS: Schema = {
    "type": "integer",
    "minimum": 1,
    "description": "rate_limited: try again after this many milliseconds",
}
EVENT_NAMES = [
    "ws.echo",
    "ws.triplet_demo",
    "ws.broadcast",
    "ws.subscribe",
    "ws.unsubscribe",
    "ws.history",
    "ws.presence",
    "order.viewed",
    "order.listed",
    "order.created",
    "order.status_changed",
    "auth.refreshed",
]


def frame(kind: str, properties: Schema, *, optional: tuple[str, ...] = ()) -> Schema:
    """A server frame: {"type": kind, ...}, every property required but `optional`, no other."""
    props = {"type": {"const": kind}, **properties}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": [name for name in props if name not in optional],
    }


def object_schema(required: list[str], **properties: Schema) -> Schema:
    """An object with these properties, `required` of them required (others allowed)."""
    return {"type": "object", "required": required, "properties": properties}


ECHO_MESSAGE = Message(
    "EchoAny",
    "any message",
    "Whatever the client sends comes back unchanged, text as text, binary as binary",
    {},
    [{"any": "JSON"}],
)
