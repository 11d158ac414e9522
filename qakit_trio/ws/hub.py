"""The hub: which connection is in which channel, and fan-out to them.

Publishing never awaits. `publish()` offers one shared, already framed frame to every member's
outbox `Inlet` (outbox.py): written at once where the client's socket is idle and ready, queued
with `send_nowait` everywhere else, so a broadcast costs the publisher the same whether the
channel's clients are fast or stuck.

Slow-consumer policy (QAKIT_OUTBOX_BYTES, QAKIT_OUTBOX_SIZE, QAKIT_SLOW_CONSUMER_TIMEOUT):
- a member is evicted when the bytes the hub has queued for it would pass QAKIT_OUTBOX_BYTES,
  or its outbox is full in frames, as the hub puts a frame in (a broadcast, an order event);
- a member whose writer has made no progress (one write unfinished) for
  QAKIT_SLOW_CONSUMER_TIMEOUT seconds is evicted by the slow-consumer watch (keepalive.py),
  whatever is queued;
- a member that holds a publisher up (see below) while its writer makes no progress for
  STALL_GRACE (1 s, or QAKIT_SLOW_CONSUMER_TIMEOUT if shorter) is evicted by that publisher;
- a ping never evicts: a member too full for a ping is skipped (the watch decides).
Evicted means: it leaves the channel at once (so it stops counting in /stats and in
`delivered`), the frame is not queued for it, and it is asked to close with code 4008 ("slow
consumer"). Everyone else receives the frame without delay. The evicted client gets the 4008
close frame if it reads again within QAKIT_CLOSE_TIMEOUT, otherwise its TCP connection is
dropped (see connection.py).

Flow control, so that a client that keeps reading is never evicted by a burst: `publish` can
list the members it left congested (above half the limits); the publisher's reader then waits
(`Connection.wait_drained`) until each drained to a quarter, or left. Only the hub's room of
each outbox counts (outbox.py): a publisher never waits on anybody's own replies, its own
included, and the time a publisher waits is never counted against it as no progress (it is
not being read then; a client whose writing blocks its reading cannot read either). The hub
itself never waits; the publisher's reader does, and so a fast publisher is slowed to the pace
of its channel's slowest reader, never the other way round (a reader that stops for good is
evicted by the watch, and the publisher goes on).

Subscriptions (issue 27): a member is one connection, subscribed to one channel or more (the
URL's `?channel=` first, then `subscribe`, at most QAKIT_MAX_SUBSCRIPTIONS), with one `Inlet`
whatever their number: evicted, it leaves every channel. A member that subscribed with
`join_leave` gets a `join`/`leave` frame when another member joins or leaves that channel
(presence.py). The hub also owns the channels' history (history.py): offsets and epochs are
given in `History.publish`, in the same step as the fan-out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import trio

from qakit_trio.request_metrics import Latency
from qakit_trio.wire.close_codes import GOING_AWAY, SLOW_CONSUMER
from qakit_trio.wire.framing import OutboxItem
from qakit_trio.wire.stamps import new_epoch
from qakit_trio.ws.history import History, HistoryLimits
from qakit_trio.ws.outbox import CONGESTED, Inlet
from qakit_trio.ws.presence import Presence
from qakit_trio.ws.tap import Taps

log = logging.getLogger(__name__)


CloseSoon = Callable[[int, str], None]
# told when a member joins or leaves a channel ("join"/"leave", member, channel): the cluster
# (cluster/cluster.py) tells the other instances' watchers
PresenceHook = Callable[[str, "Member", str], None]


@dataclass(eq=False, slots=True)
class Member:
    """One connection as the hub sees it."""

    connection_id: str
    channel: str  # its first channel: the URL's (the inspector, the lab's faults and leaks)
    inlet: Inlet  # the hub's own way into the connection's outbox; the hub closes it
    close_soon: CloseSoon  # asks the connection to close; synchronous, never blocks
    last_heard: float = field(default=0.0)  # trio time of the last frame or pong from the client
    can_ping: bool = True  # its transport sends pings and reports pongs (transport/base.py)
    joined: float = 0.0  # trio time it joined (the inspector shows how long ago)
    frames_in: int = 0  # messages it has sent (the inspector; frames out: inlet.meter.out)
    user: str | None = None  # QAKIT_AUTH=on: its user's name (the classroom's board, the lab)
    # the channels it is subscribed to -> whether it gets their join/leave frames
    channels: dict[str, bool] = field(default_factory=dict)


# One publication in this many is timed from its publish to each subscriber's socket write
# (qakit_delivery_latency_seconds): it is queued for every subscriber, as in a burst (so it
# never takes the fast lane that writes to an idle socket at once: the figure includes a
# writer's wake-up, a bound above the fast lane's), and each writer that writes it says so
# (Sample); at most SAMPLES are followed at once, each until every subscriber wrote it or left.
DELIVERY_SAMPLE = 64
SAMPLES = 4


@dataclass(eq=False, slots=True)
class Sample:
    item: OutboxItem
    at: float  # trio time it was published
    pending: set[str]  # connections that have it queued and have not written it yet

    def written(self, connection_id: str, batch: list[OutboxItem], latency: Latency) -> None:
        """A writer wrote `batch`: if the sampled frame is in it, its time is observed."""
        for item in batch:
            if item is self.item:
                self.pending.discard(connection_id)
                latency.observe(trio.current_time() - self.at)
                return


# How long a subscriber that holds a publisher up (above high water) may make no write progress
# before it is evicted: far longer than any write to a client that reads takes on a LAN, far
# shorter than QAKIT_SLOW_CONSUMER_TIMEOUT, so one stuck client does not stall its channel.
STALL_GRACE = 1.0


class Hub:
    def __init__(
        self,
        stall_grace: float = STALL_GRACE,
        *,
        name: str = "/ws",
        taps: Taps | None = None,
        history: HistoryLimits | None = None,
        delivery: Latency | None = None,
    ) -> None:
        self.stall_grace = stall_grace
        self.delivery = delivery  # qakit_delivery_latency_seconds (None: not measured)
        self.samples: deque[Sample] = deque(maxlen=SAMPLES)
        self._until_sample = DELIVERY_SAMPLE
        self.name = name  # the path its clients connect to
        # the inspectors' taps (tap.py), shared by both hubs
        self.taps = taps if taps is not None else Taps()
        self._members: dict[str, Member] = {}  # connection id -> member
        self._channels: dict[str, dict[str, Member]] = {}  # channel -> its subscribers
        self.history = History(history or HistoryLimits(), new_epoch, self._channels.__contains__)
        self.presence = Presence(self._channels)
        self.on_presence: PresenceHook | None = None  # the cluster's (None: one instance)
        self.closing: tuple[int, str] | None = None  # set once the server is shutting down
        # for /metrics (web/metrics.py): what members that have left had counted (a member
        # counts its own frames: Member.frames_in, its meter's `out`), and 4008 evictions
        self._departed_in = 0
        self._departed_out = 0
        self.evictions = 0

    def join(
        self,
        channel: str,
        connection_id: str,
        inlet: Inlet,
        close_soon: CloseSoon,
        *,
        can_ping: bool = True,
        user: str | None = None,
        join_leave: bool = False,
    ) -> Member:
        """Add a connection, subscribed to `channel`. The hub takes ownership of `inlet`."""
        now = trio.current_time()
        member = Member(connection_id, channel, inlet, close_soon, now, can_ping, now, user=user)
        self._members[connection_id] = member
        self.subscribe(member, channel, join_leave=join_leave)
        return member

    def subscribe(self, member: Member, channel: str, *, join_leave: bool = False) -> None:
        """Subscribe a member to one more channel (its other members get a `join`); nothing
        for a member that has left (its connection is closing)."""
        if self._members.get(member.connection_id) is not member:
            return
        self._channels.setdefault(channel, {})[member.connection_id] = member
        member.channels[channel] = join_leave
        self.presence.joined(self, member, channel)

    def unsubscribe(self, member: Member, channel: str) -> bool:
        """Unsubscribe a member from `channel` (its other members get a `leave`); False if it
        was not subscribed. The connection stays open, in its other channels if any."""
        if member.channels.pop(channel, None) is None:
            return False
        self._remove(member, channel)
        return True

    def _remove(self, member: Member, channel: str) -> None:
        members = self._channels.get(channel)
        if members is None or members.get(member.connection_id) is not member:
            return
        del members[member.connection_id]
        if not members:
            del self._channels[channel]  # a channel drops out with its last member
            self.history.forget_if_idle(channel, trio.current_time())
        self.presence.left(self, member, channel)

    def leave(self, member: Member) -> None:
        """Remove a member from every channel and close the hub's end of its outbox. Safe to
        call twice."""
        if self._members.get(member.connection_id) is not member:
            return
        del self._members[member.connection_id]
        channels = list(member.channels)
        self.presence.unwatch(member, channels)  # a member that leaves hears no more of it
        for channel in channels:
            self._remove(member, channel)
        self.presence.gone(member, channels)
        if self.samples:  # it will write no sampled frame now
            for sample in self.samples:
                sample.pending.discard(member.connection_id)
            self._drop_timed()
        self._departed_in += member.frames_in
        self._departed_out += member.inlet.meter.out
        member.inlet.close()

    def evict(self, member: Member, code: int, reason: str) -> None:
        if code == SLOW_CONSUMER and self.is_member(member):
            self.evictions += 1
        self.leave(member)
        member.close_soon(code, reason)

    def offer(
        self, member: Member, item: OutboxItem, *, coalesce: bool = False, evict: bool = True
    ) -> bool:
        """Deliver `item` to one member without waiting; True if it got it. A member whose
        outbox is full is evicted (with `evict=False`, as for pings, just skipped)."""
        try:
            member.inlet.offer(item, coalesce)
        except trio.WouldBlock:
            if evict:
                self._evict_full(member)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.leave(member)  # its writer has already finished: the connection is closing
            return False
        return True

    def publish(
        self,
        channel: str,
        item: OutboxItem,
        *,
        coalesce: bool = False,
        skip: str | None = None,
        congested: list[Member] | None = None,
    ) -> int:
        """Fan `item` out to every member of `channel`; return how many got it.

        `coalesce`: the publisher has more to publish right away (a burst of requests), so
        the frame is queued everywhere and each subscriber's writer sends the burst in one
        write; otherwise idle subscribers get it written at once (outbox.Inlet).
        `skip`: a connection id that gets the frame another way (its reply).
        `congested`: if given, the members left above high water are added to it, for the
        publisher to `wait_drained` on (flow control; see the module docstring).

        This loop runs once per subscriber per frame, so it is `offer` written out inline
        (one call per member, not three).
        """
        members = self._channels.get(channel)
        if not members:
            if self.taps.active and item.text is not None:
                self.taps.offer("publish", self.name, channel, None, item.text, 0)
            return 0
        if self.delivery is not None:
            self._until_sample -= 1
            if not self._until_sample:  # this one is timed: queued everywhere (see Sample)
                self._until_sample, coalesce = DELIVERY_SAMPLE, True
                pending = set(members)
                pending.discard(skip or "")  # (the sender's copy is its reply, not a delivery)
                self.samples.append(Sample(item, trio.current_time(), pending))
        delivered = 0
        for member in list(members.values()):  # a copy: a full outbox evicts as we go
            if member.connection_id == skip:
                continue
            try:
                if member.inlet.offer(item, coalesce) == CONGESTED and congested is not None:
                    congested.append(member)
            except trio.WouldBlock:
                self._evict_full(member)
                continue
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.leave(member)  # its writer has already finished: the connection is closing
                continue
            delivered += 1
        if self.taps.active and item.text is not None:  # an inspector is open (tap.py)
            self.taps.offer("publish", self.name, channel, None, item.text, delivered)
        return delivered

    def written(self, connection_id: str, batch: list[OutboxItem]) -> None:
        """A member's writer wrote `batch` (a sampled frame in it is timed: Sample)."""
        assert self.delivery is not None
        for sample in self.samples:
            if connection_id in sample.pending:
                sample.written(connection_id, batch, self.delivery)
        self._drop_timed()

    def _drop_timed(self) -> None:
        """Forget the samples every subscriber has written (or left): writers stop looking."""
        if any(not sample.pending for sample in self.samples):
            self.samples = deque((s for s in self.samples if s.pending), maxlen=SAMPLES)

    def _evict_full(self, member: Member) -> None:
        meter = member.inlet.meter
        log.warning(
            "slow consumer evicted",
            extra={
                "fields": {
                    "conn": member.connection_id,
                    "channel": member.channel,
                    "queued_bytes": meter.shared + meter.own,
                    "queued_frames": meter.frames,
                    "why": "outbox full",
                }
            },
        )
        self.evict(member, SLOW_CONSUMER, "slow consumer: outbox full")

    async def wait_drained(self, members: list[Member]) -> None:
        """Flow control: wait until every one of `members` has drained to low water or left.
        A member that holds the publisher up while its writer makes no progress for
        `stall_grace` seconds is evicted (it is not reading; the readers must not wait).
        A member that is itself paused by flow control (its reader waits for another channel's
        subscribers) is not waited for, nor judged: two publishers never wait on each other."""
        for member in members:
            meter = member.inlet.meter
            while meter.above_low_water() and self.is_member(member) and not meter.paused:
                writes = meter.writes
                with trio.move_on_after(self.stall_grace):
                    await meter.wait_until(partial(self._drained_or_gone, member))
                if (
                    meter.writing
                    and meter.writes == writes
                    and not meter.paused
                    and self.is_member(member)
                ):
                    log.warning(
                        "slow consumer evicted",
                        extra={
                            "fields": {
                                "conn": member.connection_id,
                                "channel": member.channel,
                                "why": "no progress while a publisher waits",
                                "stalled_s": self.stall_grace,
                            }
                        },
                    )
                    self.evict(member, SLOW_CONSUMER, "slow consumer: no progress")

    def is_member(self, member: Member) -> bool:
        return self._members.get(member.connection_id) is member

    def is_subscribed(self, member: Member, channel: str) -> bool:
        return self._channels.get(channel, {}).get(member.connection_id) is member

    def subscribers(self, channel: str) -> list[Member]:
        return list(self._channels.get(channel, {}).values())

    def _drained_or_gone(self, member: Member) -> bool:
        meter = member.inlet.meter
        return not meter.above_low_water() or meter.paused > 0 or not self.is_member(member)

    def members(self) -> Iterator[Member]:
        """Every connection, in a channel or in none (a snapshot: safe to evict while
        iterating)."""
        return iter(list(self._members.values()))

    def close_members(self, members: list[Member], code: int, reason: str) -> None:
        """Ask these connections to close (POST /lab/blip): each leaves, and none of them is
        told of the others' leaving (they are all going: no frame storm, no eviction)."""
        self.presence.leaving = {member.connection_id for member in members}
        try:
            for member in members:
                self.leave(member)
                member.close_soon(code, reason)
        finally:
            self.presence.leaving = set()

    def close_all(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> None:
        """Shutdown: ask every connection to close, and mark the hub closing for late joiners."""
        self.closing = (code, reason)
        for member in self.members():
            self.leave(member)
            member.close_soon(code, reason)

    def frames_received(self) -> int:
        """Messages from this hub's clients so far, those that left included."""
        return self._departed_in + sum(member.frames_in for member in self.members())

    def frames_sent(self) -> int:
        """Frames handed to this hub's clients so far (written or queued, pings included)."""
        return self._departed_out + sum(member.inlet.meter.out for member in self.members())

    def stats(self) -> dict[str, int]:
        return {channel: len(members) for channel, members in sorted(self._channels.items())}

    def total(self) -> int:
        """Connections (a connection subscribed to three channels counts once)."""
        return len(self._members)
