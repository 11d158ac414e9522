"""Every WebSocket close code the service sends or reports, in one place (RFC 6455 section
7.4.1, and 4000-4999 for the application). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NORMAL: Final = 1000
GOING_AWAY: Final = 1001  # the server is shutting down
PROTOCOL_ERROR: Final = 1002  # a frame broke RFC 6455 (hyper_ext.py, from wsproto)
INVALID_DATA: Final = 1007  # a text message that is not UTF-8 (hyper_ext.py, from wsproto)
MESSAGE_TOO_BIG: Final = 1009  # over QAKIT_MAX_MESSAGE_SIZE
INTERNAL_ERROR: Final = 1011  # a handler failed (the connection's own bug, not the client's)
KEEPALIVE_TIMEOUT: Final = 1011  # no pong within a whole ping interval
SERVICE_RESTART: Final = 1012  # POST /lab/blip: reconnect and recover (web/lab.py)
TRY_AGAIN_LATER: Final = 1013  # too many inspectors open (web/inspector.py)
SLOW_CONSUMER: Final = 4008  # evicted by the slow-consumer policy (ws/hub.py)
UNAUTHORIZED: Final = 4401  # QAKIT_AUTH=on: no token, a bad one, or it expired
FORBIDDEN: Final = 4403  # QAKIT_AUTH=on: a channel this user may not join
RATE_LIMITED: Final = 4429  # went on sending after being rate limited (auth/limits.py)

# Codes that must never be put in a close frame: they only report what happened locally.
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006  # the TCP connection ended without a close frame
TLS_FAILURE: Final = 1015
LOCAL_ONLY: Final = frozenset({NO_STATUS, ABNORMAL, TLS_FAILURE})


def reply_code(code: int) -> int:
    """The code to answer a client's close with: its own, unless that cannot go in a frame."""
    return NORMAL if code in LOCAL_ONLY else code


@dataclass(frozen=True, slots=True)
class CloseCode:
    code: int
    reason: str  # the reason text sent with it (or, for what is never sent, what it reports)
    when: str
    reconnect: str  # should a client reconnect: "yes", "no", "after a fix", "never sent"


# The matrix: every code the stand sends or reports, what it means, and what a client should do.
# README, docs/protocol.md, both guides and the AsyncAPI document show it; tests/wire checks
# that they agree with this table.
MATRIX: tuple[CloseCode, ...] = (
    CloseCode(NORMAL, "", "the client closed, or a fault asked for it", "no"),
    CloseCode(GOING_AWAY, "server shutting down", "the stand is stopping", "yes, with backoff"),
    CloseCode(PROTOCOL_ERROR, "protocol error", "a frame broke RFC 6455", "after a fix"),
    CloseCode(INVALID_DATA, "invalid UTF-8", "a text message that is not UTF-8", "after a fix"),
    CloseCode(
        MESSAGE_TOO_BIG, "message too big", "a message over QAKIT_MAX_MESSAGE_SIZE", "after a fix"
    ),
    CloseCode(
        INTERNAL_ERROR,
        "internal error",
        "a handler failed; or no pong in time",
        "yes, with backoff",
    ),
    CloseCode(
        SERVICE_RESTART,
        "service restart",
        "the teacher's POST /lab/blip (reconnection practice)",
        "yes, at once, with since",
    ),
    CloseCode(TRY_AGAIN_LATER, "too many inspectors", "the inspector is full", "yes, later"),
    CloseCode(SLOW_CONSUMER, "slow consumer", "the client did not read its frames in time", "yes"),
    CloseCode(
        UNAUTHORIZED, "unauthorized", "no token, a bad one, or it expired", "after a new token"
    ),
    CloseCode(FORBIDDEN, "forbidden", "a channel this user may not join", "no"),
    CloseCode(
        RATE_LIMITED, "rate limit exceeded", "went on sending after rate_limited", "yes, slower"
    ),
    CloseCode(ABNORMAL, "(never sent)", "the TCP connection ended without a close frame", "yes"),
)
