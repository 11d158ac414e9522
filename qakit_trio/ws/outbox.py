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

Bounded by frames *and* bytes, in two rooms. A `Meter` counts what waits in one outbox: what
the hub `shared` with it (broadcasts, order events, pings: bytes and `frames`) and the client's
`own` replies (queued by its reader: bytes and `own_frames`). The limits (`OutboxLimits`, from
QAKIT_OUTBOX_SIZE and QAKIT_OUTBOX_BYTES) are used three ways:
- hard limit of the hub's room: the hub evicts a member whose shared bytes would pass
  `max_bytes`, or whose shared frames would pass `max_frames` (hub.py: the slow-consumer
  policy). A client's own replies never count here: they cannot make it a slow consumer of
  itself;
- high water (half the hub's limits): a publisher's reader waits after a broadcast until each
  subscriber it congested drains to
- low water (a quarter), or leaves (flow control, hub.py). Only the hub's room counts, so a
  publisher never waits on anybody's own replies, its own included.
- the own room is far larger (8x the bytes and 32x the frames: 8 MiB and 8,192 frames by
  default), and the reader waits only when it is full. Why so large: a
  client whose writing blocks its reading (`websockets.sync.client` holds one lock for both)
  stops reading as soon as the stand stops reading it; had the stand waited for such a
  client's replies to drain, neither side would move again. Measured: a sync publisher of
  3,000 broadcasts of 2 KB, reading all along in its second thread, had up to 3.2 MB and 4,080
  of its own replies waiting (tests/ws/test_flow_control.py). A client that sends and reads
  nothing holds at most the own room before its reader waits, and is then evicted by the
  slow-consumer watch (keepalive.py) like any client that stopped reading.
So a client that keeps reading is slowed down, never evicted; one that stops reading holds at
most both rooms until the slow-consumer watch drops it.

The counting is O(1) per frame: the writer always takes *everything* waiting (drain_nowait), so
whatever the meter counted when the writer took its batch is exactly that batch, and is
subtracted once the batch is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import trio

from qakit_trio.config import OWN_ROOM_FRAMES, OutboxLimits
from qakit_trio.wire.framing import Control, OutboxItem

# How much larger the room of a client's own replies is than the hub's (the module docstring):
# OWN_ROOM_FRAMES (config.py: QAKIT_HISTORY_SIZE must fit it) times in frames, this in bytes.
OWN_ROOM_BYTES: Final = 8


def capacity(limits: OutboxLimits) -> int:
    """The outbox channel's bound: the hub's frames plus the client's own (8,448 by default)."""
    return limits.max_frames * (1 + OWN_ROOM_FRAMES)


# What Inlet.offer did with a frame.
WRITTEN: Final = 0  # written to the socket at once (the fast lane)
QUEUED: Final = 1  # queued for the connection's writer
CONGESTED: Final = 2  # queued, and the outbox is now at or above high water


class Meter:
    """What waits in one outbox (and whether its writer is stuck); see the module docstring.
    Everything here is synchronous: it is updated in the same step as the channel itself.
    The writer updates it once per batch with plain attribute writes (Connection._write_loop):
    on the fan-out path there is one batch per subscriber per burst."""

    __slots__ = (
        "_progress",
        "frames",
        "high_bytes",
        "high_frames",
        "limits",
        "low_bytes",
        "low_frames",
        "out",
        "own",
        "own_frames",
        "own_max_bytes",
        "own_max_frames",
        "paused",
        "shared",
        "stall_mark",
        "writes",
        "writing",
    )

    def __init__(self, limits: OutboxLimits) -> None:
        self.limits = limits
        # High water is half the hub's limits, low water a quarter; plain numbers, because
        # congestion is checked once per queued frame on the fan-out path.
        self.high_bytes, self.high_frames = limits.max_bytes // 2, limits.max_frames // 2
        self.low_bytes, self.low_frames = limits.max_bytes // 4, limits.max_frames // 4
        self.own_max_bytes = OWN_ROOM_BYTES * limits.max_bytes
        self.own_max_frames = OWN_ROOM_FRAMES * limits.max_frames
        self.own = 0  # bytes of the client's own replies, queued
        self.own_frames = 0
        self.shared = 0  # bytes the hub queued (broadcasts, events, pings)
        self.frames = 0  # frames the hub queued
        self.out = 0  # frames handed to this client so far, written or queued (the inspector)
        self.writing = False  # the writer is in a write (it may be stuck in it)
        self.writes = 0  # batches written so far: progress
        # > 0 while the stand does not read this client because its reader waits for others
        # (flow control): such time is never counted as the client making no progress
        self.paused = 0
        # (writes, trio time) when the slow-consumer watch first saw no progress (keepalive.py)
        self.stall_mark: tuple[int, float] | None = None
        self._progress: trio.Event | None = None  # made by the first waiter, set per batch

    def added_own(self, size: int) -> None:
        self.own += size
        self.own_frames += 1
        self.out += 1

    def own_room_full(self) -> bool:
        return self.own >= self.own_max_bytes or self.own_frames >= self.own_max_frames

    def above_low_water(self) -> bool:
        return self.frames > self.low_frames or self.shared > self.low_bytes

    def wrote(self) -> None:
        """After a batch is written: wake whoever waits for this outbox to move on."""
        if self._progress is not None:
            self.wake()

    def wake(self) -> None:
        """Wake whoever waits on this outbox (a batch was written, or the client left)."""
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Wait until `done()`, checked after each batch written and when the client leaves."""
        while not done():
            if self._progress is None:
                self._progress = trio.Event()
            await self._progress.wait()


class Inlet:
    """The hub's way into one connection's outbox. `offer()` never waits.

    The fast lane: when the writer task is parked on an empty outbox (it has nothing queued
    and is writing nothing) and the socket takes the whole frame now, `offer()` writes it
    itself: one system call, no wake-up of the writer, no trip through the scheduler. That is
    what keeps a broadcast to 5000 idle clients at one syscall each. Otherwise the frame is
    queued and the writer sends it, in order, batched with whatever else is waiting. Either
    way the client gets frames in the order they were offered.
    """

    __slots__ = ("_closed", "_max_bytes", "_max_frames", "_open", "_send", "_write_nowait", "meter")

    def __init__(
        self,
        send: OutboxSend | None,
        write_nowait: Callable[[bytes], int],
        meter: Meter | None = None,
        open_outbox: Callable[[], object] | None = None,
    ) -> None:
        # None until the connection opens its outbox (`LazyOutbox`), which then `attach`es a
        # clone of the send end here: `open_outbox` is how this asks it to
        self._send = send
        self._open = open_outbox
        self._closed = False
        self._write_nowait = write_nowait  # transport.write_nowait: how much the socket took
        if meter is None:  # (tests may leave it out: then only the channel's own bound applies)
            assert send is not None, "an inlet with no outbox yet needs its connection's meter"
            meter = Meter(OutboxLimits(int(send.statistics().max_buffer_size), 1 << 62))
        self.meter = meter
        self._max_bytes = self.meter.limits.max_bytes
        self._max_frames = self.meter.limits.max_frames

    def attach(self, send: OutboxSend) -> None:
        """The connection opened its outbox: this is the hub's clone of its send end (closed
        at once if the hub has already let the connection go)."""
        if self._closed:
            send.close()
        else:
            self._send = send

    def offer(self, item: OutboxItem, coalesce: bool = False) -> int:
        """Deliver or queue `item` (always queue it with `coalesce`: more frames follow at once,
        let the writer send them together). Returns WRITTEN (sent at once), QUEUED, or
        CONGESTED (queued, and the outbox is now at or above high water).
        Raises trio.WouldBlock when the outbox is full (in frames, or in the bytes the hub has
        queued), and trio.BrokenResourceError or trio.ClosedResourceError when the connection
        is gone. On the fan-out path (once per subscriber per frame): kept to plain steps,
        with `Meter.added` and `Meter.congested` written out inline."""
        send = self._send
        if send is None and self._closed:  # let go before its outbox opened: no frame now
            raise trio.ClosedResourceError
        # the writer parked on an empty outbox, or no outbox yet (no writer, nothing queued)
        if not coalesce and (send is None or send.statistics().tasks_waiting_receive):
            wire = item.wire
            written = self._write_nowait(wire)
            if written == len(wire):
                self.meter.out += 1
                return WRITTEN
            if written:  # the socket took a part: the rest goes first in the queue
                item = Control("rest of a frame", wire[written:])
        if send is None:
            if self._open is None:
                raise trio.ClosedResourceError
            self._open()  # the connection opens its outbox and starts its writer: attach()
            send = self._send
            assert send is not None
        meter = self.meter
        shared = meter.shared
        if shared:
            shared += len(item.wire)
            if shared > self._max_bytes or meter.frames >= self._max_frames:
                raise trio.WouldBlock  # the hub's room is full (a first frame always fits)
        else:
            shared = len(item.wire)
        send.send_nowait(item)
        meter.shared = shared
        frames = meter.frames = meter.frames + 1
        meter.out += 1
        if frames >= meter.high_frames or shared >= meter.high_bytes:
            return CONGESTED
        return QUEUED

    def close(self) -> None:
        self._closed = True
        self._open = None  # it opens nothing now (and no longer holds its outbox: a cycle)
        if self._send is not None:
            self._send.close()
        self.meter.wake()  # a publisher waiting for this client to drain: it has left


OutboxSend = trio.MemorySendChannel[OutboxItem]
OutboxReceive = trio.MemoryReceiveChannel[OutboxItem]


class LazyOutbox:
    """A connection's outbox, opened on first use (issue 30: an idle client costs ~4.4 KiB less,
    a connect one task start less). Until then frames go straight to the socket (the hello;
    the hub's `Inlet` fast lane), and nothing is queued because nothing waits. `open()` makes
    the channel, gives the hub's `inlet` its clone of the send end and starts the writer
    (`start_writer`, in the connection's nursery): the first own reply, the first frame the
    socket does not take whole, or the close (the writer sends the close frame).
    Owners as before: the reader owns `send` (closes it when it ends: `close`), the writer
    `receive`, the hub its inlet's clone."""

    __slots__ = ("_size", "inlet", "receive", "send", "start_writer")

    def __init__(self, size: int) -> None:
        self._size = size
        self.start_writer: Callable[[], object] | None = None  # set by the connection's run()
        self.send: OutboxSend | None = None
        self.receive: OutboxReceive | None = None
        self.inlet: Inlet | None = None  # the hub's, once the connection has joined

    def inlet_for(self, write_nowait: Callable[[bytes], int], meter: Meter) -> Inlet:
        """The hub's way into this outbox (before it is open: the Inlet opens it when a frame
        must wait)."""
        self.inlet = Inlet(None, write_nowait, meter, self.open)
        return self.inlet

    def open(self) -> OutboxSend:  # (an Inlet's `open_outbox`)
        if self.send is None:
            self.send, self.receive = open_outbox(self._size)
            if self.inlet is not None:
                self.inlet.attach(self.send.clone())
            assert self.start_writer is not None  # (only opened while the connection runs)
            self.start_writer()
        return self.send

    def write_first(
        self, item: OutboxItem, write_nowait: Callable[[bytes], int], meter: Meter
    ) -> OutboxItem | None:
        """The connection's first frame (its hello), straight to the socket while nothing is
        queued; what is left to queue: None (written whole), the rest of it, or all of it."""
        if self.send is not None:
            return item
        wire = item.wire
        written = write_nowait(wire)  # (transport.write_nowait, as the Inlet's)
        if written == len(wire):
            meter.out += 1
            return None
        return Control("rest of a frame", wire[written:]) if written else item

    def close(self) -> None:
        """The reader's end (its owner): closed once the reader ends, if it was ever opened."""
        if self.send is not None:
            self.send.close()


def open_outbox(size: int) -> tuple[OutboxSend, OutboxReceive]:
    """A bounded outbox of `size` frames: for a connection, the hub's room plus the client's
    own (`capacity()`, 8,448 by default). Frames only wait here while the kernel's
    socket buffer (hundreds of KiB on Linux) is already full, that is while the client is not
    reading. 256 frames of the hub's (QAKIT_OUTBOX_SIZE) is several seconds of a busy training
    channel, so a client that merely hiccups never hits it, and one that stopped reading costs
    at most that many references to shared frames before the slow-consumer policy (hub.py)
    disconnects it. The own room is larger for the reason the module docstring gives. Memory
    stays bounded whatever a client does: both rooms are bounded in bytes as well (the Meter).
    """
    return trio.open_memory_channel[OutboxItem](size)
