"""Requests counted where they are answered, exported on scrape (web/metrics.py).

Plain dicts and a bisect per request, no lock and no prometheus_client object on the request's
path: a request costs a few dictionary updates (the bench guard: docs/benchmarks.md).
"""

from __future__ import annotations

from bisect import bisect_left

# Histogram buckets, seconds: a reply from memory takes well under a millisecond, one from
# PostgreSQL a few, a trainee's delay_ms fault up to a minute.
BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    60.0,
)
# Latency buckets, seconds: an ack is queued in tens of microseconds, a frame reaches a socket
# in well under a millisecond when the stand keeps up, in tens of milliseconds when it does not.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
NO_ACTION = "none"  # a message that was not a request (not JSON, not an object)
OK, ERROR = "ok", "error"  # the outcomes of the legacy and qa_kit doors (their errors are
# sentences, some quoting the client: never a label)


class RequestMetrics:
    """`qakit_requests_total{protocol,action,outcome}` and
    `qakit_request_duration_seconds{protocol,action}` of one door (`protocol`: the label
    value the connections gauge uses too: envelope for /ws, legacy for /ws/orders)."""

    def __init__(self, protocol: str, actions: frozenset[str] = frozenset()) -> None:
        self.protocol = protocol
        self.actions = actions  # known actions; any other name is counted as "unknown"
        self.counts: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # per action: count per bucket (not cumulative)
        self.sums: dict[str, float] = {}

    def observe(self, action: object, outcome: str, seconds: float) -> None:
        """One request answered. `action`: what the client sent (any JSON value); a name this
        door does not know is counted as "unknown": a client's text never becomes a label."""
        name = (
            action
            if isinstance(action, str) and (action in self.actions or action == NO_ACTION)
            else "unknown"
        )
        key = (name, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        buckets = self.buckets.get(name)
        if buckets is None:
            buckets = self.buckets[name] = [0] * (len(BUCKETS) + 1)
            self.sums[name] = 0.0
        buckets[bisect_left(BUCKETS, seconds)] += 1
        self.sums[name] += seconds


class Latency:
    """One histogram without labels (`qakit_ack_latency_seconds`,
    `qakit_delivery_latency_seconds`): a bisect and three updates per observation."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # count per bucket (not cumulative)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds
        self.count += 1
