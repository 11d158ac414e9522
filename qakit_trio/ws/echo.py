"""`/ws/echo`: every message comes back unchanged, text as text and binary as binary.

A diagnostic endpoint: for checking what a client frames (Postman, a browser, a test), and
what the Autobahn testsuite's fuzzing client runs against (bench/autobahn.py), so the framing
and the write path of the envelope protocol are checked by a client nobody here wrote. It
uses the same Transport (framing once, the synchronous write, hypercorn_ext's close
handling) but not channels:

    echo nursery (Echo.run)
    ├── reader (the nursery's own task): receive -> the echo queue, with when it arrived
    ├── writer: each message back `delay` after it arrived, in order
    ├── progress watch (lone.py): a write unfinished for QAKIT_SLOW_CONSUMER_TIMEOUT drops the link
    └── shutdown watch (lone.py): the server's shutdown -> close 1001

The reader never waits for a write, only for room in the echo queue (bounded like an outbox:
QAKIT_OUTBOX_SIZE messages, QAKIT_OUTBOX_BYTES bytes; then the server stops reading the client
and its TCP window holds the rest). So `?delay_ms=` delays each message from when it arrived,
not from when the one before it went out, and a client that floods, stops reading and vanishes
is let go: on plain ASGI one task that both read and wrote waited for itself once the server
awaited the client's end into its full queue, holding the connection and its file descriptor
for good (transport/base.py, `one_task_safe`). Where the transport is one-task-safe (our
extension) and there is no delay, the reader echoes each message itself, in the step that
read it, and no writer runs. Once the progress watch has given up on a write (the link is
dropped where the transport can), the reader reads on until the client is gone and echoes
nothing more.
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

Queued = tuple[float, str | bytes]  # (when it arrived, the message)


async def serve_echo(
    transport: Transport,
    settings: Settings,
    stopping: ServerTerminated | None = None,
    delay: float = 0,
) -> None:
    """Echo until the client closes (or sends more than the message size limit); say 1001
    when the server shuts down (hypercorn's event on the fast path, else `stopping`).
    `delay` (`/ws/echo?delay_ms=`, the training lab): each message comes back this many
    seconds after it arrived, in order."""
    await Echo(transport, settings, stopping, delay).run()


class Echo:
    def __init__(
        self,
        transport: Transport,
        settings: Settings,
        stopping: ServerTerminated | None,
        delay: float,
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._terminated = transport.server_terminated or stopping
        self._delay = delay
        self._inline = not delay and transport.one_task_safe  # the reader writes: no writer
        self._progress = Progress()
        self._queued_bytes = 0  # read and not yet echoed (the one being written included)
        self._room: trio.Event | None = None  # the reader waits for room in the echo queue
        self._stalled = False  # the progress watch gave up on a write: echo nothing more
        self._ending = False  # the reader is done: the writer echoes nothing more
        self._wait_scope = trio.CancelScope()  # the writer's wait for a delayed echo
        self._writer_done = trio.Event()

    async def run(self) -> None:
        # Bounded like an outbox (QAKIT_OUTBOX_SIZE); the bytes are bounded in `_enqueue`.
        queue_send, queue_receive = trio.open_memory_channel[Queued](self._settings.outbox_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch)
            if self._terminated is not None:
                nursery.start_soon(
                    close_on_shutdown, self._transport, self._settings, self._terminated
                )
            if self._inline:
                queue_receive.close()  # no writer to own it
                self._writer_done.set()
            else:
                nursery.start_soon(self._write_loop, queue_receive)
            with queue_send:  # the reader owns the send end: closing it ends the writer
                too_big = await self._read_loop(queue_send)
            await self._writer_done.wait()  # at most its write in progress (the watch bounds it)
            if too_big:
                await self._close_and_wait(MESSAGE_TOO_BIG, "message too big")
            nursery.cancel_scope.cancel()

    async def _read_loop(self, queue: trio.MemorySendChannel[Queued]) -> bool:
        """Read until the client is gone (False) or sent too much (True). Either way, what was
        not echoed yet is not echoed any more (the writer skips it)."""
        try:
            while True:
                try:
                    message = await self._transport.receive()
                except Disconnected as gone:
                    logs.info(log, "echo closed", close_code=gone.close_code)
                    self._end_writer()
                    await self._transport.close(reply_code(gone.close_code), gone.reason)
                    return False
                if isinstance(message, Pong) or self._stalled:
                    continue
                if len(message) > self._settings.max_message_size:
                    return True
                if self._inline:
                    await self._write(message)
                else:
                    await self._enqueue(queue, (trio.current_time(), message))
        finally:
            self._end_writer()

    async def _enqueue(self, queue: trio.MemorySendChannel[Queued], item: Queued) -> None:
        size = len(item[1])
        while not self._stalled:
            if not self._queued_bytes or self._queued_bytes + size <= self._settings.outbox_bytes:
                try:
                    queue.send_nowait(item)
                except trio.WouldBlock:
                    pass
                else:
                    self._queued_bytes += size
                    return
            self._room = trio.Event()
            await self._room.wait()  # the writer echoed one, or the watch gave up

    def _wake_reader(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None

    def _end_writer(self) -> None:
        self._ending = True
        self._wait_scope.cancel()

    async def _write_loop(self, queue: trio.MemoryReceiveChannel[Queued]) -> None:
        try:
            with queue:  # the writer owns the receive end
                async for arrived, message in queue:
                    if self._delay and not self._ending:
                        with trio.CancelScope() as self._wait_scope:  # cancelled by the reader
                            await trio.sleep_until(arrived + self._delay)
                    if not (self._ending or self._stalled):
                        await self._write(message)
                    self._queued_bytes -= len(message)
                    self._wake_reader()
        finally:
            self._writer_done.set()

    async def _write(self, message: str | bytes) -> None:
        self._progress.writing_since = trio.current_time()
        if isinstance(message, str):
            await self._transport.send_batch([Frame.of(message)])
        else:
            await self._transport.send_binary(message)
        self._progress.writing_since = None

    async def _watch(self) -> None:
        """The progress watch; once it has given up on a write, the reader stops waiting for
        room and reads on (discarding) until the client is gone."""
        await watch_progress(self._transport, self._settings, self._progress, "echo")
        self._stalled = True
        self._wake_reader()

    async def _close_and_wait(self, code: int, reason: str) -> None:
        transport = self._transport
        await close_within(transport, code, reason, self._settings.close_timeout)
        with trio.move_on_after(self._settings.close_timeout):
            while True:  # until the client's close comes back
                try:
                    await transport.receive()
                except Disconnected:
                    return
        await transport.abort()
