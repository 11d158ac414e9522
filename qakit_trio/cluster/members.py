"""The other instances and their members, as the bus tells them (pure: the caller gives the time).

Time here is the bus's: the timestamps of the records (the broker's clock: the topic is
created with LogAppendTime, cluster/bus.py), compared with the newest record this instance has
read. So a clock that is off on
one machine, or a consumer that lags behind, never makes a live instance look dead.

An instance is alive while its heartbeats come (every QAKIT_CLUSTER_HEARTBEAT seconds); one
not heard for DEAD_AFTER heartbeats is dead and its members leave. Between heartbeats, `join`
and `leave` records keep the view current, so `presence` answers for a member of another
instance as soon as its join has come through the bus. Each heartbeat then lists that
instance's members again: what changed since (a join or leave that was lost, or one from
before this instance started) is returned as arrivals and departures, for the watchers. A
heartbeat with another nonce is another process under the same id (a restart): every member
of the one before leaves first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qakit_trio.wire.bus import BusMember

DEAD_AFTER = 3  # heartbeats missed: the instance is gone (docs/cluster.md)

Change = tuple[str, str | None, str]  # connection id, user, channel: a join or a leave


@dataclass(frozen=True, slots=True)
class RemoteMember:
    """A connection of another live instance (the classroom's board)."""

    instance: str
    connection_id: str
    user: str | None
    channels: tuple[str, ...]
    idle_s: float
    path: str  # "/ws" or "/ws/orders"


@dataclass(slots=True)
class _Instance:
    last_heard: float  # bus time of its last heartbeat
    nonce: str = ""
    members: dict[str, BusMember] = field(default_factory=dict)  # connection id -> member
    total: int = 0  # its connections (the heartbeat's count: all, listed or not)
    legacy: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # its /ws channels' members
    partial: bool = False  # the heartbeat listed only some members (`more`)


def _ws_pairs(members: dict[str, BusMember]) -> dict[tuple[str, str], str | None]:
    return {
        (m.connection_id, channel): m.user
        for m in members.values()
        if m.path == "/ws"
        for channel in m.channels
    }


def _counted(members: dict[str, BusMember]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, channel in _ws_pairs(members):
        counts[channel] = counts.get(channel, 0) + 1
    return counts


class RemoteView:
    def __init__(self, heartbeat: float) -> None:
        self.dead_after = heartbeat * DEAD_AFTER
        self._instances: dict[str, _Instance] = {}
        self._by_channel: dict[str, dict[tuple[str, str], str | None]] = {}  # -> user

    def beat(
        self,
        instance: str,
        nonce: str,
        members: list[BusMember],
        at: float,
        *,
        total: int | None = None,
        legacy: int | None = None,
        counts: dict[str, int] | None = None,
        partial: bool = False,
    ) -> tuple[list[Change], list[Change]]:
        """A heartbeat: `instance` is alive at bus time `at` and these are its members.
        Returns (departures, arrivals) against what the view had."""
        departures: list[Change] = []
        known = self._instances.get(instance)
        if known is not None and known.nonce and known.nonce != nonce:  # another process
            departures = self.drop(instance)
            known = None
        listed = {m.connection_id: m for m in members}
        before = _ws_pairs(known.members) if known is not None else {}
        after = _ws_pairs(listed)
        self._forget_members(instance)
        self._instances[instance] = _Instance(
            at,
            nonce,
            listed,
            len(members) if total is None else total,
            sum(m.path != "/ws" for m in members) if legacy is None else legacy,
            counts if counts is not None else _counted(listed),
            partial,
        )
        for member in members:
            self._index(instance, member)
        if partial:  # members left out are not gone: nothing to tell but what was listed
            before = {pair: user for pair, user in before.items() if pair[0] in listed}
        departures += [(c, user, ch) for (c, ch), user in before.items() if (c, ch) not in after]
        arrivals = [(c, user, ch) for (c, ch), user in after.items() if (c, ch) not in before]
        return departures, arrivals

    def join(
        self, instance: str, channel: str, connection_id: str, user: str | None, at: float
    ) -> bool:
        """A member of `instance` joined `channel` (at bus time `at`). An instance not heard
        of yet is alive from now (a join can come before its first heartbeat)."""
        known = self._instances.get(instance)
        if known is None:
            known = self._instances[instance] = _Instance(at)
        member = known.members.get(connection_id)
        if member is None:  # a new connection (its heartbeat will say when it goes)
            member = BusMember(connection_id, user, (), 0, "/ws")
            known.total += 1
        if channel not in member.channels:
            member = BusMember(
                connection_id, user, (*member.channels, channel), member.idle_s, member.path
            )
            known.counts[channel] = known.counts.get(channel, 0) + 1
        known.members[connection_id] = member
        self._by_channel.setdefault(channel, {})[(instance, connection_id)] = user
        return True

    def leave(self, instance: str, channel: str, connection_id: str) -> bool:
        known = self._instances.get(instance)
        if known is None or (member := known.members.get(connection_id)) is None:
            return False
        if channel in member.channels:
            known.counts[channel] = max(0, known.counts.get(channel, 1) - 1)
        channels = tuple(c for c in member.channels if c != channel)
        known.members[connection_id] = BusMember(
            connection_id, member.user, channels, member.idle_s, member.path
        )
        self._unindex(channel, instance, connection_id)
        return True

    def drop(self, instance: str) -> list[Change]:
        """`instance` said goodbye, or died: every member of it leaves (what left, for the
        watchers)."""
        known = self._instances.pop(instance, None)
        if known is None:
            return []
        gone = [(c, user, ch) for (c, ch), user in _ws_pairs(known.members).items()]
        for connection_id, _, channel in gone:
            self._unindex(channel, instance, connection_id)
        return gone

    def dead(self, now: float) -> list[str]:
        """The instances not heard for DEAD_AFTER heartbeats, at bus time `now`."""
        return [
            i for i, known in self._instances.items() if now - known.last_heard > self.dead_after
        ]

    def clients(self, channel: str) -> list[dict[str, str]]:
        """The channel's members on the other instances, as `presence` lists them."""
        return [
            {"connection_id": conn} if user is None else {"connection_id": conn, "user": user}
            for (_, conn), user in self._by_channel.get(channel, {}).items()
        ]

    def count(self, channel: str) -> int:
        return sum(known.counts.get(channel, 0) for known in self._instances.values())

    def channel_counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for known in self._instances.values():
            for channel, count in known.counts.items():
                if count:
                    totals[channel] = totals.get(channel, 0) + count
        return totals

    def instances(self, now: float) -> dict[str, dict[str, object]]:
        """Per other instance: its connections, channels and how long ago it was heard."""
        return {
            name: {
                "connections": known.total,
                "channels": {c: n for c, n in sorted(known.counts.items()) if n},
                "legacy_orders_connections": known.legacy,
                "heard_s_ago": round(max(0.0, now - known.last_heard), 3),
            }
            for name, known in sorted(self._instances.items())
        }

    def members(self) -> list[RemoteMember]:
        return [
            RemoteMember(name, m.connection_id, m.user, m.channels, m.idle_s, m.path)
            for name, known in sorted(self._instances.items())
            for m in known.members.values()
        ]

    def _index(self, instance: str, member: BusMember) -> None:
        if member.path != "/ws":
            return  # /ws/orders clients: counted per instance, in no /ws channel
        for channel in member.channels:
            self._by_channel.setdefault(channel, {})[(instance, member.connection_id)] = member.user

    def _unindex(self, channel: str, instance: str, connection_id: str) -> None:
        members = self._by_channel.get(channel)
        if members is not None:
            members.pop((instance, connection_id), None)
            if not members:
                del self._by_channel[channel]

    def _forget_members(self, instance: str) -> None:
        known = self._instances.get(instance)
        if known is not None:
            for member in known.members.values():
                for channel in member.channels:
                    self._unindex(channel, instance, member.connection_id)
