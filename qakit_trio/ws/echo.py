"""`/ws/echo`: every message comes back unchanged, text as text and binary as binary.

A diagnostic endpoint: for checking what a client frames (Postman, a browser, a test), and
what the Autobahn testsuite's fuzzing client runs against (bench/autobahn.py), so the framing
and the write path of the envelope protocol are checked by a client nobody here wrote. It
uses the same Transport (framing once, the synchronous write, hypercorn_ext's close
handling) but not channels:

    echo nursery (serve_echo)
    ├── the echo loop (the nursery's own task): receive -> send back; the only writer
    ├── progress watch: a write unfinished for QAKIT_SLOW_CONSUMER_TIMEOUT (the client stopped
    │   reading) drops the link; on any exit with a write stuck, drops it too (hypercorn
    │   shields its writes, so nothing else could end them: shutdown would hang)
    └── shutdown watch: the server's shutdown -> close 1001 (dropped after QAKIT_CLOSE_TIMEOUT)
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
from qakit_trio.wire.close_codes import GOING_AWAY, MESSAGE_TOO_BIG
from qakit_trio.wire.framing import Frame

log = logging.getLogger(__name__)

ABORT_TIMEOUT = 1.0  # bounds the shielded abort on exit


class _Progress:
    """When the echo loop's current write began (None: not writing)."""

    writing_since: float | None = None


async def serve_echo(transport: Transport, settings: Settings,
                     stopping: ServerTerminated | None = None, delay: float = 0) -> None:
    """Echo until the client closes (or sends more than the message size limit); say 1001
    when the server shuts down (hypercorn's event on the fast path, else `stopping`).
    `delay` (`/ws/echo?delay_ms=`, the training lab): each message comes back this many
    seconds after it arrived, in order."""
    progress = _Progress()
    terminated = transport.server_terminated or stopping
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_progress, transport, settings, progress)
        if terminated is not None:
            nursery.start_soon(_close_on_shutdown, transport, settings, terminated)
        await _echo(transport, settings, progress, delay)
        nursery.cancel_scope.cancel()


async def _watch_progress(transport: Transport, settings: Settings, progress: _Progress) -> None:
    stalled_after = settings.slow_consumer_timeout
    try:
        while True:
            await trio.sleep(stalled_after / 4)
            since = progress.writing_since
            if since is not None and trio.current_time() - since >= stalled_after:
                log.warning("echo client stopped reading: dropping the connection",
                            extra={"fields": {"stalled_s": stalled_after}})
                return  # the abort below ends the stuck write (a close frame could not pass)
    finally:
        if progress.writing_since is not None:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + ABORT_TIMEOUT
                await transport.abort()


async def _close_on_shutdown(transport: Transport, settings: Settings,
                             terminated: ServerTerminated) -> None:
    await terminated.wait()
    await close_within(transport, GOING_AWAY, "server shutting down", settings.close_timeout)
    await trio.sleep(settings.close_timeout)  # the echo loop ends first when the client answers
    await transport.abort()


async def _echo(transport: Transport, settings: Settings, progress: _Progress,
                delay: float) -> None:
    while True:
        try:
            message = await transport.receive()
        except Disconnected as gone:
            logs.info(log, "echo closed", code=gone.close_code)
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
