"""What a connection needs from its WebSocket: the `Transport` protocol.

`Connection` (ws/connection.py), `/ws/echo` and the sessions depend on this protocol only.
Three implementations:

- `asgi.HypercornTransport`: over our hypercorn extension (hyper_ext.py): frames written as
  bytes framed once, one socket write per batch, pings, abort, the client's real close code,
  hypercorn's shutdown event. What the launchers run by default (QAKIT_FAST_PATH=1).
- `asgi.PlainTransport`: plain ASGI, under any server (QAKIT_FAST_PATH=0, another ASGI server,
  quart's test client): one `websocket.send` per frame, and no pings, no abort, no shutdown
  event (see its docstring for what that costs).
- `memory.MemoryTransport`: in memory, for tests of the connection's logic on trio's virtual
  clock (tests/ws/test_connection_memory.py).
"""

from __future__ import annotations

from typing import Final, Protocol, final

import trio

from qakit_trio.wire.close_codes import reply_code
from qakit_trio.wire.framing import OutboxItem

__all__ = ["PONG", "Pong", "ServerTerminated", "Transport", "close_within", "reply_code"]


@final
class Pong:
    """What `receive()` returns when the client answered a ping."""

    def __repr__(self) -> str:
        return "PONG"


PONG: Final = Pong()


class ServerTerminated(Protocol):
    async def wait(self) -> None: ...


class Transport(Protocol):
    """The app's end of one WebSocket."""

    # Set when the server can tell the app it is shutting down (then the app says 1001).
    server_terminated: ServerTerminated | None
    # Whether `send_batch` writes PING items as WebSocket pings (and pongs come back as PONG):
    # keepalive pings, and drops for silence, only members whose transport can ping.
    can_ping: bool
    # Whether one task may both read and write: the server tells the app its client is gone
    # without waiting for the app to read (our extension: app_inbox.py). Plain ASGI servers
    # await that into the app's queue, full when a client floods: a task stuck writing to
    # the vanished client then waits on itself (/ws/echo writes from a second task there).
    one_task_safe: bool

    def write_nowait(self, data: bytes) -> int:
        """Write what the socket takes right now, without waiting; how many bytes that was."""
        ...

    def queued(self) -> int:
        """How many client messages wait in the server's queue (a burst is coming)."""
        ...

    async def receive(self) -> str | bytes | Pong:
        """The next message from the client; raises `errors.Disconnected` once it is gone."""
        ...

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        """Send frames (and pings, where `can_ping`) in order."""
        ...

    async def send_binary(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame (the code as `reply_code` makes it)."""
        ...

    async def abort(self) -> None:
        """Drop the connection now (ends a write stuck on a peer that stopped reading)."""
        ...


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
