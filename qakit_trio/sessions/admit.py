"""The pipeline's admit stages (sessions/pipeline.py): what may refuse a request before the lab
and its action see it. Today: the rate limit (QAKIT_RATE_LIMIT, auth/limits.py), counted per
user (per connection, or per HTTP client address, when anonymous) over every door.

A refused request gets its door's answer to `RateLimited` (an error frame with
`retry_after_ms` and no ack; 429 with Retry-After on REST) and no action; a client that goes on
sending once refused is closed with 4429. Like every stage outside `failures`, it answers its
own refusals (pipeline/stages.py).
"""

from __future__ import annotations

import trio

from qakit_trio.auth.limits import Limiter
from qakit_trio.errors import RateLimited
from qakit_trio.pipeline.request import Next, Request, Stage
from qakit_trio.wire.close_codes import RATE_LIMITED

LIMITED = "rate_limited"  # the outcome label of a refused request


def admission(limiter: Limiter | None) -> list[Stage]:
    """The admit stages in force (none with QAKIT_RATE_LIMIT off: nothing to pass)."""
    return [] if limiter is None else [RateLimit(limiter)]


class RateLimit:
    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter

    async def __call__(self, request: Request, call_next: Next) -> None:
        user = request.user
        key = f"{user.role}:{user.name}" if user is not None else f"anonymous:{request.sender}"
        verdict = self._limiter.take(key, trio.current_time())
        if verdict.allowed:
            await call_next(request)
            return
        refused = request.door.refusal(request, RateLimited(verdict.retry_after))
        assert refused is not None  # every door answers RateLimited
        request.outcome = LIMITED
        await request.reply(refused[1])
        if verdict.disconnect:  # it goes on sending: 4429
            request.close_soon(RATE_LIMITED, "rate limit exceeded")
