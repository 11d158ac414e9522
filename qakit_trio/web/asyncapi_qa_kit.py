"""The /ws frames of the qa_kit profile (QAKIT_PROFILE=qa_kit): the original stand's, built in
wire/qa_kit.py; its requests are the envelope's (asyncapi_envelope.py).
"""

from __future__ import annotations

from qakit_trio.web.asyncapi_messages import (
    EVENT_NAMES,
    ORDER_SUMMARY,
    TS,
    Message,
    Schema,
    frame,
)

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
