"""The channel bugs (surface `channels` in bugs.py): a `ChannelOps` (ws/channel_ops.py) that
gets one thing wrong, put in a request's place by the lab (lab.py) for that request only, and
for a connection's recovery at connect (`Lab.channels_for`).

    recovery_skips_one        a recovery leaves out the first publication the client missed
    recovery_duplicates_last  a recovery starts one early: the client's last one comes again
    offset_gap                the trainee's publications skip an offset (a gap others see too)
    presence_keeps_ghosts     presence lists connections that closed while in the channel
    unsubscribe_ignored       unsubscribe answers `unsubscribed`, and nothing changes
    epoch_never_changes       a position of another epoch is recovered by its offset alone; a
                              blip's history reset (POST /lab/blip) keeps the epoch too
    local_only_broadcast      (a cluster's) a broadcast reaches its own instance only
    presence_per_instance     (a cluster's) presence lists its own instance's members only

docs/lab-answer-key.md says how a trainee's test finds each.
"""

from __future__ import annotations

import trio

from qakit_trio.lab.bugs import Bugs
from qakit_trio.wire.channels import Since
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.hub import Member


def with_bugs(ops: ChannelOps, bugs: Bugs) -> ChannelOps:
    """`ops` as the request's bugs have it: itself when none of them is about channels."""
    return LabChannels(ops, bugs) if bugs.channels_on else ops


class LabChannels(ChannelOps):
    def __init__(self, inner: ChannelOps, bugs: Bugs) -> None:
        super().__init__(inner.hub, inner.max_subscriptions, inner.remote)
        self._bugs = bugs
        self.local_only = bugs.local_only_broadcast  # the other instances ignore its records
        if bugs.presence_per_instance:
            self.remote = None  # presence answers for this instance alone

    def publish(self, channel: str, frame: Message) -> Frame:
        gap = 1 if self._bugs.offset_gap else 0
        return self.hub.history.publish(channel, frame, trio.current_time(), gap=gap)

    def recover(self, channel: str, since: Since) -> list[Frame] | None:
        bugs, history, now = self._bugs, self.hub.history, trio.current_time()
        start = since.offset
        if bugs.recovery_duplicates_last and start > 0:
            start -= 1
        if bugs.epoch_never_changes:
            frames = history.after(channel, start, now)
        elif history.position(channel).epoch != since.epoch:
            frames = None
        else:
            frames = history.after(channel, start, now)
        if frames and bugs.recovery_skips_one:
            frames = frames[1:]
        return frames

    def unsubscribe(self, member: Member, channel: str) -> None:
        if self._bugs.unsubscribe_ignored and channel in member.channels:
            return  # answered as if it had worked
        super().unsubscribe(member, channel)

    def presence(self, channel: str) -> list[dict[str, str]]:
        clients = super().presence(channel)
        if self._bugs.presence_keeps_ghosts:
            clients += self.hub.presence.ghosts(channel)
        return clients
