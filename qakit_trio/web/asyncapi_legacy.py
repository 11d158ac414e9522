"""The legacy orders protocol's messages (/ws/orders): the original stand's, byte for byte,
built in wire/legacy.py.
"""

from __future__ import annotations

from qakit_trio.web.asyncapi_messages import (
    ORDER_SUMMARY,
    RETRY_AFTER_MS,
    Message,
    frame,
    object_schema,
)

LEGACY_REQUESTS = [
    Message(
        "LegacyPing",
        "ping",
        "pong",
        object_schema(["action"], action={"const": "ping"}),
        [{"action": "ping"}],
    ),
    Message(
        "LegacyCreateOrder",
        "create_order",
        "result, then order_created to every client",
        object_schema(["action", "customer"], action={"const": "create_order"}, customer={}),
        [{"action": "create_order", "customer": "Yulia"}],
    ),
    Message(
        "LegacyGetOrder",
        "get_order",
        "result, or an error",
        object_schema(["action", "order_id"], action={"const": "get_order"}, order_id={}),
        [{"action": "get_order", "order_id": 1}],
    ),
    Message(
        "LegacyChangeStatus",
        "change_status",
        "result, then order_status_changed to every client; or an error",
        object_schema(
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
        "change status from 'delivered' to 'paid'\", invalid_json, unknown_action..., and "
        "rate_limited (QAKIT_RATE_LIMIT, with retry_after_ms)",
        frame(
            "error",
            {
                "action": {"type": "string"},
                "error": {"type": "string"},
                "message": {"type": "string"},
                "raw_action": {},
                "retry_after_ms": RETRY_AFTER_MS,
            },
            optional=("action", "message", "raw_action", "retry_after_ms"),
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
