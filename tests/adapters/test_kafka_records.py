"""What goes to Kafka, record by record (pure: no event loop, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from qakit_trio.adapters.kafka_records import (
    encode,
    order_record,
    order_value,
    stored_order_record,
    ws_record,
)
from qakit_trio.domain.orders import EventType, Order, OrderEvent, Status
from qakit_trio.wire import protocol

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_an_event_frame_keeps_its_fields_and_gains_source_channel_connection() -> None:
    frame = protocol.event("ws.echo", "r-1", {"a": 1}, "e-1")
    record = ws_record("ws_events", frame, channel="lobby", connection_id="c-1")
    assert (record.topic, record.key, record.event_id) == ("ws_events", b"lobby", "e-1")
    assert json.loads(record.value) == {
        **frame,
        "source": "qa-websocket",
        "channel": "lobby",
        "connection_id": "c-1",
    }


def test_a_rest_broadcast_has_no_connection() -> None:
    frame = protocol.rest_broadcast("general", "привет")
    record = ws_record("ws_events", frame, channel="general", connection_id=None)
    assert json.loads(record.value)["connection_id"] is None
    assert json.loads(record.value)["message"] == "привет"
    assert record.event_id is None


def test_order_records_are_keyed_by_order_id() -> None:
    order = Order(7, "Yulia", Status.PAID, NOW, NOW)
    event = OrderEvent("e-7", EventType.STATUS_CHANGED, order, "created")
    value = order_value(event, NOW)
    assert value == {
        "type": "order_status_changed",
        "order_id": 7,
        "customer": "Yulia",
        "status": "paid",
        "event_id": "e-7",
        "ts": NOW.isoformat(),
    }
    record = order_record("order_events", value)
    assert (record.key, json.loads(record.value), record.event_id) == (b"7", value, "e-7")


def test_a_stored_outbox_value_is_sent_byte_for_byte() -> None:
    event = OrderEvent("e-1", EventType.CREATED, Order(1, "Ann", Status.CREATED, NOW, NOW))
    stored = encode(order_value(event, NOW))
    record = stored_order_record("order_events", stored)
    assert record.value == stored.encode()
    assert (record.key, record.event_id) == (b"1", "e-1")
    assert json.loads(record.value)["type"] == "order_created"
