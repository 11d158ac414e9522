"""What a client does with channels on /ws: publish, subscribe, recover, history, presence.

One `ChannelOps` for the /ws hub (services.py; none in the `qa_kit` profile, whose frames
carry no offsets), shared by every envelope request. The lab replaces it, request by request,
with a wrapper that has the channel bugs (lab/channels.py): an action calls these methods and
never checks a bug itself.

Every method is synchronous, so a subscription and its recovery happen in one step of the
event loop: the recovered frames are queued before anything published later (sessions/
channel_actions.py).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from qakit_trio.errors import ErrorCode, ProtocolError
from qakit_trio.wire.channels import Since
from qakit_trio.wire.close_codes import SLOW_CONSUMER
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.hub import Hub, Member

# the members of a channel on the cluster's other instances (cluster/members.py)
RemoteClients = Callable[[str], list[dict[str, str]]]

MAX_SUBSCRIPTIONS = 32  # QAKIT_MAX_SUBSCRIPTIONS: channels one connection may hold


class ChannelOps:
    # a subscriber that missed more than the history holds while its `subscribed` frame waited
    LOST = (SLOW_CONSUMER, "slow consumer: missed more than the channel's history holds")

    local_only = False  # the lab's local_only_broadcast: the cluster's other instances ignore it

    def __init__(
        self,
        hub: Hub,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        remote: RemoteClients | None = None,
    ) -> None:
        self.hub = hub
        self.max_subscriptions = max_subscriptions
        self.remote = remote  # QAKIT_CLUSTER=kafka: the other instances' members

    def publish(self, channel: str, frame: Message) -> Frame:
        """Give a publication its offset and epoch and keep it: the frame to fan out."""
        return self.hub.history.publish(channel, frame, trio.current_time())

    def position(self, channel: str) -> Since:
        return self.hub.history.position(channel)

    def recover(self, channel: str, since: Since) -> list[Frame] | None:
        """The publications after `since`, oldest first; None: they cannot all be given."""
        return self.hub.history.since(channel, since, trio.current_time())

    def recent(self, channel: str, limit: int) -> list[Frame]:
        return self.hub.history.recent(channel, limit, trio.current_time())

    def forget_if_idle(self, channel: str) -> None:
        self.hub.history.forget_if_idle(channel, trio.current_time())

    def catch_up(self, channel: str, at: Since) -> list[Frame] | None:
        """What was published after `at` (a position this step gave): never the lab's."""
        return self.hub.history.since(channel, at, trio.current_time())

    def check_subscribe(self, member: Member, channel: str) -> None:
        """Say why `member` may not subscribe to `channel` (already, too many), if it may not."""
        if channel in member.channels:
            raise ProtocolError(
                ErrorCode.ALREADY_SUBSCRIBED, f"already subscribed to {channel}", channel=channel
            )
        if len(member.channels) >= self.max_subscriptions:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.max_subscriptions} channels per connection "
                "(QAKIT_MAX_SUBSCRIPTIONS): unsubscribe from one first",
                limit=self.max_subscriptions,
            )

    def subscribe(self, member: Member, channel: str, join_leave: bool) -> None:
        self.check_subscribe(member, channel)
        self.hub.subscribe(member, channel, join_leave=join_leave)

    def unsubscribe(self, member: Member, channel: str) -> None:
        if not self.hub.unsubscribe(member, channel):
            raise ProtocolError(
                ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {channel}", channel=channel
            )

    def presence(self, channel: str) -> list[dict[str, str]]:
        """The channel's members: this instance's, then the other instances' (the cluster)."""
        here = self.hub.presence.clients(channel)
        return here if self.remote is None else here + self.remote(channel)
