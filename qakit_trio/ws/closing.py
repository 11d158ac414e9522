"""A connection's close watchdog (ws/connection.py says how closing goes): once closing has
started, the client has QAKIT_CLOSE_TIMEOUT to close its side; if it does not (a vanished peer,
or one that stopped reading and left our write stuck), the TCP connection is dropped and the
connection's nursery cancelled. And a trainee's `disconnect_after_ms` fault: the TCP connection
dropped on purpose, with no close frame, as a lost Wi-Fi would (the client sees 1006)."""

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
