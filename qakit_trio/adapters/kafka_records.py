"""What goes to Kafka, record by record. Pure: no trio, no Kafka client, tested without a loop.

Topic KAFKA_WS_TOPIC (`ws_events`), key = the channel name:
    every event frame the service emits, and every broadcast message, as
    {"source": "qa-websocket", <the frame's own fields>, "channel", "connection_id"}
    (`connection_id` is null for what no connection caused, e.g. POST /broadcast).
Topic KAFKA_ORDER_TOPIC (`order_events`), key = the order id (one order's events stay in order):
    {"type": "order_created"|"order_status_changed", "order_id", "customer", "status",
     "event_id", "ts"}

An event's `event_id` is the one in its WS frame and in its log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qakit_trio import log_fields
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.wire import protocol

SOURCE = "qa-websocket"


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    event_id: str | None = None  # for logs and tests; the value carries it too


def encode(value: dict[str, Any]) -> str:
    """Kafka record values are JSON text exactly like the frames (one encoder: protocol.py)."""
    return protocol.encode(value)


def _encode(value: dict[str, Any]) -> bytes:
    return encode(value).encode()


def ws_record(
    topic: str,
    frame: dict[str, Any],
    *,
    channel: str,
    connection_id: str | None,
    user: str | None = None,
) -> Record:
    """An event frame or a broadcast message, as published to the WS topic (`user`: who
    caused it, with QAKIT_AUTH=on)."""
    value = {"source": SOURCE, **frame, "channel": channel, "connection_id": connection_id}
    if user is not None:
        value["user"] = user
    text = log_fields.redacted(encode(value))  # a token pasted into a frame: never in Kafka
    return Record(topic, channel.encode(), text.encode(), frame.get("event_id"))


def order_value(event: OrderEvent, ts: datetime | None = None) -> dict[str, Any]:
    """The order topic's record value for `event` (also what the event outbox row stores)."""
    return {
        "type": str(event.type),
        "order_id": event.order.id,
        "customer": event.order.customer,
        "status": event.order.status,
        "event_id": event.event_id,
        "ts": (ts or datetime.now(UTC)).isoformat(),
    }


def order_record(topic: str, value: dict[str, Any]) -> Record:
    """An order event for the order topic, keyed by its order id."""
    return Record(topic, str(value["order_id"]).encode(), _encode(value), value["event_id"])


def stored_order_record(topic: str, stored: str) -> Record:
    """An order event from the event outbox (an `encode(order_value(...))` text), sent as stored."""
    value = json.loads(stored)
    return Record(topic, str(value["order_id"]).encode(), stored.encode(), value["event_id"])
