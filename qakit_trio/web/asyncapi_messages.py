"""Every message of the WebSocket protocols, as JSON Schema, for the AsyncAPI document
(asyncapi.py). Frames are built in wire/protocol.py, wire/qa_kit.py and wire/legacy.py; the
suite checks every frame its end-to-end tests receive against these schemas
(tests/support/contract.py), so a frame and its schema cannot drift apart.

`Message(name, title, summary, payload, examples)`: examples are payloads; a client's examples
are sent to a live server by the suite and must be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qakit_trio.domain.orders import MAX_CUSTOMER_LENGTH, Status
from qakit_trio.errors import ErrorCode
from qakit_trio.wire.faults import CLOSE_CODES, CLOSE_RANGE, KINDS, MAX_DELAY_MS
from qakit_trio.ws.delayed import MAX_PENDING as MAX_DELAYED

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
EVENT_NAMES = [
    "ws.echo",
    "ws.triplet_demo",
    "ws.broadcast",
    "order.viewed",
    "order.listed",
    "order.created",
    "order.status_changed",
]
FAULT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "description": "The training lab: make this request's own replies go wrong on purpose",
    "properties": {
        "delay_ms": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_DELAY_MS,
            "description": f"At most {MAX_DELAYED} delayed replies per connection, "
            "holding at most QAKIT_OUTBOX_BYTES of frames; past that, "
            "the error too_many_delayed instead of the late frames",
        },
        "drop": {"type": "array", "items": {"enum": list(KINDS)}},
        "duplicate": {"type": "array", "items": {"enum": list(KINDS)}},
        "reorder": {"type": "boolean"},
        "fragment": {"type": "integer", "minimum": 2, "maximum": 16},
        "close": {
            "oneOf": [
                {"enum": sorted(CLOSE_CODES)},
                {"type": "integer", "minimum": CLOSE_RANGE[0], "maximum": CLOSE_RANGE[1]},
            ]
        },
    },
}


def frame(kind: str, properties: Schema, *, optional: tuple[str, ...] = ()) -> Schema:
    """A server frame: {"type": kind, ...}, every property required but `optional`, no other."""
    props = {"type": {"const": kind}, **properties}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": [name for name in props if name not in optional],
    }


def request(action: str, payload: Schema | None, summary: str, examples: list[Any]) -> Message:
    """A /ws request: {"action", "payload"?, "request_id"?, "fault"?}."""
    props: Schema = {"action": {"const": action}, "request_id": REQUEST_ID, "fault": FAULT}
    if payload is not None:
        props["payload"] = payload
    name = "".join(part.capitalize() for part in action.split("_"))
    return Message(
        f"{name}Request",
        f"{action} request",
        summary,
        {"type": "object", "required": ["action"], "properties": props},
        examples,
    )


def _obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


ENVELOPE_REQUESTS = [
    request(
        "echo",
        {"type": "object"},
        "ack, echo (the payload back), event ws.echo",
        [{"action": "echo", "request_id": "r1", "payload": {"text": "hello"}}],
    ),
    request(
        "triplet_demo",
        {"type": "object"},
        "ack, step 1, step 2, event ws.triplet_demo",
        [{"action": "triplet_demo", "request_id": "r2"}],
    ),
    request(
        "broadcast",
        _obj(["message"], message={"type": "string"}),
        "ack; a message frame to every member of the channel, the sender too; event "
        "ws.broadcast with how many were reached",
        [{"action": "broadcast", "request_id": "r3", "payload": {"message": "hello, all"}}],
    ),
    request(
        "create_order",
        _obj(["customer"], customer=CUSTOMER),
        "ack, order (the new order), event order.created",
        [{"action": "create_order", "request_id": "r4", "payload": {"customer": "Yulia"}}],
    ),
    request(
        "get_order",
        _obj(["id"], id={"type": "integer"}),
        "ack, order (or data null), event order.viewed",
        [{"action": "get_order", "request_id": "r5", "payload": {"id": 1}}],
    ),
    request(
        "list_orders",
        _obj([], limit={"type": "integer", "minimum": 1, "maximum": 100}),
        "ack, orders (newest first), event order.listed",
        [{"action": "list_orders", "request_id": "r6", "payload": {"limit": 5}}],
    ),
    request(
        "change_status",
        _obj(["id", "status"], id={"type": "integer"}, status=STATUS),
        "ack, order (changed), event order.status_changed; or invalid_transition",
        [{"action": "change_status", "request_id": "r7", "payload": {"id": 1, "status": "paid"}}],
    ),
]

ERROR_FIELDS: Schema = {"field": {"type": "string"}, "raw_action": {}, "id": {"type": "integer"}}
ENVELOPE_FRAMES = [
    Message(
        "Hello",
        "hello",
        "The first frame on every connection",
        frame(
            "system",
            {
                "message": {"type": "string"},
                "channel": {"type": "string"},
                "connection_id": {"type": "string"},
                "ts": TS,
            },
        ),
    ),
    Message(
        "Ack",
        "ack",
        "First answer to every JSON object, even one that then fails",
        frame("ack", {"request_id": REQUEST_ID, "ts": TS}),
    ),
    Message(
        "Echo",
        "echo",
        "The echo action's data frame",
        frame("echo", {"request_id": REQUEST_ID, "data": {"type": "object"}, "ts": TS}),
    ),
    Message(
        "Step",
        "step",
        "triplet_demo's two data frames",
        frame(
            "step",
            {
                "step": {"enum": [1, 2]},
                "message": {"type": "string"},
                "request_id": REQUEST_ID,
                "ts": TS,
            },
        ),
    ),
    Message(
        "Event",
        "event",
        "The last frame of a request; order events also go to the orders channel",
        frame(
            "event",
            {
                "name": {"enum": EVENT_NAMES},
                "request_id": {"oneOf": [REQUEST_ID, {"type": "null"}]},
                "ts": TS,
                "extra": {},
                "event_id": EVENT_ID,
            },
        ),
    ),
    Message(
        "ChannelMessage",
        "message",
        "The broadcast action's frame, to every member",
        frame(
            "message",
            {
                "channel": {"type": "string"},
                "message": {"type": "string"},
                "request_id": REQUEST_ID,
                "from": {"type": "string"},
                "ts": TS,
            },
        ),
    ),
    Message(
        "RestBroadcast",
        "broadcast",
        "POST /broadcast's frame, to every member",
        frame(
            "broadcast", {"channel": {"type": "string"}, "message": {"type": "string"}, "ts": TS}
        ),
    ),
    Message(
        "Order",
        "order",
        "get_order, create_order, change_status: the order (or null)",
        frame(
            "order",
            {"request_id": REQUEST_ID, "data": {"oneOf": [ORDER, {"type": "null"}]}, "ts": TS},
        ),
    ),
    Message(
        "Orders",
        "orders",
        "list_orders: the orders, newest first",
        frame(
            "orders",
            {"request_id": REQUEST_ID, "data": {"type": "array", "items": ORDER}, "ts": TS},
        ),
    ),
    Message(
        "Error",
        "error",
        "A request that failed; the connection stays open",
        frame(
            "error",
            {
                "request_id": {"oneOf": [REQUEST_ID, {"type": "null"}]},
                "error": {"enum": [str(code) for code in ErrorCode]},
                "message": {"type": "string"},
                "ts": TS,
                **ERROR_FIELDS,
            },
            optional=tuple(ERROR_FIELDS),
        ),
    ),
]

# QAKIT_PROFILE=qa_kit: the original stand's /ws frames (wire/qa_kit.py)
ANY_ID: Schema = {"description": 'The client\'s request_id as sent (any JSON), or "no-id"'}
QA_KIT_FRAMES = [
    Message(
        "QaKitHello",
        "hello (qa_kit)",
        "The first frame (profile qa_kit)",
        frame("system", {"message": {"type": "string"}, "ts": TS}),
    ),
    Message(
        "QaKitAck", "ack (qa_kit)", "profile qa_kit", frame("ack", {"request_id": ANY_ID, "ts": TS})
    ),
    Message(
        "QaKitEcho",
        "echo (qa_kit)",
        "profile qa_kit",
        frame("echo", {"request_id": ANY_ID, "data": {}, "ts": TS}),
    ),
    Message(
        "QaKitStep",
        "step (qa_kit)",
        "profile qa_kit",
        frame(
            "step",
            {
                "request_id": ANY_ID,
                "step": {"enum": [1, 2]},
                "message": {"type": "string"},
                "ts": TS,
            },
        ),
    ),
    Message(
        "QaKitEvent",
        "event (qa_kit)",
        "profile qa_kit: no event_id in the frame",
        frame(
            "event", {"name": {"enum": EVENT_NAMES}, "request_id": ANY_ID, "ts": TS, "extra": {}}
        ),
    ),
    Message(
        "QaKitChannelMessage",
        "message (qa_kit)",
        "profile qa_kit",
        frame("message", {"channel": {"type": "string"}, "message": {}, "ts": TS}),
    ),
    Message(
        "QaKitOrder",
        "order (qa_kit)",
        "profile qa_kit",
        frame(
            "order",
            {
                "request_id": ANY_ID,
                "ts": TS,
                "data": {
                    "oneOf": [
                        {
                            **ORDER_SUMMARY,
                            "required": [*ORDER_SUMMARY["required"], "created_at"],
                            "properties": {
                                **ORDER_SUMMARY["properties"],
                                "created_at": {"type": "string"},
                            },
                        },
                        {"type": "null"},
                    ]
                },
            },
        ),
    ),
    Message(
        "QaKitOrders",
        "orders (qa_kit)",
        "profile qa_kit",
        frame(
            "orders",
            {"request_id": ANY_ID, "ts": TS, "data": {"type": "array", "items": ORDER_SUMMARY}},
        ),
    ),
    Message(
        "QaKitError",
        "error (qa_kit)",
        "profile qa_kit: the original's message text",
        frame("error", {"request_id": ANY_ID, "message": {"type": "string"}, "ts": TS}),
    ),
]

LEGACY_REQUESTS = [
    Message(
        "LegacyPing",
        "ping",
        "pong",
        _obj(["action"], action={"const": "ping"}),
        [{"action": "ping"}],
    ),
    Message(
        "LegacyCreateOrder",
        "create_order",
        "result, then order_created to every client",
        _obj(["action", "customer"], action={"const": "create_order"}, customer={}),
        [{"action": "create_order", "customer": "Yulia"}],
    ),
    Message(
        "LegacyGetOrder",
        "get_order",
        "result, or an error",
        _obj(["action", "order_id"], action={"const": "get_order"}, order_id={}),
        [{"action": "get_order", "order_id": 1}],
    ),
    Message(
        "LegacyChangeStatus",
        "change_status",
        "result, then order_status_changed to every client; or an error",
        _obj(
            ["action", "order_id", "status"],
            action={"const": "change_status"},
            order_id={},
            status={},
        ),
        [{"action": "change_status", "order_id": 1, "status": "paid"}],
    ),
]
LEGACY_FRAMES = [
    Message("LegacyPong", "pong", "ping's answer", frame("pong", {})),
    Message(
        "LegacyResult",
        "result",
        "create_order, get_order, change_status: the order",
        frame(
            "result",
            {
                "action": {"enum": ["create_order", "get_order", "change_status"]},
                "order": ORDER_SUMMARY,
            },
        ),
    ),
    Message(
        "LegacyError",
        "error",
        'The original\'s texts: "order not found", "Cannot '
        "change status from 'delivered' to 'paid'\", invalid_json, unknown_action...",
        frame(
            "error",
            {
                "action": {"type": "string"},
                "error": {"type": "string"},
                "message": {"type": "string"},
                "raw_action": {},
            },
            optional=("action", "message", "raw_action"),
        ),
    ),
    Message(
        "LegacyOrderEvent",
        "order event",
        "Every change of an order, to every client",
        {
            **frame(
                "order_created",
                {
                    "order_id": {"type": "integer"},
                    "customer": {"type": "string"},
                    "status": {"type": "string"},
                },
            ),
            "properties": {
                "type": {"enum": ["order_created", "order_status_changed"]},
                "order_id": {"type": "integer"},
                "customer": {"type": "string"},
                "status": {"type": "string"},
            },
        },
    ),
]
ECHO_MESSAGE = Message(
    "EchoAny",
    "any message",
    "Whatever the client sends comes back unchanged, text as text, binary as binary",
    {},
    [{"any": "JSON"}],
)
