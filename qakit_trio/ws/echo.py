"""`/ws/echo`: every message comes back unchanged, text as text and binary as binary.

A diagnostic endpoint: for checking what a client frames (Postman, a browser, a test), and
what the Autobahn testsuite's fuzzing client runs against (bench/autobahn.py), so the framing
and the write path of the envelope protocol are checked by a client nobody here wrote. It
uses the same Transport (framing once, the synchronous write, hypercorn_ext's close
handling) but not channels:

    echo nursery (serve_echo)
    ├── the echo loop (the nursery's own task): receive -> send back; the only writer
    ├── progress watch (lone.py): a write unfinished for QAKIT_SLOW_CONSUMER_TIMEOUT drops the link
    └── shutdown watch (lone.py): the server's shutdown -> close 1001
"""

from __future__ import annotations

import logging

import trio

from qakit_trio import logs
from qakit_trio.config import Settings
from qakit_trio.errors import Disconnected
from qakit_trio.transport.base import (
    Pong,
    ServerTerminated,
    Transport,
    close_within,
    reply_code,
)
from qakit_trio.wire.close_codes import MESSAGE_TOO_BIG
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.lone import Progress, close_on_shutdown, watch_progress

log = logging.getLogger(__name__)


async def serve_echo(transport: Transport, settings: Settings,
                     stopping: ServerTerminated | None = None, delay: float = 0) -> None:
    """Echo until the client closes (or sends more than the message size limit); say 1001
    when the server shuts down (hypercorn's event on the fast path, else `stopping`).
    `delay` (`/ws/echo?delay_ms=`, the training lab): each message comes back this many
    seconds after it arrived, in order."""
    progress = Progress()
    terminated = transport.server_terminated or stopping
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_progress, transport, settings, progress, "echo")
        if terminated is not None:
            nursery.start_soon(close_on_shutdown, transport, settings, terminated)
        await _echo(transport, settings, progress, delay)
        nursery.cancel_scope.cancel()


async def _echo(transport: Transport, settings: Settings, progress: Progress,
                delay: float) -> None:
    while True:
        try:
            message = await transport.receive()
        except Disconnected as gone:
            logs.info(log, "echo closed", close_code=gone.close_code)
            await transport.close(reply_code(gone.close_code), gone.reason)
            return
        if isinstance(message, Pong):
            continue
        if len(message) > settings.max_message_size:
            await _close_and_wait(transport, settings, MESSAGE_TOO_BIG, "message too big")
            return
        if delay:
            await trio.sleep(delay)
        progress.writing_since = trio.current_time()
        if isinstance(message, str):
            await transport.send_batch([Frame.of(message)])
        else:
            await transport.send_binary(message)
        progress.writing_since = None


async def _close_and_wait(transport: Transport, settings: Settings, code: int,
                          reason: str) -> None:
    await close_within(transport, code, reason, settings.close_timeout)
    with trio.move_on_after(settings.close_timeout):
        while True:  # until the client's close comes back
            try:
                await transport.receive()
            except Disconnected:
                return
    await transport.abort()
