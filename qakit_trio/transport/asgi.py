"""The app's end of one WebSocket over ASGI: `HypercornTransport` (our hypercorn extension,
announced in the scope) or `PlainTransport` (plain ASGI). `open_transport` picks by the scope.
The protocol both implement, and what each can and cannot do: base.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent

from qakit_trio.errors import Disconnected
from qakit_trio.transport import hyper_ext
from qakit_trio.transport.base import PONG, Pong, ServerTerminated, Transport, reply_code
from qakit_trio.transport.read_loan import READ, Holder, ReadLoan
from qakit_trio.wire import framing
from qakit_trio.wire.framing import OutboxItem

Close = Callable[[int, str], Awaitable[None]]


def open_transport(
    receive: ASGIReceiveCallable,
    send: ASGISendCallable,
    scope_extensions: dict[str, Any],
    close: Close,
) -> Transport:
    """The transport for one WebSocket: ours when the server announces our extension."""
    extension = scope_extensions.get(hyper_ext.EXTENSION)
    if extension is not None:
        return HypercornTransport(receive, send, close, extension)
    return PlainTransport(receive, send, close)


def _disconnected(message: dict[str, Any]) -> Disconnected:
    return Disconnected(int(message.get("code", 1005)), message.get("reason") or "")


class PlainTransport:
    """Plain ASGI: works under any ASGI server (and quart's in-process test client).

    What it cannot do, and what that means for the service:
    - no pings (ASGI has none): clients are not pinged, so a peer that vanished without a FIN
      is only dropped when a write to it fails or stalls (the slow-consumer watch);
    - no abort: a write to a client that stopped reading ends when the server's own limits
      end it, not at QAKIT_CLOSE_TIMEOUT;
    - no shutdown event from the server: under our launchers the app is told by the launcher
      (`Services.stopping`, server.serve), so clients still get 1001; under
      `hypercorn qakit_trio.asgi:app` they get hypercorn's own close;
    - one `websocket.send` per frame (no shared framing, no batching): slower fan-out;
    - the client's close code is whatever the server reports (hypercorn: 1006 when it does
      not tell, upstream hypercorn#127);
    - a client that vanishes while the server's write to it is stuck and its queue to the app
      is full cannot be told apart from a slow one: hypercorn awaits the disconnect into that
      queue, so its descriptor comes back once the progress watch gives up on the write
      (QAKIT_SLOW_CONSUMER_TIMEOUT), not at once; and a client that closes an idle HTTP
      connection keeps its socket until hypercorn's keep-alive timeout (5 s).
    The protocol contract (frames, errors, close codes the app sends) is the same.
    """

    __slots__ = ("_close", "_closed", "_receive", "_send", "server_terminated")

    can_ping = False
    one_task_safe = False

    def __init__(self, receive: ASGIReceiveCallable, send: ASGISendCallable, close: Close) -> None:
        self._receive, self._send = receive, send
        self._close = close  # quart's websocket.close: quart then knows we closed
        # Our close frame is on its way: frames after it are dropped, as on the fast path
        # (hypercorn raised for a send after the close: an inspector's table, due just after
        # the shutdown's 1001, was an "Error in ASGI Framework").
        self._closed = False
        self.server_terminated: ServerTerminated | None = None

    def write_nowait(self, data: bytes) -> int:
        return 0  # no synchronous write in ASGI: everything goes through the writer

    def queued(self) -> int:
        return 0  # ASGI does not tell

    async def receive(self) -> str | bytes | Pong:
        while True:
            message = cast(dict[str, Any], await self._receive())
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                return text if text is not None else (message.get("bytes") or b"")
            if kind == "websocket.disconnect":
                raise _disconnected(message)
            # "websocket.connect" (the first event, already answered by accept): nothing to do

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        for item in batch:  # one message per frame; pings (no text) cannot be sent
            if self._closed:
                await trio.lowlevel.checkpoint()
                return
            if item.text is not None:
                await self._send({"type": "websocket.send", "bytes": None, "text": item.text})

    async def send_binary(self, data: bytes) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        await self._send({"type": "websocket.send", "bytes": data, "text": None})

    async def close(self, code: int, reason: str) -> None:
        self._closed = True
        await self._close(reply_code(code), reason)

    async def abort(self) -> None:
        await trio.lowlevel.checkpoint()  # nothing to do it with: see the class docstring


class HypercornTransport:
    """Over our hypercorn extension (hyper_ext.py, `scope["extensions"]["qakit.websocket"]`)."""

    __slots__ = (
        "_after_end",
        "_close",
        "_loan",
        "_receive",
        "_send",
        "_take_nowait",
        "_taken",
        "queued",
        "server_terminated",
        "stop_pongs",
        "write_nowait",
    )

    can_ping = True
    one_task_safe = True

    def __init__(
        self,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        close: Close,
        extension: dict[str, Any],
    ) -> None:
        self._receive, self._send = receive, send
        self._close = close
        self._taken: Callable[[int], None] = extension["taken"]
        self.queued: Callable[[], int] = extension["queued"]
        self.server_terminated: ServerTerminated | None = extension["server_terminated"]
        self._take_nowait: Callable[[], Any] = extension["take_nowait"]
        self.write_nowait: Callable[[bytes], int] = extension["write_nowait"]
        # the client's pings unanswered from now on (the training lab's ?pongs=off)
        self.stop_pongs: Callable[[], None] = extension["stop_pongs"]
        # once the connection is gone and the queue taken: the rest, the disconnect last
        self._after_end: Callable[[], Any] = extension["after_end"]
        # lent the socket while only common frames come (read_loan.py; None: TLS, or not ours)
        self._loan: ReadLoan | None = extension.get("read_loan")
        if self._loan is not None:
            self._loan.wanted = True

    async def receive(self) -> str | bytes | Pong:
        """The next message from the client. Raises `Disconnected` once it is gone.

        When a message is already waiting it is returned without a checkpoint, so a reader
        handles a burst of requests in one turn (the queue holds at most hypercorn's
        max_app_queue_size, 10) and their replies and broadcasts go out in shared writes.
        Once the connection is gone the queue ends (hyper_ext never waits to say so: a client
        that vanished mid-flood is let go at once, app_inbox.py), then comes the disconnect.
        While the server lends this task the socket, it reads and parses the frames itself
        (read_loan.py), one task waking per request instead of two.
        """
        loan = self._loan
        while True:
            if loan is not None and loan.holder is Holder.APP:
                read = await loan.read()
                if read is not None:
                    return read  # (None: the socket went back; what follows is queued)
            try:
                message = cast(dict[str, Any] | None, self._take_nowait())  # None: none yet
                if message is None:
                    message = cast(dict[str, Any], await self._receive())
            except trio.EndOfChannel:
                message = cast(dict[str, Any], self._after_end())
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                data = text if text is not None else (message.get("bytes") or b"")
                self._taken(len(data))  # the server's inbox is bounded in bytes (hyper_ext)
                return data
            if kind == "websocket.disconnect":
                raise _disconnected(message)
            if kind == hyper_ext.PONG:
                return PONG
            if kind == READ and loan is not None:  # the socket is lent: read it from now on
                loan.take()

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        """Frames and pings in order, as ONE socket write of the already framed bytes (a
        broadcast's bytes are shared by every subscriber)."""
        await self._write(b"".join([item.wire for item in batch]))

    async def send_binary(self, data: bytes) -> None:
        await self._write(framing.binary_frame(data))

    async def _write(self, data: bytes) -> None:
        written = self.write_nowait(data)  # usually all of it, without an await
        if written < len(data):
            await self._send(cast(ASGISendEvent, {"type": hyper_ext.WRITE, "data": data[written:]}))

    async def close(self, code: int, reason: str) -> None:
        await self._close(reply_code(code), reason)

    async def abort(self) -> None:
        """Drop the TCP connection now (unblocks a write stuck on a peer that stopped reading)."""
        await self._send(cast(ASGISendEvent, {"type": hyper_ext.ABORT}))
