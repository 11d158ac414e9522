"""Taps: what the inspector page sees (`/ws/_inspect`, web/inspector.py).

Every frame a /ws or /ws/orders client sends, every frame the server sends one client, and
every frame published to a channel is offered to each open tap as it passes, if any is open:

    Connection / Hub ──offer()──> Taps ──send_nowait──> Tap (one per inspector, bounded)
                                                          └──> that inspector's sender task

- While no inspector is open, `Taps.active` is False and the stand pays one attribute test per
  frame (connection.py and hub.py test it before calling).
- A tap never makes the stand wait: its queue is bounded (TAP_SIZE) and filled with
  `send_nowait`; a frame that does not fit is counted in `Tap.dropped`, and the inspector
  shows that counter. An inspector that cannot keep up loses frames, the stand does not slow.
- A tap keeps only what its inspector watches (`Watch`), so traffic elsewhere cannot crowd
  its queue. The text is kept as it is; parsing (request_id, event_id) happens in the
  inspector's own task, not on the frame's path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from qakit_trio.wire.stamps import utc_ts

# One inspector's queue, in frames. A browser renders a few hundred rows a second and the
# sender empties the queue in batches; 512 frames is about a second of a busy class's traffic,
# enough to ride out a slow paint, small enough (each entry shares the frame's text) to cost
# little. Beyond it, frames are dropped and counted.
TAP_SIZE = 512


@dataclass(frozen=True, slots=True)
class Tapped:
    """One frame as a tap saw it."""

    direction: str  # "in" (from a client), "out" (to one client), "publish" (to a channel)
    hub: str  # "/ws" or "/ws/orders"
    channel: str
    conn: str | None  # the client it came from or went to; None for a publish
    text: str | bytes
    at: float  # trio time, for "time since the request"
    ts: str  # wall clock, for people
    delivered: int | None = None  # a publish: how many clients got it


@dataclass(frozen=True, slots=True)
class Watch:
    """What one inspector watches: everything, one channel of one hub, or one connection
    (its own frames and what is published to its channel)."""

    hub: str | None = None
    channel: str | None = None
    conn: str | None = None

    def wants(self, frame: Tapped) -> bool:
        if self.conn is not None:
            if frame.conn is not None:
                return frame.conn == self.conn
            return frame.hub == self.hub and frame.channel == self.channel
        if self.channel is not None:
            return frame.hub == self.hub and frame.channel == self.channel
        return True


class Tap:
    """One inspector's end: its filter, its bounded queue and its drop counter."""

    __slots__ = ("_send", "dropped", "watch")

    def __init__(self, send: trio.MemorySendChannel[Tapped]) -> None:
        self._send = send  # owned by Taps.open_tap, which closes it
        self.watch = Watch()
        self.dropped = 0

    def offer(self, frame: Tapped) -> None:
        if not self.watch.wants(frame):
            return
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.dropped += 1  # the inspector is behind: it loses this frame, nobody waits


class Taps:
    """Every open tap of the stand (one object, shared by both hubs and every connection)."""

    def __init__(self) -> None:
        self._taps: list[Tap] = []
        self.active = False  # tested on the hot path before anything else is done

    @contextmanager
    def open_tap(self, size: int = TAP_SIZE
                 ) -> Iterator[tuple[Tap, trio.MemoryReceiveChannel[Tapped]]]:
        """A tap for one inspector while the `with` lasts. The caller owns (and closes) the
        receive end; this closes the send end when the tap is removed."""
        send, receive = trio.open_memory_channel[Tapped](size)
        tap = Tap(send)
        self._taps.append(tap)
        self.active = True
        try:
            yield tap, receive
        finally:
            self._taps.remove(tap)
            self.active = bool(self._taps)
            send.close()

    def offer(self, direction: str, hub: str, channel: str, conn: str | None,
              text: str | bytes, delivered: int | None = None) -> None:
        frame = Tapped(direction, hub, channel, conn, text, trio.current_time(), utc_ts(),
                       delivered)
        for tap in self._taps:
            tap.offer(frame)

    def __len__(self) -> int:
        return len(self._taps)
