"""A connection's outbox: the bounded memory channel between everyone who wants to send a
frame to one client and the connection's writer task, the only task that writes to its socket.

Items are `Frame`s (a frame's JSON text and its WebSocket bytes) or the `PING` and `WAKE`
control items; all have `.wire`, the bytes to write.
A broadcast is one `Frame` object shared by every subscriber it reaches: encoded and framed once.

Who holds which end (each end has exactly one owner, who closes it):
- the writer task owns the receive end;
- the reader task owns the original send end (replies to this client's own requests);
- the hub owns an `Inlet`: a clone of the send end (broadcasts and pings), which it closes
  when the client leaves the channel or is evicted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple, TypeVar, final

import trio

from . import framing

T = TypeVar("T")


class Frame(NamedTuple):
    """One frame for the wire: its text (plain ASGI sends this) and its bytes (our fast path)."""

    text: str
    wire: bytes

    @classmethod
    def of(cls, text: str) -> Frame:
        return cls(text, framing.text_frame(text))


@final
class Control:
    """A control item: bytes for the wire (maybe none), no text for plain ASGI."""

    text: None = None

    def __init__(self, name: str, wire: bytes) -> None:
        self.name = name
        self.wire = wire

    def __repr__(self) -> str:
        return self.name


PING: Final = Control("PING", framing.PING_FRAME)  # "write a WebSocket ping now"
WAKE: Final = Control("WAKE", b"")  # "look at the connection's state": see connection.py

OutboxItem = Frame | Control


class Inlet:
    """The hub's way into one connection's outbox. `offer()` never waits.

    The fast lane: when the writer task is parked on an empty outbox (it has nothing queued
    and is writing nothing) and the socket takes the whole frame now, `offer()` writes it
    itself: one system call, no wake-up of the writer, no trip through the scheduler. That is
    what keeps a broadcast to 5000 idle clients at one syscall each. Otherwise the frame is
    queued and the writer sends it, in order, batched with whatever else is waiting. Either
    way the client gets frames in the order they were offered.
    """

    __slots__ = ("_send", "_write_nowait")

    def __init__(self, send: OutboxSend, write_nowait: Callable[[bytes], int]) -> None:
        self._send = send
        self._write_nowait = write_nowait  # transport.write_nowait: how much the socket took

    def offer(self, item: OutboxItem, *, coalesce: bool = False) -> None:
        """Deliver or queue `item` (always queue it with `coalesce`: more frames follow at once,
        let the writer send them together). Raises trio.WouldBlock when the outbox is full, and
        trio.BrokenResourceError or trio.ClosedResourceError when the connection is gone."""
        if not coalesce and self._send.statistics().tasks_waiting_receive:  # writer parked
            wire = item.wire
            written = self._write_nowait(wire)
            if written == len(wire):
                return
            if written:  # the socket took a part: the rest goes first in the queue
                item = Control("rest of a frame", wire[written:])
        self._send.send_nowait(item)

    def max_size(self) -> int:
        return int(self._send.statistics().max_buffer_size)

    def close(self) -> None:
        self._send.close()
OutboxSend = trio.MemorySendChannel[OutboxItem]
OutboxReceive = trio.MemoryReceiveChannel[OutboxItem]


def open_outbox(size: int) -> tuple[OutboxSend, OutboxReceive]:
    """A bounded outbox of `size` frames (QAKIT_OUTBOX_SIZE, default 256).

    Why bounded, and why 256: frames only wait here while the kernel's socket buffer (hundreds
    of KiB on Linux) is already full, that is while the client is not reading. 256 frames is
    several seconds of a busy training channel, so a client that merely hiccups never hits it,
    and one that stopped reading costs at most 256 references to shared frames before the
    hub's slow-consumer policy (see hub.py) disconnects it. Memory stays bounded whatever a
    client does.
    """
    return trio.open_memory_channel[OutboxItem](size)


def drain_nowait(receive: trio.MemoryReceiveChannel[T], batch: list[T]) -> list[T]:
    """Append everything already waiting in `receive` (an outbox, or any memory channel) to
    `batch`, without blocking."""
    while True:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return batch
