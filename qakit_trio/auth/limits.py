"""Rate limits (QAKIT_RATE_LIMIT=RATE/s,BURST): a token bucket per user (per connection when
anonymous), shared by that user's connections and REST calls. Pure: the time is given.

A request takes one token; a bucket holds at most BURST and refills at RATE a second. Over the
limit, a request is refused with how long until a token is there (`retry_after`). A client
that goes on sending once refused (more than BURST refusals within REFUSALS_WINDOW seconds) is
one to disconnect (4429): `Verdict.disconnect`.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

REFUSALS_WINDOW = 10.0  # seconds: more than a burst of refusals in this long: 4429
MAX_KEYS = 10_000  # buckets kept at once; the oldest full one goes first (a class is thirty)
_SPEC = re.compile(r"^(?P<rate>\d+(\.\d+)?)/s,(?P<burst>\d+)$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float  # tokens a second
    burst: int  # at most this many at once


def parse_rate_limit(value: str) -> RateLimit | None:
    """QAKIT_RATE_LIMIT: "RATE/s,BURST" (e.g. "20/s,40"), or "off"."""
    if value == "off":
        return None
    match = _SPEC.match(value)
    if match is None:
        raise ValueError(f'must be "RATE/s,BURST" (e.g. "20/s,40") or "off", got {value!r}')
    rate, burst = float(match["rate"]), int(match["burst"])
    if rate <= 0 or burst < 1:
        raise ValueError(f"the rate must be above 0 and the burst at least 1, got {value!r}")
    return RateLimit(rate, burst)


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float  # when `tokens` was counted
    refusals: deque[float] = field(default_factory=deque)  # when, within the window


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until a token is there (refused only)
    disconnect: bool = False  # refused again and again: close the client (4429)


ALLOWED = Verdict(True)


class Limiter:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str, now: float) -> Verdict:
        """One request of `key` at `now`."""
        limit, bucket = self.limit, self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_one(now)
            bucket = self._buckets[key] = Bucket(
                float(limit.burst),
                now,
                deque(maxlen=limit.burst + 1),  # enough for the verdict
            )
        else:
            bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.at) * limit.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return ALLOWED
        refusals = bucket.refusals
        while refusals and now - refusals[0] > REFUSALS_WINDOW:
            refusals.popleft()
        refusals.append(now)
        retry_after = (1 - bucket.tokens) / limit.rate
        return Verdict(False, retry_after, disconnect=len(refusals) > limit.burst)

    def _forget_one(self, now: float) -> None:
        """Make room: drop the first bucket that is full again (none: the oldest)."""
        limit = self.limit
        for key, bucket in self._buckets.items():
            if bucket.tokens + (now - bucket.at) * limit.rate >= limit.burst:
                del self._buckets[key]
                return
        del self._buckets[next(iter(self._buckets))]
