"""The envelope protocol's messages (/ws, the default profile), for the AsyncAPI document:
each action's request (with the training lab's `fault`) and every frame the server sends.
Frames are built in wire/protocol.py; the pieces shared with the other protocols are in
asyncapi_messages.py.
"""

from __future__ import annotations

from typing import Any

from qakit_trio.errors import ErrorCode
from qakit_trio.lab.fault_spec import CLOSE_CODES, CLOSE_RANGE, KINDS, MAX_DELAY_MS
from qakit_trio.web.asyncapi_messages import (
    CUSTOMER,
    EVENT_ID,
    EVENT_NAMES,
    ORDER,
    REQUEST_ID,
    STATUS,
    TS,
    Message,
    Schema,
    frame,
    object_schema,
)
from qakit_trio.ws.delayed import MAX_PENDING as MAX_DELAYED

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
        object_schema(["message"], message={"type": "string"}),
        "ack; a message frame to every member of the channel, the sender too; event "
        "ws.broadcast with how many were reached",
        [{"action": "broadcast", "request_id": "r3", "payload": {"message": "hello, all"}}],
    ),
    request(
        "create_order",
        object_schema(["customer"], customer=CUSTOMER),
        "ack, order (the new order), event order.created",
        [{"action": "create_order", "request_id": "r4", "payload": {"customer": "Yulia"}}],
    ),
    request(
        "get_order",
        object_schema(["id"], id={"type": "integer"}),
        "ack, order (or data null), event order.viewed",
        [{"action": "get_order", "request_id": "r5", "payload": {"id": 1}}],
    ),
    request(
        "list_orders",
        object_schema([], limit={"type": "integer", "minimum": 1, "maximum": 100}),
        "ack, orders (newest first), event order.listed",
        [{"action": "list_orders", "request_id": "r6", "payload": {"limit": 5}}],
    ),
    request(
        "change_status",
        object_schema(["id", "status"], id={"type": "integer"}, status=STATUS),
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
