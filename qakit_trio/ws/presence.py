"""Presence: who is in a channel, and the `join`/`leave` frames of those who asked for them.

`presence` (sessions/channel_actions.py) answers from the hub's subscribers of the channel,
this very step: a member is in a channel from the step it subscribes until the step it
unsubscribes, is evicted, or its connection ends (a vanished client: when keepalive notices,
within two ping intervals; at shutdown every member leaves at once and no `leave` is sent).

A member that subscribed with `join_leave` is a watcher of that channel: every other member's
join and leave reaches it as one frame, offered like a broadcast (never waiting; a watcher too
full for it is a slow consumer, hub.py). Join and leave frames carry no offset and are not kept
in the history: presence is asked for again after a reconnect, not recovered.

The hub also remembers, per channel, the last GHOSTS connections that ended while subscribed
(their id and user): only the lab's presence_keeps_ghosts shows them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from qakit_trio.wire import protocol
from qakit_trio.wire.channels import presence_change
from qakit_trio.wire.framing import Frame

if TYPE_CHECKING:
    from qakit_trio.ws.hub import Hub, Member

# Ghosts remembered per channel, and channels with ghosts: a few dozen bytes each, whatever
# a class does (the lab's presence_keeps_ghosts shows a channel's last few departures).
GHOSTS = 16
GHOST_CHANNELS = 1_024


class Presence:
    def __init__(self, channels: dict[str, dict[str, Member]]) -> None:
        self._channels = channels  # the hub's: channel -> its members
        self._watchers: dict[str, dict[str, Member]] = {}  # channel -> members with join_leave
        self._ghosts: OrderedDict[str, OrderedDict[str, str | None]] = OrderedDict()
        self.leaving: set[str] = set()  # connections closed together (a blip): not told

    def clients(self, channel: str) -> list[dict[str, str]]:
        """The channel's members as the `presence` data frame lists them, in joining order."""
        return [client(m.connection_id, m.user) for m in self._channels.get(channel, {}).values()]

    def ghosts(self, channel: str) -> list[dict[str, str]]:
        """Connections that ended while in `channel` and are not in it now (the lab's)."""
        members = self._channels.get(channel, {})
        return [
            client(connection_id, user)
            for connection_id, user in self._ghosts.get(channel, {}).items()
            if connection_id not in members
        ]

    def forget_ghosts(self) -> None:
        """Forget every ghost (a scripted class's fresh run: tests/classroom/live.py)."""
        self._ghosts.clear()

    def joined(self, hub: Hub, member: Member, channel: str) -> None:
        self._tell(hub, "join", member, channel)
        if hub.on_presence is not None and hub.closing is None:
            hub.on_presence("join", member, channel)
        if member.channels.get(channel):
            self._watchers.setdefault(channel, {})[member.connection_id] = member

    def unwatch(self, member: Member, channels: list[str]) -> None:
        """`member` gets no more join/leave frames of `channels` (it is leaving them all)."""
        for channel in channels:
            watchers = self._watchers.get(channel)
            if watchers is not None and member.connection_id in watchers:
                del watchers[member.connection_id]
                if not watchers:
                    del self._watchers[channel]

    def left(self, hub: Hub, member: Member, channel: str) -> None:
        self.unwatch(member, [channel])
        self._tell(hub, "leave", member, channel)
        if hub.on_presence is not None and hub.closing is None:  # (a blip's too: the other
            hub.on_presence("leave", member, channel)  # instances' watchers stay open)

    def tell_remote(
        self, hub: Hub, kind: str, channel: str, connection_id: str, user: str | None
    ) -> None:
        """A member of another instance joined or left `channel` (the cluster's bus): this
        instance's watchers of it get the frame."""
        watchers = self._watchers.get(channel)
        if not watchers or hub.closing is not None:
            return
        item = Frame.of(protocol.encode(presence_change(kind, channel, connection_id, user)))
        for watcher in list(watchers.values()):  # a copy: a full outbox evicts as we go
            hub.offer(watcher, item)

    def gone(self, member: Member, channels: list[str]) -> None:
        """A connection ended while in `channels`: remember it as a ghost of each."""
        for channel in channels:
            ghosts = self._ghosts.pop(channel, None) or OrderedDict()
            self._ghosts[channel] = ghosts  # the most recent channel last
            ghosts[member.connection_id] = member.user
            if len(ghosts) > GHOSTS:
                ghosts.popitem(last=False)
        while len(self._ghosts) > GHOST_CHANNELS:
            self._ghosts.popitem(last=False)

    def _tell(self, hub: Hub, kind: str, member: Member, channel: str) -> None:
        watchers = self._watchers.get(channel)
        if not watchers or hub.closing is not None:  # at shutdown everybody leaves at once
            return
        frame = presence_change(kind, channel, member.connection_id, member.user)
        item = Frame.of(protocol.encode(frame))
        leaving = self.leaving
        for watcher in list(watchers.values()):  # a copy: a full outbox evicts as we go
            if watcher is not member and watcher.connection_id not in leaving:
                hub.offer(watcher, item)


def client(connection_id: str, user: str | None) -> dict[str, str]:
    return (
        {"connection_id": connection_id}
        if user is None
        else {
            "connection_id": connection_id,
            "user": user,
        }
    )
