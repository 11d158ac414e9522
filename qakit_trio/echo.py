"""`/ws/echo`: every message comes back unchanged, text as text and binary as binary.

A diagnostic endpoint: for checking what a client frames (Postman, a browser, a test), and
what the Autobahn testsuite's fuzzing client runs against (bench/autobahn.py), so the framing
and the write path of the envelope protocol are checked by a client nobody here wrote. It
uses the same Transport (framing once, the synchronous write, hypercorn_ext's close
handling) but not channels: one task receives and answers; a second one only waits for the
server's shutdown to say 1001.
"""

from __future__ import annotations

import logging

import trio

from . import logs
from .config import Settings
from .hub import GOING_AWAY
from .outbox import Frame
from .transport import Disconnected, Pong, ServerTerminated, Transport, reply_code

log = logging.getLogger(__name__)

MESSAGE_TOO_BIG = 1009


async def serve_echo(transport: Transport, settings: Settings) -> None:
    """Echo until the client closes (or sends more than the message size limit); say 1001
    when the server shuts down."""
    async with trio.open_nursery() as nursery:
        if transport.server_terminated is not None:
            nursery.start_soon(_close_on_shutdown, transport, settings, transport.server_terminated)
        await _echo(transport, settings)
        nursery.cancel_scope.cancel()


async def _close_on_shutdown(transport: Transport, settings: Settings,
                             terminated: ServerTerminated) -> None:
    await terminated.wait()
    await transport.close(GOING_AWAY, "server shutting down")
    await trio.sleep(settings.close_timeout)  # the echo loop ends first when the client answers
    await transport.abort()


async def _echo(transport: Transport, settings: Settings) -> None:
    while True:
        try:
            message = await transport.receive()
        except Disconnected as gone:
            logs.info(log, "echo closed", code=gone.code)
            await transport.close(reply_code(gone.code), gone.reason)
            return
        if isinstance(message, Pong):
            continue
        if len(message) > settings.max_message_size:
            await _close_and_wait(transport, settings, MESSAGE_TOO_BIG, "message too big")
            return
        if isinstance(message, str):
            await transport.send_batch([Frame.of(message)])
        else:
            await transport.send_binary(message)


async def _close_and_wait(transport: Transport, settings: Settings, code: int,
                          reason: str) -> None:
    await transport.close(code, reason)
    with trio.move_on_after(settings.close_timeout):
        while True:  # until the client's close comes back
            try:
                await transport.receive()
            except Disconnected:
                return
    await transport.abort()
