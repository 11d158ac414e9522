"""How a connection closes (ws/connection.py), its close watchdog, and a planned drop.

Whoever decides the connection must end (the hub's slow-consumer policy, keepalive,
shutdown, a failed action) calls `Connection.close_soon(code, reason)`, which
never blocks: it leaves the hub at once (so /stats is exact), wakes the writer (starting it if
the outbox was never opened) and starts the watchdog. The writer then writes what is already
queued (except for a slow consumer or when the client closed first), sends the close frame and
ends. The reader keeps reading, and discarding, until the client's side is closed too, so the
server never waits on us. If that does not happen within QAKIT_CLOSE_TIMEOUT (a vanished peer,
or one that stopped reading and left our write stuck), the watchdog drops the TCP connection
and cancels the nursery. When the client closes first, the reader starts the closing itself,
without a watchdog (the client's side is closed already: so one bounds a stuck write only when
we close first), and after a 1006 (the link gone, no close frame) without starting a writer
(one that runs is woken, as always): nothing can be sent. And a trainee's `disconnect_after_ms`
fault: the TCP connection dropped on purpose, with no close frame, as a lost Wi-Fi would (the
client sees 1006)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import trio

from qakit_trio.transport.base import Transport
from qakit_trio.ws.outbox import Meter

log = logging.getLogger(__name__)

FLUSH_BEFORE_DROP = 1.0  # seconds a planned drop waits for the replies to be written


@dataclass(frozen=True, slots=True)
class CloseRequest:
    code: int
    reason: str
    flush: bool  # write what is already queued before the close frame
    client_closed: trio.Event = field(default_factory=trio.Event)  # its side is closed too


async def close_watchdog(
    request: CloseRequest,
    transport: Transport,
    close_timeout: float,
    nursery: trio.Nursery,
    fields: dict[str, Any],
) -> None:
    with trio.move_on_after(close_timeout):
        await request.client_closed.wait()
        return
    log.warning(
        "close handshake timed out: dropping the connection",
        extra={"fields": {**fields, "close_code": request.code, "close_reason": request.reason}},
    )
    await transport.abort()
    nursery.cancel_scope.cancel()


async def drop_after(
    seconds: float,
    transport: Transport,
    meter: Meter,
    nursery: trio.Nursery,
    fields: dict[str, Any],
) -> None:
    """`disconnect_after_ms`: a task of the connection's (it ends with it, whatever ends it).
    The drop waits for what is queued to be written (the request's replies), for at most
    FLUSH_BEFORE_DROP: a client that does not read is dropped all the same."""
    await trio.sleep(seconds)
    with trio.move_on_after(FLUSH_BEFORE_DROP):
        await meter.wait_until(lambda: not (meter.own_frames or meter.frames or meter.writing))
    log.info("dropping the connection: fault disconnect_after_ms", extra={"fields": fields})
    await transport.abort()  # (the reader then finishes: the connection leaves its channels)
    nursery.cancel_scope.cancel()
