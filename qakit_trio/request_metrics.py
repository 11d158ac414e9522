"""Requests counted where they are answered, exported on scrape (web/metrics.py).

Plain dicts and a bisect per request, no lock and no prometheus_client object on the request's
path: a request costs a few dictionary updates (the bench guard: docs/benchmarks.md).
"""

from __future__ import annotations

from bisect import bisect_left

# Histogram buckets, seconds: a reply from memory takes well under a millisecond, one from
# PostgreSQL a few, a trainee's delay_ms fault up to a minute.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 60.0)
NO_ACTION = "none"  # a message that was not a request (not JSON, not an object)


class RequestMetrics:
    """`qakit_requests_total{action,outcome}` and `qakit_request_duration_seconds{action}`."""

    def __init__(self, actions: frozenset[str] = frozenset()) -> None:
        self.actions = actions  # known actions; any other name is counted as "unknown"
        self.counts: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # per action: count per bucket (not cumulative)
        self.sums: dict[str, float] = {}

    def observe(self, action: str, outcome: str, seconds: float) -> None:
        if action not in self.actions and action != NO_ACTION:
            action = "unknown"  # a client's text never becomes a label
        key = (action, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        buckets = self.buckets.get(action)
        if buckets is None:
            buckets = self.buckets[action] = [0] * (len(BUCKETS) + 1)
            self.sums[action] = 0.0
        buckets[bisect_left(BUCKETS, seconds)] += 1
        self.sums[action] += seconds
