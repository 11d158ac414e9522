"""Every WebSocket close code the service sends or reports, in one place (RFC 6455 section
7.4.1, and 4000-4999 for the application). Pure."""

from __future__ import annotations

from typing import Final

NORMAL: Final = 1000
GOING_AWAY: Final = 1001  # the server is shutting down
PROTOCOL_ERROR: Final = 1002  # a frame broke RFC 6455 (hyper_ext.py, from wsproto)
INVALID_DATA: Final = 1007  # a text message that is not UTF-8 (hyper_ext.py, from wsproto)
MESSAGE_TOO_BIG: Final = 1009  # over QAKIT_MAX_MESSAGE_SIZE
INTERNAL_ERROR: Final = 1011  # a handler failed (the connection's own bug, not the client's)
KEEPALIVE_TIMEOUT: Final = 1011  # no pong within a whole ping interval
TRY_AGAIN_LATER: Final = 1013  # too many inspectors open (web/inspector.py)
SLOW_CONSUMER: Final = 4008  # evicted by the slow-consumer policy (ws/hub.py)

# Codes that must never be put in a close frame: they only report what happened locally.
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006  # the TCP connection ended without a close frame
TLS_FAILURE: Final = 1015
LOCAL_ONLY: Final = frozenset({NO_STATUS, ABNORMAL, TLS_FAILURE})


def reply_code(code: int) -> int:
    """The code to answer a client's close with: its own, unless that cannot go in a frame."""
    return NORMAL if code in LOCAL_ONLY else code
