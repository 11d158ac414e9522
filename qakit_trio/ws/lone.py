"""Guards for a WebSocket that is not a hub member (`/ws/echo`, the inspector's `/ws/_inspect`).

Hub members get keepalive, the slow-consumer watch and the shutdown's 1001 from the hub; a
lone connection runs these two small tasks in its own nursery instead:

- `watch_progress`: a write unfinished for QAKIT_SLOW_CONSUMER_TIMEOUT (the client stopped
  reading) drops the link; on any exit with a write stuck, drops it too (hypercorn shields its
  writes, so nothing else could end them: shutdown would hang);
- `close_on_shutdown`: the server's shutdown -> close 1001 (dropped after QAKIT_CLOSE_TIMEOUT).
"""

from __future__ import annotations

import logging

import trio

from qakit_trio.config import Settings
from qakit_trio.transport.base import ServerTerminated, Transport, close_within
from qakit_trio.wire.close_codes import GOING_AWAY

log = logging.getLogger(__name__)

ABORT_TIMEOUT = 1.0  # bounds the shielded abort on exit


class Progress:
    """When the connection's current write began (None: not writing)."""

    __slots__ = ("writing_since",)

    def __init__(self) -> None:
        self.writing_since: float | None = None


async def watch_progress(
    transport: Transport, settings: Settings, progress: Progress, what: str
) -> None:
    stalled_after = settings.slow_consumer_timeout
    try:
        while True:
            await trio.sleep(stalled_after / 4)
            since = progress.writing_since
            if since is not None and trio.current_time() - since >= stalled_after:
                log.warning(
                    f"{what} client stopped reading: dropping the connection",
                    extra={"fields": {"stalled_s": stalled_after}},
                )
                return  # the abort below ends the stuck write (a close frame could not pass)
    finally:
        if progress.writing_since is not None:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + ABORT_TIMEOUT
                await transport.abort()


async def close_on_shutdown(
    transport: Transport, settings: Settings, terminated: ServerTerminated
) -> None:
    """At the server's shutdown: the close frame (1001); the link is dropped if the client has
    not answered within QAKIT_CLOSE_TIMEOUT (the connection's loop usually ends first)."""
    await terminated.wait()
    await close_within(transport, GOING_AWAY, "server shutting down", settings.close_timeout)
    await trio.sleep(settings.close_timeout)
    await transport.abort()
