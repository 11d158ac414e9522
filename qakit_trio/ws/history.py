"""Channel history: offsets, epochs and the last publications of every /ws channel.

Pure: no trio, no I/O. The hub (hub.py) owns one `History`, and gives it trio's time.

Every publication to a channel (a `message` frame of the broadcast action, a `broadcast`
frame of POST /broadcast) gets the channel's next `offset` (1, 2, 3, ... no gaps) and its
`epoch`, in the same synchronous step as its fan-out, so every subscriber sees offsets in
order. The epoch names one run of offsets: when a channel's history starts again (the process
restarted, the channel was forgotten, the teacher reset it with POST /lab/blip), the epoch is
new and a position of the old one cannot be recovered.

What is kept (in memory; the numbers are settings, docs/settings.md):
- per channel, the last QAKIT_HISTORY_SIZE publications (100), none older than
  QAKIT_HISTORY_TTL seconds (300), at most QAKIT_HISTORY_BYTES bytes (256 KiB);
- over all channels at most QAKIT_HISTORY_TOTAL_BYTES (64 MiB): past it, the oldest
  publications of the channels published to least recently go first.
A publication is counted as the memory of its text and wire bytes (sys.getsizeof: a Cyrillic
text takes two bytes a character) plus ENTRY_COST (the objects holding it), a channel as
CHANNEL_COST. A channel's position (epoch, offset) is kept while it has history or
subscribers (`in_use`); a channel with neither is forgotten, and starts a new epoch. So the
memory of history is at most QAKIT_HISTORY_TOTAL_BYTES plus CHANNEL_COST per channel in use.

Recovery: a client that saw up to `since = (offset, epoch)` gets the publications after it
when the epoch is the channel's and every publication after `offset` is still kept; otherwise
nothing (`recovered: false`: it must reload its state).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from sys import getsizeof
from typing import NamedTuple

from qakit_trio.wire.channels import Since
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message, encode

# Bytes counted per kept publication beyond its text and wire bytes (the Kept tuple, the Frame
# and the deque's slot, measured with sys.getsizeof), and per channel position (the Stream, its
# deque, its dict entries).
ENTRY_COST = 200
CHANNEL_COST = 1_000


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    size: int = 100  # QAKIT_HISTORY_SIZE: publications kept per channel
    ttl: float = 300.0  # QAKIT_HISTORY_TTL: seconds a publication is kept
    channel_bytes: int = 256 * 1024  # QAKIT_HISTORY_BYTES: per channel
    total_bytes: int = 64 * 1024 * 1024  # QAKIT_HISTORY_TOTAL_BYTES: all channels


class Kept(NamedTuple):
    offset: int
    at: float  # trio time it was published
    item: Frame  # the frame as its subscribers got it (shared with the fan-out)
    cost: int


class Stream:
    """One channel's position and kept publications."""

    __slots__ = ("base", "bytes", "epoch", "kept", "name", "offset")

    def __init__(self, name: str, epoch: str, base: int = 0) -> None:
        self.name = name
        self.epoch = epoch
        self.offset = base  # the last offset given (or seen on the cluster's bus)
        # every publication after this offset is kept (or was never made): a recovery from an
        # older one cannot be complete. 0 on one instance; on the cluster's bus, where this
        # instance started to read, or the last publication dropped.
        self.base = base
        self.kept: deque[Kept] = deque()
        self.bytes = 0


class History:
    def __init__(
        self,
        limits: HistoryLimits,
        new_epoch: Callable[[], str],
        in_use: Callable[[str], bool] = lambda channel: False,
        new_base: Callable[[], int] = lambda: 0,
    ) -> None:
        self.limits = limits
        self._new_epoch = new_epoch
        self._new_base = new_base  # a new channel's base (the cluster's bus: its position)
        self._in_use = in_use  # the channel has subscribers (the hub's)
        self._streams: dict[str, Stream] = {}
        # the channels that keep publications, least recently published first: the total byte
        # limit trims from the front, one publication at a time (never a walk over channels)
        self._holding: OrderedDict[str, Stream] = OrderedDict()
        self.bytes = 0  # what every kept publication costs, all channels (ENTRY_COST counted)
        # no position below this can be recovered: the cluster's bus topic went back (its
        # offsets from before mean nothing now; cluster/bus.py)
        self.floor = 0

    def follow(self, new_epoch: Callable[[], str], new_base: Callable[[], int]) -> None:
        """Take epochs and bases from elsewhere (the cluster's bus), before any channel."""
        self._new_epoch, self._new_base = new_epoch, new_base

    def position(self, channel: str) -> Since:
        """The channel's latest offset and its epoch (a new epoch for a channel not known)."""
        stream = self._stream(channel)
        return Since(stream.offset, stream.epoch)

    def publish(self, channel: str, frame: Message, now: float, *, gap: int = 0) -> Frame:
        """Give `frame` the channel's next offset and its epoch, encode it once, keep it.
        `gap`: offsets skipped first (only the lab's offset_gap asks for one)."""
        stream = self._stream(channel)
        return self._keep(stream, stream.offset + 1 + gap, frame, now)

    def append(self, channel: str, frame: Message, offset: int, now: float) -> Frame:
        """Keep a publication whose offset was given elsewhere (the cluster's bus: above every
        offset of the channel so far), with the channel's epoch; encode it once."""
        return self._keep(self._stream(channel), offset, frame, now)

    def _keep(self, stream: Stream, offset: int, frame: Message, now: float) -> Frame:
        channel = stream.name
        holding = self._holding
        holding[channel] = stream
        holding.move_to_end(channel)
        stream.offset = offset
        frame["offset"], frame["epoch"] = stream.offset, stream.epoch
        item = Frame.of(encode(frame))
        cost = getsizeof(item.wire) + getsizeof(item.text) + ENTRY_COST  # (memory, not length)
        stream.kept.append(Kept(stream.offset, now, item, cost))
        stream.bytes += cost
        self.bytes += cost
        self._trim(stream, now)
        if self.bytes > self.limits.total_bytes:
            self._trim_total(channel)
        return item

    def since(self, channel: str, since: Since, now: float) -> list[Frame] | None:
        """The publications after `since`, oldest first; None if they cannot all be given
        (another epoch, an offset the channel never reached, or some no longer kept)."""
        stream = self._streams.get(channel)
        if stream is None or since.epoch != stream.epoch:
            return None
        return self.after(channel, since.offset, now)

    def after(self, channel: str, offset: int, now: float) -> list[Frame] | None:
        """`since` comparing offsets alone (the epoch taken as the channel's)."""
        stream = self._streams.get(channel)
        if stream is None or not 0 <= offset <= stream.offset:
            return None
        self._expire(stream, now)
        if offset < stream.base or offset < self.floor:
            return None  # a publication after `offset` is no longer kept (or never was)
        return [entry.item for entry in stream.kept if entry.offset > offset]

    def recent(self, channel: str, limit: int, now: float) -> list[Frame]:
        """The last `limit` publications kept, oldest first."""
        stream = self._streams.get(channel)
        if stream is None or limit <= 0:
            return []
        self._expire(stream, now)
        kept = list(stream.kept)
        return [entry.item for entry in kept[-limit:]]

    def kept(self, channel: str) -> int:
        stream = self._streams.get(channel)
        return 0 if stream is None else len(stream.kept)

    def channels(self) -> int:
        return len(self._streams)

    def reset(self, channel: str | None = None, *, keep_epoch: bool = False) -> int:
        """Start a channel's history again (every channel's: None), as a restart without a
        durable history would: what is kept is gone, offsets start at 1 under a new epoch
        (`keep_epoch`: the old one, the lab's epoch_never_changes). Returns how many."""
        names = list(self._streams) if channel is None else [channel]
        count = 0
        for name in names:
            stream = self._streams.pop(name, None)
            if stream is None:
                continue
            count += 1
            self.bytes -= stream.bytes
            self._holding.pop(name, None)
            if keep_epoch:
                self._streams[name] = Stream(name, stream.epoch, self._new_base())
        return count

    def adopt(self, channel: str, epoch: str) -> None:
        """Start a channel not known yet at `epoch` (a finding's replay twin takes the epochs
        its steps name: classroom/replay.py). Nothing for a known one."""
        if channel not in self._streams:
            self._streams[channel] = Stream(channel, epoch)

    def forget_if_idle(self, channel: str, now: float) -> None:
        """Forget a channel's position if nothing is kept (at `now`) and nobody is subscribed
        (it lost its last subscriber, or a `history` request asked about a channel nobody
        uses): it starts again under a new epoch when it is used again."""
        stream = self._streams.get(channel)
        if stream is None or self._in_use(channel):
            return
        self._expire(stream, now)
        if not stream.kept:
            del self._streams[channel]

    def _stream(self, channel: str) -> Stream:
        stream = self._streams.get(channel)
        if stream is None:
            stream = self._streams[channel] = Stream(channel, self._new_epoch(), self._new_base())
        return stream

    def _drop_oldest(self, stream: Stream) -> None:
        dropped = stream.kept.popleft()
        stream.base, cost = dropped.offset, dropped.cost
        stream.bytes -= cost
        self.bytes -= cost
        if not stream.kept:
            self._holding.pop(stream.name, None)

    def _expire(self, stream: Stream, now: float) -> None:
        kept, oldest = stream.kept, now - self.limits.ttl
        while kept and kept[0].at <= oldest:
            self._drop_oldest(stream)

    def _trim(self, stream: Stream, now: float) -> None:
        limits = self.limits
        while len(stream.kept) > limits.size or stream.bytes > limits.channel_bytes:
            self._drop_oldest(stream)
        self._expire(stream, now)

    def _trim_total(self, newest: str) -> None:
        """Over the total: the oldest publications of the least recently published channels
        go first (the channel just published to last of all); a channel left with nothing
        kept and nobody subscribed is forgotten. One step per publication dropped."""
        holding, total = self._holding, self.limits.total_bytes
        while self.bytes > total and holding:
            stream = next(iter(holding.values()))
            self._drop_oldest(stream)
            name = stream.name
            if not stream.kept and name != newest and not self._in_use(name):
                del self._streams[name]
