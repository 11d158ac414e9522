"""Taps: what the inspector page sees (`/ws/_inspect`, web/inspector.py).

Every frame a /ws or /ws/orders client sends, every frame the server sends one client, and
every frame published to a channel is offered to the open taps that watch it, if any is open:

    Connection / Hub ──offer()──> Taps ──send_nowait──> Tap (one per inspector, bounded)
                                   (index by watch)        └──> that inspector's sender task

- While no inspector is open, `Taps.active` is False and the stand pays one attribute test per
  frame (connection.py and hub.py test it before calling).
- A frame costs the same however many inspectors watch other things: the taps are indexed by
  what they watch (everything, a channel, a connection), and a frame looks up its own three
  entries, never the other taps. Nothing is built for a frame nobody watches.
- For a tap that watches it, a frame costs one `send_nowait` into its queue. The inspector's
  sender wakes at most every FLUSH_INTERVAL (web/inspector.py) and describes a frame once for
  every inspector (`Tapped.row`, cached): N inspectors do not parse a frame N times.
- A tap never makes the stand wait: its queue is bounded (TAP_SIZE frames, TAP_BYTES of
  text) and filled with `send_nowait`; a frame that does not fit is counted in `Tap.dropped`,
  and the inspector shows that counter. An inspector that cannot keep up loses frames, the
  stand does not slow. Of a frame too long to be parsed for its ids, only what an inspector
  shows is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from qakit_trio import log_fields
from qakit_trio.wire import inspect
from qakit_trio.wire.stamps import utc_ts

# One inspector's queue, in frames. Its sender takes the queue every FLUSH_INTERVAL (0.05 s):
# 2048 frames in that time is 40,000 frames a second, twice what the stand serves to a busy
# class, so an inspector that reads keeps up. Each entry shares the frame's text.
TAP_SIZE = 2048
# and in bytes of text held (frames shared with the stand, but kept alive by the queue): with
# QAKIT_MAX_INSPECTORS (8) inspectors at most 32 MiB of frames waiting for them.
TAP_BYTES = 4 * 1024 * 1024

Key = tuple[str | None, ...]  # an entry of the taps' index (Taps)
EVERYTHING: Key = ("everything",)


@dataclass(slots=True)
class Tapped:
    """One frame as a tap saw it (shared by every tap that watches it)."""

    direction: str  # "in" (from a client), "out" (to one client), "publish" (to a channel)
    hub: str  # "/ws" or "/ws/orders"
    channel: str
    conn: str | None  # the client it came from or went to; None for a publish
    text: str | bytes  # of a frame longer than inspect.PARSE_MAX, only its start
    at: float  # trio time, for "time since the request"
    ts: str  # wall clock, for people
    delivered: int | None = None  # a publish: how many clients got it
    size: int | None = None  # the frame's size in bytes when `text` is only its start
    seq: int = 0  # its place among the frames the taps were offered (Tap.since)
    row: str | None = None  # as an inspector is sent it (JSON), made by the first who needs it

    def row_text(self) -> str:
        """The frame as the inspector shows it (wire/inspect.py), made once for every tap."""
        if self.row is None:
            self.row = inspect.encode(
                inspect.describe(
                    self.direction,
                    self.hub,
                    self.channel,
                    self.conn,
                    self.text,
                    self.at,
                    self.ts,
                    self.delivered,
                    self.size,
                )
            )
        return self.row


@dataclass(frozen=True, slots=True)
class Watch:
    """What one inspector watches: everything, one channel of one hub, or one connection
    (its own frames and what is published to its channel)."""

    hub: str | None = None
    channel: str | None = None
    conn: str | None = None

    def wants(self, frame: Tapped) -> bool:
        """The rule; `Taps` keeps an index that gives the same answer without asking."""
        if self.conn is not None:
            if frame.conn is not None:
                return frame.conn == self.conn
            return frame.hub == self.hub and frame.channel == self.channel
        if self.channel is not None:
            return frame.hub == self.hub and frame.channel == self.channel
        return True


class Tap:
    """One inspector's end: its filter, its bounded queue and its drop counter."""

    __slots__ = ("_owner", "_send", "_watch", "dropped", "queued_bytes", "since")

    def __init__(self, owner: Taps, send: trio.MemorySendChannel[Tapped]) -> None:
        self._owner = owner
        self._send = send  # owned by Taps.open_tap, which closes it
        self._watch = Watch()
        self.dropped = 0
        self.queued_bytes = 0  # text waiting in the queue (the sender subtracts what it takes)
        self.since = 0  # frames before this `seq` were queued for an earlier watch

    @property
    def watch(self) -> Watch:
        return self._watch

    @watch.setter
    def watch(self, watch: Watch) -> None:
        self._owner.move(self, watch)
        self._watch = watch
        self.since = self._owner.seq

    def current(self, frames: list[Tapped]) -> list[Tapped]:
        """Those of `frames` queued since the watch last changed (the others were chosen by
        the watch before)."""
        since = self.since
        return (
            frames
            if not frames or frames[0].seq >= since
            else [frame for frame in frames if frame.seq >= since]
        )

    def offer(self, frame: Tapped) -> None:
        """Queue a frame this tap watches (Taps chose it), or count it as dropped."""
        size = len(frame.text)
        if self.queued_bytes + size > TAP_BYTES:
            self.dropped += 1
            return
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.dropped += 1  # the inspector is behind: it loses this frame, nobody waits
            return
        self.queued_bytes += size

    def taken(self, frames: list[Tapped]) -> None:
        """The sender took these frames out of the queue."""
        self.queued_bytes -= sum(len(frame.text) for frame in frames)


class Taps:
    """Every open tap of the stand (one object, shared by both hubs and every connection),
    indexed by what each watches: ("everything",), ("channel", hub, channel), and for a
    connection ("conn", id) and ("published", hub, its channel)."""

    def __init__(self) -> None:
        self._taps: list[Tap] = []
        self._index: dict[Key, list[Tap]] = {}
        self.seq = 0  # the next frame's Tapped.seq
        self.active = False  # tested on the hot path before anything else is done

    @contextmanager
    def open_tap(
        self, size: int = TAP_SIZE
    ) -> Iterator[tuple[Tap, trio.MemoryReceiveChannel[Tapped]]]:
        """A tap for one inspector while the `with` lasts (watching everything until told
        otherwise). The caller owns (and closes) the receive end; this closes the send end
        when the tap is removed."""
        send, receive = trio.open_memory_channel[Tapped](size)
        tap = Tap(self, send)
        self._taps.append(tap)
        self._add(tap, tap.watch)
        self.active = True
        try:
            yield tap, receive
        finally:
            self._remove(tap, tap.watch)
            self._taps.remove(tap)
            self.active = bool(self._taps)
            send.close()

    def _add(self, tap: Tap, watch: Watch) -> None:
        for key in _keys(watch):
            self._index.setdefault(key, []).append(tap)

    def _remove(self, tap: Tap, watch: Watch) -> None:
        for key in _keys(watch):
            taps = self._index[key]
            taps.remove(tap)
            if not taps:
                del self._index[key]

    def move(self, tap: Tap, watch: Watch) -> None:
        """`tap` now watches `watch` (Tap.watch's setter)."""
        self._remove(tap, tap.watch)
        self._add(tap, watch)

    def offer(
        self,
        direction: str,
        hub: str,
        channel: str,
        conn: str | None,
        text: str | bytes,
        delivered: int | None = None,
    ) -> None:
        """A frame passes: to the taps that watch it, found by three lookups (everything,
        its channel, its connection or, for a publish, its channel's watchers of a member)."""
        index = self._index
        everything = index.get(EVERYTHING)
        in_channel = index.get(("channel", hub, channel))
        own = index.get(("conn", conn) if conn is not None else ("published", hub, channel))
        if not (everything or in_channel or own):
            return
        if isinstance(text, str):  # QAKIT_AUTH=on: no secret reaches the inspector
            text = log_fields.redacted(text)
        size = None
        if len(text) > inspect.PARSE_MAX:  # not parsed for its ids: keep only what is shown
            size = (
                len(text)
                if isinstance(text, bytes) or text.isascii()
                else len(text.encode("utf-8", "surrogatepass"))
            )
            text = text[: inspect.TEXT_MAX * 4]  # enough for TEXT_MAX characters once decoded
        frame = Tapped(
            direction,
            hub,
            channel,
            conn,
            text,
            trio.current_time(),
            utc_ts(),
            delivered,
            size,
            self.seq,
        )
        self.seq += 1
        for taps in (everything, in_channel, own):
            if taps:
                for tap in taps:
                    tap.offer(frame)

    def __len__(self) -> int:
        return len(self._taps)


def _keys(watch: Watch) -> tuple[Key, ...]:
    """The index entries of a tap with this watch (see Watch.wants)."""
    if watch.conn is not None:
        return ("conn", watch.conn), ("published", watch.hub, watch.channel)
    if watch.channel is not None:
        return (("channel", watch.hub, watch.channel),)
    return (EVERYTHING,)
