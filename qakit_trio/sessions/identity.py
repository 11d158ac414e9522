"""Who a request comes from, with QAKIT_AUTH=on (auth/): the stand's tokens, the rate limiter,
and the identity a connection carries (its user, until when its token is valid).

With QAKIT_AUTH=off there is no `Identities` and no user: every request is anonymous, as on
the original stand; a rate limit set without auth counts per connection.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from qakit_trio import log_fields
from qakit_trio.auth.limits import Limiter
from qakit_trio.auth.tokens import Identity, Tokens, Unauthorized
from qakit_trio.config import Settings

log = logging.getLogger(__name__)


class Identities:
    """The tokens (QAKIT_AUTH=on) and the rate limiter (QAKIT_RATE_LIMIT), for the app."""

    def __init__(self, settings: Settings, wall: Callable[[], float] = time.time) -> None:
        self.on = settings.auth
        self.wall = wall  # tokens' `exp` are wall-clock seconds
        secret = settings.jwt_secret
        if self.on and secret is None:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "QAKIT_JWT_SECRET is not set: tokens are signed with a random secret and end "
                "with this process (set it to keep them across restarts)"
            )
        self.tokens = Tokens(
            (secret or "").encode(), settings.token_ttl, settings.teacher_token or ""
        )
        self.class_code = settings.class_code or ""
        if self.on:  # never written where a trainee could read it (log_fields.redacted)
            log_fields.hide((settings.teacher_token or "", self.class_code))
        self.limiter = None if settings.rate_limit is None else Limiter(settings.rate_limit)

    def identify(self, token: str | None) -> Identity:
        """Who the bearer of `token` is now; Unauthorized (with a reason safe to show)."""
        if token is None:
            raise Unauthorized("no token")
        return self.tokens.verify(token, self.wall())
