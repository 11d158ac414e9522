"""The app's end of one WebSocket: receive, send batches, ping, close, abort.

It talks ASGI to the server. Under hypercorn with `hyper_ext` installed (always, when started by
our CLI or by `hypercorn qakit_trio.asgi:app`), it uses the extra messages that extension
offers; under any other ASGI server (or quart's in-process test client) it falls back to plain
ASGI: one `websocket.send` per frame, no pings, no abort, and the server's own close codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, cast, final

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent

from qakit_trio.errors import Disconnected
from qakit_trio.transport import hyper_ext
from qakit_trio.wire import framing
from qakit_trio.wire.framing import OutboxItem

# Close codes that must never be put in a close frame (RFC 6455 section 7.4.1).
_LOCAL_ONLY = {1005, 1006, 1015}


@final
class Pong:
    """What `receive()` returns when the client answered a ping."""

    def __repr__(self) -> str:
        return "PONG"


PONG: Final = Pong()


class ServerTerminated(Protocol):
    async def wait(self) -> None: ...


def _nothing_waiting() -> Any:
    raise trio.WouldBlock


def _nothing_written(data: bytes) -> int:
    return 0  # plain ASGI has no synchronous write


def _nothing_taken(size: int) -> None:
    pass  # plain ASGI: the server's queue is its own business


def _none_queued() -> int:
    return 0  # plain ASGI does not tell


def reply_code(code: int) -> int:
    """The code to answer a client's close with: its own, unless that cannot go in a frame."""
    return 1000 if code in _LOCAL_ONLY else code


class Transport:
    __slots__ = ("_close", "_receive", "_receive_nowait", "_send", "_taken", "extended",
                 "queued", "server_terminated", "write_nowait")

    def __init__(
        self,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        scope_extensions: dict[str, Any],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self._receive = receive
        self._send = send
        self._close = close  # quart's websocket.close: quart then knows we closed
        extension = scope_extensions.get(hyper_ext.EXTENSION)
        self.extended = extension is not None
        self.server_terminated: ServerTerminated | None = None
        self._receive_nowait: Callable[[], Any] = _nothing_waiting
        self.write_nowait: Callable[[bytes], int] = _nothing_written
        self.queued: Callable[[], int] = _none_queued
        self._taken: Callable[[int], None] = _nothing_taken
        if extension is not None:
            self._taken = extension["taken"]
            self.queued = extension["queued"]
            self.server_terminated = extension["server_terminated"]
            self._receive_nowait = extension["receive_nowait"]
            self.write_nowait = extension["write_nowait"]

    async def receive(self) -> str | bytes | Pong:
        """The next message from the client. Raises `Disconnected` once it is gone.

        When a message is already waiting it is returned without a checkpoint, so a reader
        handles a burst of requests in one turn (the queue holds at most hypercorn's
        max_app_queue_size, 10) and their replies and broadcasts go out in shared writes.
        """
        while True:
            try:
                message = cast(dict[str, Any], self._receive_nowait())
            except trio.WouldBlock:
                message = cast(dict[str, Any], await self._receive())
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                data = text if text is not None else (message.get("bytes") or b"")
                self._taken(len(data))  # the server's inbox is bounded in bytes (hyper_ext)
                return data
            if kind == "websocket.disconnect":
                raise Disconnected(int(message.get("code", 1005)), message.get("reason") or "")
            if kind == hyper_ext.PONG:
                return PONG
            # "websocket.connect" (the first event, already answered by accept): nothing to do

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        """Send frames and pings in order: over our hypercorn path, as ONE socket write of the
        already framed bytes (a broadcast's bytes are shared by every subscriber)."""
        if self.extended:
            await self._write(b"".join([item.wire for item in batch]))
            return
        for item in batch:  # plain ASGI: one message per frame, and no way to ping
            if item.text is not None:
                await self._send({"type": "websocket.send", "bytes": None, "text": item.text})

    async def send_binary(self, data: bytes) -> None:
        if self.extended:
            await self._write(framing.binary_frame(data))
        else:
            await self._send({"type": "websocket.send", "bytes": data, "text": None})

    async def _write(self, data: bytes) -> None:
        written = self.write_nowait(data)  # usually all of it, without an await
        if written < len(data):
            await self._send(cast(ASGISendEvent, {"type": hyper_ext.WRITE,
                                                  "data": data[written:]}))

    async def close(self, code: int, reason: str) -> None:
        await self._close(reply_code(code), reason)

    async def abort(self) -> None:
        """Drop the TCP connection now (unblocks a write stuck on a peer that stopped reading)."""
        if self.extended:
            await self._send(cast(ASGISendEvent, {"type": hyper_ext.ABORT}))


async def close_within(transport: Transport, code: int, reason: str, abort_after: float) -> None:
    """Send a close frame; if the socket has not taken it within `abort_after` s, drop the link.

    Not a `move_on_after` around the close: hypercorn shields its socket writes, so only closing
    the socket under a stuck write (abort) can end it.
    """

    async def abort_later() -> None:
        await trio.sleep(abort_after)
        await transport.abort()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(abort_later)
        await transport.close(code, reason)
        nursery.cancel_scope.cancel()
