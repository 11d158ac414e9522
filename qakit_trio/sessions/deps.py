"""What the doors and their actions use, built once by services.py and handed to them: the
sessions never reach up to the services (the layering test says so)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qakit_trio.cluster.cluster import Cluster
from qakit_trio.config import Settings
from qakit_trio.domain.order_store import OrderStore
from qakit_trio.lab.lab import Lab
from qakit_trio.pipeline.events import EventSink, OrderEvents
from qakit_trio.request_metrics import Latency, RequestMetrics
from qakit_trio.sessions.identity import Identities
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.hub import Hub


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    hub: Hub  # the /ws channels
    legacy_hub: Hub  # the /ws/orders clients
    store: OrderStore
    events: EventSink  # the event log line and the WS topic
    order_events: OrderEvents  # an order change, shown everywhere
    lab: Lab
    metrics: Mapping[str, RequestMetrics]  # by `protocol` label: envelope, legacy, rest
    identities: Identities  # QAKIT_AUTH, QAKIT_RATE_LIMIT (sessions/identity.py)
    channels: ChannelOps | None = None  # /ws's offsets, subscriptions (None: qa_kit profile)
    ack_latency: Latency = field(default_factory=Latency)  # qakit_ack_latency_seconds
    cluster: Cluster | None = None  # QAKIT_CLUSTER=kafka: publications go through the bus
