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

Bounded by frames *and* bytes. A `Meter` counts what waits in one outbox, in two parts: the
client's `own` replies (queued by its reader) and what the hub `shared` with it (broadcasts,
order events, pings). Frames are counted too. The limits (`OutboxLimits`, from
QAKIT_OUTBOX_SIZE and QAKIT_OUTBOX_BYTES) are used three ways:
- hard limit: the hub evicts a member whose *shared* bytes would pass `max_bytes`, or whose
  outbox is full in frames (hub.py: the slow-consumer policy). A client's own replies never
  count against it here: they cannot make a client a slow consumer of itself;
- high water (half the limits): the client's reader waits before queuing another reply, and a
  publisher's reader waits after a broadcast, until the congested outbox drains to
- low water (a quarter of the limits), or its client leaves.
So a client that keeps reading is slowed down, never evicted; one that stops reading holds at
most about `max_bytes` (plus one request's replies) until the slow-consumer watch drops it.

The counting is O(1) per frame: the writer always takes *everything* waiting (drain_nowait), so
whatever the meter counted when the writer took its batch is exactly that batch, and is
subtracted once the batch is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import trio

from qakit_trio.config import OutboxLimits
from qakit_trio.wire.framing import Control, OutboxItem

# What Inlet.offer did with a frame.
WRITTEN: Final = 0  # written to the socket at once (the fast lane)
QUEUED: Final = 1  # queued for the connection's writer
CONGESTED: Final = 2  # queued, and the outbox is now at or above high water


class Meter:
    """What waits in one outbox (and whether its writer is stuck); see the module docstring.
    Everything here is synchronous: it is updated in the same step as the channel itself.
    The writer updates it once per batch with plain attribute writes (Connection._write_loop):
    on the fan-out path there is one batch per subscriber per burst."""

    __slots__ = ("_drained", "frames", "high_bytes", "high_frames", "limits", "low_bytes",
                 "low_frames", "out", "own", "shared", "stall_mark", "writes", "writing")

    def __init__(self, limits: OutboxLimits) -> None:
        self.limits = limits
        # High water is half the limits, low water a quarter; plain numbers, because congestion
        # is checked once per queued frame on the fan-out path.
        self.high_bytes, self.high_frames = limits.max_bytes // 2, limits.max_frames // 2
        self.low_bytes, self.low_frames = limits.max_bytes // 4, limits.max_frames // 4
        self.own = 0  # bytes of the client's own replies, queued
        self.shared = 0  # bytes the hub queued (broadcasts, events, pings)
        self.frames = 0
        self.out = 0  # frames handed to this client so far, written or queued (the inspector)
        self.writing = False  # the writer is in a write (it may be stuck in it)
        self.writes = 0  # batches written so far: progress
        # (writes, trio time) when the slow-consumer watch first saw no progress (keepalive.py)
        self.stall_mark: tuple[int, float] | None = None
        self._drained: trio.Event | None = None  # made by the first waiter, set at low water

    def added(self, size: int, *, own: bool) -> None:
        if own:
            self.own += size
        else:
            self.shared += size
        self.frames += 1
        self.out += 1

    def congested(self) -> bool:
        return (self.frames >= self.high_frames
                or self.own + self.shared >= self.high_bytes)

    def above_low_water(self) -> bool:
        return self.frames > self.low_frames or self.own + self.shared > self.low_bytes

    def wake_if_drained(self) -> None:
        """After a batch is written: wake a waiter once this outbox is at low water."""
        if self._drained is not None and not self.above_low_water():
            self.wake()

    def wake(self) -> None:
        """Wake whoever waits for this outbox to drain (it drained, or the client left)."""
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    async def wait_drained(self, gone: Callable[[], bool]) -> None:
        """Wait until this outbox is at low water, or `gone()` (its client left)."""
        while self.above_low_water() and not gone():
            if self._drained is None:
                self._drained = trio.Event()
            await self._drained.wait()


class Inlet:
    """The hub's way into one connection's outbox. `offer()` never waits.

    The fast lane: when the writer task is parked on an empty outbox (it has nothing queued
    and is writing nothing) and the socket takes the whole frame now, `offer()` writes it
    itself: one system call, no wake-up of the writer, no trip through the scheduler. That is
    what keeps a broadcast to 5000 idle clients at one syscall each. Otherwise the frame is
    queued and the writer sends it, in order, batched with whatever else is waiting. Either
    way the client gets frames in the order they were offered.
    """

    __slots__ = ("_max_bytes", "_send", "_write_nowait", "meter")

    def __init__(self, send: OutboxSend, write_nowait: Callable[[bytes], int],
                 meter: Meter | None = None) -> None:
        self._send = send
        self._write_nowait = write_nowait  # transport.write_nowait: how much the socket took
        # (tests may leave the meter out: then only the channel's own bound applies)
        self.meter = meter or Meter(OutboxLimits(int(send.statistics().max_buffer_size),
                                                 1 << 62))
        self._max_bytes = self.meter.limits.max_bytes

    def offer(self, item: OutboxItem, coalesce: bool = False) -> int:
        """Deliver or queue `item` (always queue it with `coalesce`: more frames follow at once,
        let the writer send them together). Returns WRITTEN (sent at once), QUEUED, or
        CONGESTED (queued, and the outbox is now at or above high water).
        Raises trio.WouldBlock when the outbox is full (in frames, or in the bytes the hub has
        queued), and trio.BrokenResourceError or trio.ClosedResourceError when the connection
        is gone. On the fan-out path (once per subscriber per frame): kept to plain steps,
        with `Meter.added` and `Meter.congested` written out inline."""
        if not coalesce and self._send.statistics().tasks_waiting_receive:  # writer parked
            wire = item.wire
            written = self._write_nowait(wire)
            if written == len(wire):
                self.meter.out += 1
                return WRITTEN
            if written:  # the socket took a part: the rest goes first in the queue
                item = Control("rest of a frame", wire[written:])
        meter = self.meter
        shared = meter.shared
        if shared:
            shared += len(item.wire)
            if shared > self._max_bytes:
                raise trio.WouldBlock  # over the byte limit (a first frame always fits)
        else:
            shared = len(item.wire)
        self._send.send_nowait(item)
        meter.shared = shared
        frames = meter.frames = meter.frames + 1
        meter.out += 1
        if frames >= meter.high_frames or shared + meter.own >= meter.high_bytes:
            return CONGESTED
        return QUEUED

    def close(self) -> None:
        self._send.close()
        self.meter.wake()  # a publisher waiting for this client to drain: it has left
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
