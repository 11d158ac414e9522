"""Events: what happened, with one `event_id` a trainee can follow everywhere.

An event frame goes to the client that caused it (or to a channel), and `EventSink.record`
writes the same event once to the log, as a JSON line, and to Kafka's WS topic (when Kafka is
on), both carrying the same `event_id`. Broadcast messages go to the WS topic too
(`EventSink.message`). Publishing to Kafka never waits (kafka.py).

Order events are seen everywhere at once (`OrderEvents.publish`): every /ws/orders client
(the legacy protocol's frame, without the id), every /ws client in the orders channel (an
`order.created` / `order.status_changed` event frame), the log, the WS topic and the order
topic, all with the event's one id. With PostgreSQL the order topic is fed from the event
outbox (order_relay.py), which `publish` only wakes up; without it, the record goes to the
Kafka adapter directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from qakit_trio import logs
from qakit_trio.adapters.kafka import Publisher
from qakit_trio.adapters.kafka_records import order_record, order_value, ws_record
from qakit_trio.cluster.cluster import Cluster
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.pipeline.trail import EventTrail
from qakit_trio.wire import legacy, protocol, stamps
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Hub

log = logging.getLogger(__name__)
EVENT_KEYS = ("event_action", "event_id", "request_id", "extra")
EVENT = logs.Line(log, "event", EVENT_KEYS)


LEGACY_CHANNEL = "orders"  # the one channel of the /ws/orders hub


class Events(Protocol):
    """What a request records its events through (`Request.events`): the sink, or the lab's
    wrapper around it (lab/store.py)."""

    def record(self, frame: protocol.Message, fields: dict[str, Any]) -> None: ...

    def log_event(self, frame: protocol.Message, fields: dict[str, Any]) -> None: ...

    def message(
        self,
        frame: protocol.Message,
        channel: str,
        connection_id: str | None,
        user: str | None = None,
    ) -> None: ...


class Announcer(Protocol):
    """What a request announces its order changes through (`Request.order_events`)."""

    def frame(self, event: OrderEvent, request_id: protocol.RequestId | None) -> protocol.Message:
        """The /ws event frame of `event`."""

    def publish(
        self,
        event: OrderEvent,
        frame: protocol.Message,
        fields: dict[str, Any],
        *,
        requester: str | None = None,
        legacy_skip: str | None = None,
        sink: Events | None = None,
    ) -> None:
        """Show one order event everywhere; never waits."""


class EventSink:
    def __init__(
        self,
        publisher: Publisher,
        ws_topic: str,
        trail: EventTrail | None = None,
    ) -> None:
        self._publisher = publisher
        self._ws_topic = ws_topic
        self.trail = trail  # the last events' log lines, for the inspector (lab pages on)

    def record(self, frame: protocol.Message, fields: dict[str, Any]) -> None:
        """Log one event (an event frame) once, whoever receives it, and publish it.
        `fields` carry the connection (`conn`, `channel`) when there is one."""
        self.log_event(frame, fields)
        self.message(frame, fields.get("channel", ""), fields.get("conn"), fields.get("user"))

    def log_event(self, frame: protocol.Message, fields: dict[str, Any]) -> None:
        """The event's `event` log line (and, for the inspector, its trail)."""
        event_id = frame.get("event_id")
        values = (frame["name"], event_id, frame.get("request_id"), frame.get("extra"))
        line = EVENT.info(fields, *values)  # (fields: a connection's are logs.Fields)
        if event_id is not None and self.trail is not None:  # for the inspector (trail.py)
            self.trail.saw(
                event_id,
                line,
                log.name,
                "event",
                {**fields, **dict(zip(EVENT_KEYS, values, strict=True))},
            )

    def message(
        self,
        frame: protocol.Message,
        channel: str,
        connection_id: str | None,
        user: str | None = None,
    ) -> None:
        """Publish a frame (an event, a broadcast message) to the WS topic; never waits."""
        if self._publisher.enabled:
            self._publisher.publish_nowait(
                ws_record(
                    self._ws_topic, frame, channel=channel, connection_id=connection_id, user=user
                )
            )


class OrderEvents:
    def __init__(
        self,
        sink: EventSink,
        hub: Hub,
        legacy_hub: Hub,
        orders_channel: str,
        *,
        publisher: Publisher,
        order_topic: str,
        event_outbox_wake: Callable[[], None] | None,
    ) -> None:
        self._sink = sink
        self._hub = hub
        self._legacy_hub = legacy_hub
        self._orders_channel = orders_channel
        self._publisher = publisher
        self._order_topic = order_topic
        # Given when the order topic is fed from the PostgreSQL event outbox: publish() wakes it.
        self._event_outbox_wake = event_outbox_wake
        self.cluster: Cluster | None = None  # QAKIT_CLUSTER=kafka (services.py sets it)

    def frame(self, event: OrderEvent, request_id: protocol.RequestId | None) -> protocol.Message:
        """The /ws event frame of `event` (the same one its requester gets as its reply)."""
        return protocol.event(event.ws_name, request_id, event.extra(), event.event_id)

    def publish(
        self,
        event: OrderEvent,
        frame: protocol.Message,
        fields: dict[str, Any],
        *,
        requester: str | None = None,
        legacy_skip: str | None = None,
        sink: Events | None = None,
    ) -> None:
        """Show one order event everywhere; never waits. `requester`: the /ws connection that
        made the change and has had `frame` as its reply; if it is in the orders channel too,
        it does not get the frame a second time. `legacy_skip`: a /ws/orders connection that
        gets no legacy frame (only the lab's legacy_requester_misses_event asks for one).
        `sink`: the request's (`Request.events`, which the lab may wrap), else this one's.
        `ts`: the one its requester's reply got, queued in this same step; if another frame
        has been stamped since (no reply went out, or it waited), when it is published."""
        if not stamps.is_newest(frame["ts"]):
            frame = {**frame, "ts": stamps.frame_ts()}
        # channel: the requester's on /ws, else the orders channel (REST, /ws/orders)
        (self._sink if sink is None else sink).record(
            frame, {"channel": self._orders_channel, **fields, "order_id": event.order.id}
        )
        order = event.order  # the legacy frame: the original's fields, no event_id
        legacy_text = legacy.encode(
            legacy.order_event(str(event.type), order.id, order.customer, order.status)
        )
        if self.cluster is not None:  # every instance shows it, from the bus (cluster/)
            self.cluster.publish_order(frame, legacy_text, requester, legacy_skip)
        else:
            self._hub.publish(
                self._orders_channel, Frame.of(protocol.encode(frame)), skip=requester
            )
            self._legacy_hub.publish(LEGACY_CHANNEL, Frame.of(legacy_text), skip=legacy_skip)
        if self._event_outbox_wake is not None:
            self._event_outbox_wake()  # the event's row was written with the change itself
        elif self._publisher.enabled:
            self._publisher.publish_nowait(order_record(self._order_topic, order_value(event)))
