"""What an accepted WebSocket stops holding (hypercorn 0.18.0, wsproto 1.3.2, h11): `shed`.

An idle connection's memory is what a class, or a load test's thousands of clients, pays
per connection (W4 in docs/benchmarks.md). Once the handshake's 101 has gone, three things
hypercorn and wsproto keep for the connection's whole life are dead weight:

- the parsed handshake headers (only `accepted` is read from then on);
- wsproto's queue of events made outside its parser: a deque, 760 bytes even when empty,
  that only ever holds the CloseConnection of an EOF (a list does: 56 bytes);
- the h11 connection behind hypercorn's WebSocket pass-through (`H11WSConnection`), kept only
  to send the handshake's response (~0.9 KiB: its state machine, buffers, reader and writer).
  Anything that still tried to send an HTTP event through it gets a clear error instead.

QakitWSStream._accept (hyper_ext.py) calls `shed` right after hypercorn's own accept.
"""

from __future__ import annotations

from typing import Any

from hypercorn.protocol.h11 import H11WSConnection
from hypercorn.protocol.ws_stream import WSStream


class Upgraded:
    """Stands in for the h11 connection of a WebSocket that has been accepted."""

    __slots__ = ()

    def send(self, event: Any) -> bytes:
        raise RuntimeError(f"an accepted WebSocket sends no HTTP events (got {event!r})")


UPGRADED = Upgraded()


class Events(list[Any]):
    """wsproto's queue of the events it makes outside its parser, as a list."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def shed(stream: WSStream) -> None:
    """Drop what `stream`, just accepted, no longer needs (the module docstring)."""
    handshake = stream.handshake
    handshake.connection_tokens = handshake.subprotocols = None
    handshake.key = handshake.upgrade = handshake.version = None
    stream.connection._events = Events()  # type: ignore[assignment]
    h11_side = getattr(getattr(stream.send, "__self__", None), "connection", None)
    if isinstance(h11_side, H11WSConnection):  # (hypercorn's H11Protocol sends for this stream)
        h11_side.h11_connection = UPGRADED  # type: ignore[assignment]
