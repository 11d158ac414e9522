"""`GET /metrics`: Prometheus text format, read from counters the stand keeps anyway.

Nothing here runs on a frame's or a request's path: the hubs, the sessions and the Kafka
adapter count with plain integers (hub.py, request_metrics.py, kafka.py), and this collector
reads them when Prometheus scrapes. prometheus_client only formats the answer (and adds the
process collector: CPU, memory, open files).

    qakit_connections{protocol,channel}          gauge; channels beyond the TOP_CHANNELS
                                                 busiest are summed into channel="other"
    qakit_frames_received_total{protocol}        counter
    qakit_frames_sent_total{protocol}            counter (written or queued, pings included)
    qakit_requests_total{protocol,action,outcome}  counter, every door: envelope, legacy,
                                                 rest (outcome: ok or, on /ws, the error code;
                                                 on /ws/orders and in the qa_kit profile, whose
                                                 errors are sentences: error; on REST the
                                                 HTTP status; internal_error for a failure)
    qakit_request_duration_seconds{protocol,action}  histogram
    qakit_slow_consumer_evictions_total{protocol}  counter
    qakit_kafka_records_total{topic,outcome}     counter (delivered, dropped, retried)
    qakit_database_up                            gauge, 1 or 0
    qakit_adapter_state{adapter,state}           gauge, 1 for the adapter's current state
    qakit_metrics_scrapes_total                  counter
    qakit_ack_latency_seconds                    histogram: a /ws request read -> its ack
                                                 queued (the envelope protocol)
    qakit_delivery_latency_seconds               histogram: a /ws publication -> written to a
                                                 subscriber's socket, one publication in
                                                 DELIVERY_SAMPLE (64) timed at every subscriber
                                                 (hub.py, Sample)
    qakit_outbox_frames{protocol}                gauge: frames waiting in the clients' outboxes
    qakit_outbox_frames_max{protocol}            gauge: the most one client has waiting
"""

from __future__ import annotations

from collections.abc import Iterator

import trio
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from quart import Response
from quart_trio import QuartTrio

from qakit_trio.request_metrics import BUCKETS, LATENCY_BUCKETS
from qakit_trio.services import Services
from qakit_trio.ws.hub import Hub

TOP_CHANNELS = 50  # channel label values at most per protocol: a class, not a botnet
# generate_latest writes the classic text format (0.0.4), which every Prometheus 2.x reads;
# prometheus_client 0.26's own constant announces version 1.0.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Scrapes:
    """How many scrapes have been answered; `wait_beyond(n)` waits for the next after n."""

    def __init__(self) -> None:
        self.count = 0
        self._next = trio.Event()

    def done(self) -> None:
        self.count += 1
        self._next.set()
        self._next = trio.Event()

    async def wait_beyond(self, count: int) -> None:
        while self.count <= count:
            await self._next.wait()


class StandCollector:
    def __init__(self, services: Services, scrapes: Scrapes) -> None:
        self._services = services
        self._scrapes = scrapes
        self._hubs: list[tuple[str, Hub]] = [
            ("envelope", services.hub),
            ("legacy", services.legacy_hub),
        ]

    def collect(self) -> Iterator[Metric]:
        services = self._services
        connections = GaugeMetricFamily(
            "qakit_connections", "WebSocket connections", labels=["protocol", "channel"]
        )
        received = CounterMetricFamily(
            "qakit_frames_received", "Frames from clients", labels=["protocol"]
        )
        sent = CounterMetricFamily(
            "qakit_frames_sent", "Frames handed to clients", labels=["protocol"]
        )
        evictions = CounterMetricFamily(
            "qakit_slow_consumer_evictions", "Clients closed with 4008", labels=["protocol"]
        )
        for protocol, hub in self._hubs:
            counts = sorted(hub.stats().items(), key=lambda item: -item[1])
            for channel, count in counts[:TOP_CHANNELS]:
                connections.add_metric([protocol, channel], count)
            if len(counts) > TOP_CHANNELS:
                connections.add_metric(
                    [protocol, "other"], sum(count for _, count in counts[TOP_CHANNELS:])
                )
            received.add_metric([protocol], hub.frames_received())
            sent.add_metric([protocol], hub.frames_sent())
            evictions.add_metric([protocol], hub.evictions)
        yield from (connections, received, sent, evictions)
        yield from self._requests()
        yield from self._latencies()
        kafka = CounterMetricFamily(
            "qakit_kafka_records", "Records for Kafka, by outcome", labels=["topic", "outcome"]
        )
        for (topic, outcome), count in sorted(services.kafka.outcomes.items()):
            kafka.add_metric([topic, outcome], count)
        yield kafka
        database = services.store.health()
        yield GaugeMetricFamily(
            "qakit_database_up",
            "The order store answers",
            value=1 if database["state"] == "up" else 0,
        )
        states = GaugeMetricFamily(
            "qakit_adapter_state", "Each adapter's current state", labels=["adapter", "state"]
        )
        states.add_metric(["database", str(database["state"])], 1)
        states.add_metric(["kafka", str(services.kafka.health()["state"])], 1)
        yield states
        yield CounterMetricFamily(
            "qakit_metrics_scrapes", "Scrapes answered", value=self._scrapes.count
        )

    def _requests(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "qakit_requests",
            "Requests, by door, action and outcome",
            labels=["protocol", "action", "outcome"],
        )
        duration = HistogramMetricFamily(
            "qakit_request_duration_seconds", "Request handling time", labels=["protocol", "action"]
        )
        for requests in self._services.metrics.values():
            protocol = requests.protocol
            for (action, outcome), count in sorted(requests.counts.items()):
                total.add_metric([protocol, action, outcome], count)
            for action, counts in sorted(requests.buckets.items()):
                cumulative, running = [], 0
                for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                    running += count
                    cumulative.append((bound, running))
                duration.add_metric([protocol, action], cumulative, requests.sums[action])
        yield from (total, duration)

    def _latencies(self) -> Iterator[Metric]:
        services = self._services
        for name, latency, what in (
            ("qakit_ack_latency_seconds", services.ack_latency, "A /ws request read to its ack"),
            (
                "qakit_delivery_latency_seconds",
                services.delivery_latency,
                "A /ws publication to a subscriber's socket (sampled)",
            ),
        ):
            cumulative, running = [], 0
            bounds = [*map(str, LATENCY_BUCKETS), "+Inf"]
            for bound, count in zip(bounds, latency.buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            yield HistogramMetricFamily(name, what, buckets=cumulative, sum_value=latency.sum)
        waiting = GaugeMetricFamily(
            "qakit_outbox_frames", "Frames waiting in the clients' outboxes", labels=["protocol"]
        )
        most = GaugeMetricFamily(
            "qakit_outbox_frames_max", "The most frames one client has waiting", labels=["protocol"]
        )
        for protocol, hub in self._hubs:
            depths = [m.inlet.meter.frames + m.inlet.meter.own_frames for m in hub.members()]
            waiting.add_metric([protocol], sum(depths))
            most.add_metric([protocol], max(depths, default=0))
        yield from (waiting, most)


def register_metrics(app: QuartTrio, services: Services) -> Scrapes:
    registry = CollectorRegistry(auto_describe=False)  # one per app: tests run many apps
    ProcessCollector(registry=registry)
    scrapes = Scrapes()
    registry.register(StandCollector(services, scrapes))

    @app.get("/metrics")
    async def metrics() -> Response:
        body = generate_latest(registry)
        scrapes.done()
        return Response(body, content_type=CONTENT_TYPE)

    return scrapes
