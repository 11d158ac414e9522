"""A WebSocket in memory: `MemoryTransport` implements the `Transport` protocol (base.py), and
the test plays the client through its `client_*` methods. With it, the connection's logic
(closing, flushing, the watchdog, slow consumers, keepalive) runs on trio's virtual clock:
no sockets, no real time, no flakes on a busy machine.

    transport = MemoryTransport()
    nursery.start_soon(Connection(transport, hub, "room", settings, session).run)
    transport.client_send('{"action":"echo"}')
    frame = await transport.next_frame()        # the next text frame the server wrote
    transport.stall()                           # the client stops reading: writes block
    transport.client_close(1000)                # the client's close frame
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import trio

from qakit_trio.errors import Disconnected
from qakit_trio.transport.base import PONG, Pong, ServerTerminated, reply_code
from qakit_trio.wire.framing import PING, OutboxItem

# Client messages a test may queue before the server reads them (a test sends a handful).
CLIENT_QUEUE = 256

ClientMessage = str | bytes | Pong | Disconnected


class MemoryTransport:
    can_ping = True
    one_task_safe = True  # the client's close is a message like any other

    def __init__(self, server_terminated: ServerTerminated | None = None) -> None:
        self.server_terminated = server_terminated
        # Both ends are this transport's (the test sends, `receive` reads) and live as long as
        # it does; neither is closed: a client's close is a message (`client_close`).
        self._client_send, self._from_client = trio.open_memory_channel[ClientMessage](CLIENT_QUEUE)
        self.frames: list[str | bytes] = []  # text and binary frames the server wrote, in order
        self.pings = 0
        self.close_frame: tuple[int, str] | None = None  # (code, reason) once the server closed
        self.aborted = False
        self._taken = 0  # frames handed out by next_frame
        self._written = trio.Event()  # set at each write, then replaced
        self._reading = trio.Event()  # the client reads: writes go through
        self._reading.set()

    # --- the client (the test) ---------------------------------------------------------------

    def client_send(self, message: str | bytes) -> None:
        self._client_send.send_nowait(message)

    def client_pong(self) -> None:
        self._client_send.send_nowait(PONG)

    def client_close(self, code: int = 1000, reason: str = "") -> None:
        """The client's close frame (or, with 1006, its TCP connection just ending)."""
        self._client_send.send_nowait(Disconnected(code, reason))

    def stall(self) -> None:
        """The client stops reading: every write from now on blocks until `resume` or abort."""
        self._reading = trio.Event()

    def resume(self) -> None:
        self._reading.set()

    async def next_frame(self) -> str | bytes:
        """The next frame the server wrote that this has not handed out yet (waits for it)."""
        await self.wait_until(lambda: len(self.frames) > self._taken)
        self._taken += 1
        return self.frames[self._taken - 1]

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Wait until `done()` holds, checked after each write, close or abort."""
        while not done():
            await self._written.wait()

    def _wrote(self) -> None:
        self._written.set()
        self._written = trio.Event()

    # --- the server (the Transport protocol) -----------------------------------------------

    def write_nowait(self, data: bytes) -> int:
        return 0  # no fast lane here: everything goes through the writer

    def queued(self) -> int:
        return self._from_client.statistics().current_buffer_used

    async def receive(self) -> str | bytes | Pong:
        if self.aborted:
            raise Disconnected(1006, "")
        message = await self._from_client.receive()
        if isinstance(message, Disconnected):
            raise message
        return message

    async def _write(self) -> bool:
        """Wait while the client does not read; False once aborted (the bytes go nowhere,
        as with hypercorn, whose stuck write just ends when the socket is shut down)."""
        await self._reading.wait()
        return not self.aborted

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        if await self._write():
            for item in batch:
                if item is PING:
                    self.pings += 1
                elif item.text is not None:
                    self.frames.append(item.text)
            self._wrote()

    async def send_binary(self, data: bytes) -> None:
        if await self._write():
            self.frames.append(data)
            self._wrote()

    async def close(self, code: int, reason: str) -> None:
        if await self._write():
            self.close_frame = (reply_code(code), reason)
            self._wrote()

    async def abort(self) -> None:
        await trio.lowlevel.checkpoint()
        self.aborted = True
        self._reading.set()  # a stuck write ends
        with contextlib.suppress(trio.WouldBlock):  # and so does the read
            self._client_send.send_nowait(Disconnected(1006, "aborted"))
        self._wrote()
