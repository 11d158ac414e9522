"""Events: what happened, with one `event_id` a trainee can follow everywhere.

An event frame goes to the client that caused it (or to a channel), and `EventSink.record`
writes the same event once to the log as a JSON line carrying the same `event_id`. (The Kafka
issue adds the Kafka topic as one more place the sink writes to.)

Order events are seen everywhere at once (`OrderEvents.publish`): every /ws/orders client
(seed 000's shapes), every /ws client in the orders channel (an `order.created` /
`order.status_changed` event frame), and the log, all with the event's one id.
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from . import logs, protocol
from .hub import Hub
from .orders import OrderEvent
from .outbox import Frame

log = logging.getLogger(__name__)

_random = random.Random()  # seeded from the OS once; ids need to be unique, not secret

LEGACY_CHANNEL = "orders"  # the one channel of the /ws/orders hub


def new_event_id() -> str:
    """A random (version 4) UUID, drawn without a system call per id."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


class EventSink:
    def record(self, frame: protocol.Frame, fields: dict[str, Any]) -> None:
        """Log one event (an event frame) once, whoever receives it."""
        logs.info(log, "event", **fields, name=frame["name"], event_id=frame["event_id"],
                  request_id=frame.get("request_id"), extra=frame.get("extra"))


class OrderEvents:
    def __init__(self, sink: EventSink, hub: Hub, legacy_hub: Hub, orders_channel: str) -> None:
        self._sink = sink
        self._hub = hub
        self._legacy_hub = legacy_hub
        self._orders_channel = orders_channel

    def frame(self, event: OrderEvent, request_id: protocol.RequestId | None) -> protocol.Frame:
        """The /ws event frame of `event` (the same one its requester gets as its reply)."""
        return protocol.event(event.ws_name, request_id, event.extra(), event.event_id)

    def publish(self, event: OrderEvent, frame: protocol.Frame, fields: dict[str, Any], *,
                requester: str | None = None) -> None:
        """Show one order event everywhere; never waits. `requester`: the /ws connection that
        made the change and has had `frame` as its reply; if it is in the orders channel too,
        it does not get the frame a second time."""
        self._sink.record(frame, {**fields, "order_id": event.order.id})
        self._hub.publish(self._orders_channel, Frame.of(protocol.encode(frame)),
                          skip=requester)
        self._legacy_hub.publish(LEGACY_CHANNEL, Frame.of(protocol.encode(event.legacy_frame())))
