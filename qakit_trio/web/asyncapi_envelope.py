"""The envelope protocol's messages (/ws, the default profile), for the AsyncAPI document:
each action's request (with the training lab's `fault`) and every frame the server sends.
Frames are built in wire/protocol.py; the pieces shared with the other protocols are in
asyncapi_messages.py.
"""

from __future__ import annotations

from typing import Any

from qakit_trio.auth.users import ROLES
from qakit_trio.errors import ErrorCode
from qakit_trio.lab.fault_spec import CLOSE_CODES, CLOSE_RANGE, KINDS, MAX_DELAY_MS
from qakit_trio.web.asyncapi_channels import (
    CHANNEL_FRAMES,
    EPOCH,
    OFFSET,
    RECOVERED,
    channel_requests,
)
from qakit_trio.web.asyncapi_messages import (
    CUSTOMER,
    EVENT_ID,
    EVENT_NAMES,
    ORDER,
    REQUEST_ID,
    RETRY_AFTER_MS,
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
        "disconnect_after_ms": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_DELAY_MS,
            "description": "Reconnection practice: the server drops the TCP connection this "
            "long after the request, with no close frame (the client sees 1006); the "
            "replies are sent as without the fault",
        },
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
    request(
        "refresh",
        object_schema(["token"], token={"type": "string", "minLength": 1}),
        "QAKIT_AUTH=on: ack, token (the new expiry), event auth.refreshed; the connection "
        "then lives until the new token expires (a token of another user: an error)",
        [{"action": "refresh", "request_id": "r8", "payload": {"token": "<a new token>"}}],
    ),
]
ENVELOPE_REQUESTS += channel_requests(request)
NEEDS_AUTH = frozenset({"refresh"})  # actions whose examples need QAKIT_AUTH=on and a token

ERROR_FIELDS: Schema = {
    "field": {"type": "string"},
    "raw_action": {},
    "id": {"type": "integer"},
    "retry_after_ms": RETRY_AFTER_MS,
    "channel": {"type": "string"},  # already_subscribed, not_subscribed, forbidden
    "limit": {"type": "integer"},  # too_many_subscriptions
}
USER: Schema = {"type": "string", "description": "QAKIT_AUTH=on: who the token says this is"}
FROM_USER: Schema = {"type": "string", "description": "QAKIT_AUTH=on: the sender's user name"}
ROLE: Schema = {"enum": list(ROLES), "description": "QAKIT_AUTH=on: the user's role"}
EXPIRES_AT: Schema = {
    "description": "When the connection's new token expires, UTC ISO-8601 like ts; null: "
    "never (the teacher's own token)",
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
}
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
                "user": USER,
                "role": ROLE,
                "recovered": RECOVERED,
                "epoch": EPOCH,
                "offset": OFFSET,
                "ts": TS,
            },
            optional=("user", "role", "recovered"),
        ),
    ),
    Message(
        "TokenExpiring",
        "token expiring",
        "QAKIT_AUTH=on: the connection's token expires in expires_in_ms (sent 30 s before); "
        "send a refresh action with a new token, or the connection is closed with 4401",
        frame(
            "system",
            {
                "event": {"const": "token_expiring"},
                "expires_in_ms": {"type": "integer", "minimum": 0},
                "ts": TS,
            },
        ),
    ),
    Message(
        "Token",
        "token",
        "The refresh action's data frame: when the connection's new token expires",
        frame("token", {"request_id": REQUEST_ID, "expires_at": EXPIRES_AT, "ts": TS}),
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
                "from_user": FROM_USER,
                "ts": TS,
                "offset": OFFSET,
                "epoch": EPOCH,
            },
            optional=("from_user",),
        ),
    ),
    Message(
        "RestBroadcast",
        "broadcast",
        "POST /broadcast's frame, to every member",
        frame(
            "broadcast",
            {
                "channel": {"type": "string"},
                "message": {"type": "string"},
                "from_user": FROM_USER,
                "ts": TS,
                "offset": OFFSET,
                "epoch": EPOCH,
            },
            optional=("from_user", "offset", "epoch"),  # (none in the qa_kit profile)
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
        "A request that failed; the connection stays open. rate_limited (QAKIT_RATE_LIMIT) "
        "comes without an ack and carries retry_after_ms; forbidden (QAKIT_AUTH=on) is what "
        "this user's role may not do, e.g. a trainee's broadcast to announcements",
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
ENVELOPE_FRAMES += CHANNEL_FRAMES
