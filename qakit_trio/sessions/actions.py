"""The actions of the envelope protocol: what each request does, reply by reply.

Every action gets its request (`ActionContext`: the pipeline's request, pipeline/request.py,
with the envelope's payload) and answers through it; the ack has already gone out. Replies go
out in the order they are awaited. A `ProtocolError`, or one of the service's own errors
(orders, store), raised here becomes an error frame after the ack (envelope.py); any other
exception is a handler failure (1011). The orders actions are in order_actions.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qakit_trio import logs
from qakit_trio.auth.users import may_broadcast
from qakit_trio.cluster.cluster import Cluster
from qakit_trio.pipeline.request import ConnectionRequest
from qakit_trio.sessions.deps import Deps
from qakit_trio.wire import protocol, stamps
from qakit_trio.wire.channels import optional_channel
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.stamps import new_event_id
from qakit_trio.ws.hub import Hub, Member

if TYPE_CHECKING:
    from qakit_trio.sessions.expiry import TokenExpiry

log = logging.getLogger(__name__)


class ActionContext(ConnectionRequest):
    """A request of the envelope protocol, as its action sees it."""

    __slots__ = ("deps", "expiry", "message", "payload", "received")

    deps: Deps
    expiry: TokenExpiry | None  # QAKIT_AUTH=on: its connection's (sessions/expiry.py)
    payload: dict[str, Any]  # the request's `payload` object ({} if it had none)
    message: str | bytes  # as it came
    received: float  # trio time its message was read (qakit_ack_latency_seconds)
    request_id: protocol.RequestId  # (the envelope always has one: the client's or assigned)

    async def event(self, name: str, extra: Any) -> str:
        """Send this request's event frame (and record it once); return its event_id."""
        frame = protocol.event(name, self.request_id, extra, new_event_id())
        self.events.record(frame, self.fields)
        await self.reply(frame)
        return str(frame["event_id"])


Action = Callable[[ActionContext], Awaitable[None]]


async def echo(ctx: ActionContext) -> None:
    """ack -> echo (the payload back) -> event ws.echo."""
    await ctx.reply(protocol.echo(ctx.request_id, ctx.payload))
    await ctx.event("ws.echo", ctx.payload)


async def triplet_demo(ctx: ActionContext) -> None:
    """ack -> step 1 -> step 2 -> event ws.triplet_demo: one request, several replies."""
    await ctx.reply(protocol.step(ctx.request_id, 1, "first response"))
    await ctx.reply(protocol.step(ctx.request_id, 2, "second response"))
    await ctx.event("ws.triplet_demo", {"steps": 2})


async def broadcast(ctx: ActionContext) -> None:
    """ack -> a `message` frame to every member of the channel, sender too -> ws.broadcast.
    The channel: `payload.channel` (one the connection is subscribed to), else the URL's."""
    message = protocol.require_str(ctx.payload, "message")
    conn, ops = ctx.conn, ctx.channels
    channel = conn.channel if ops is None else optional_channel(ctx.payload, conn.channel)
    user = ctx.user
    if user is not None and not may_broadcast(user, channel):  # `announcements`: the teacher's
        raise protocol.ProtocolError(
            protocol.ErrorCode.FORBIDDEN,
            f"{user.name} may not broadcast to {channel}: only the teacher may",
        )
    member = conn.member
    if ops is not None and (member is None or channel not in member.channels):
        raise protocol.ProtocolError(
            protocol.ErrorCode.NOT_SUBSCRIBED,
            f"not subscribed to {channel}: subscribe to it first",
            channel=channel,
        )
    frame = protocol.channel_message(
        channel, message, ctx.request_id, conn.id, None if user is None else user.name
    )
    delivered, congested = await publish_to_channel(
        ctx,
        ctx.deps.hub,
        frame,
        channel,
        None if ops is None else ops.publish,
        cluster=ctx.deps.cluster,
        local=ops is not None and ops.local_only,
    )
    await ctx.event("ws.broadcast", {"channel": channel, "delivered": delivered})
    # Flow control: this client's next request waits until the subscribers this broadcast
    # left congested have drained (or left): the publisher is slowed, never the readers.
    await conn.wait_drained(congested)


async def publish_to_channel(
    request: ConnectionRequest,
    hub: Hub,
    frame: protocol.Message,
    channel: str,
    numbered: Callable[[str, protocol.Message], Frame] | None = None,
    *,
    cluster: Cluster | None = None,
    local: bool = False,
) -> tuple[int, list[Member]]:
    """One client's `frame` to every member of `channel`, the client too; logged once and
    sent to Kafka. Returns how many got it and the members it left congested (for the
    caller's `conn.wait_drained`, once its own replies are out). Both profiles' broadcast;
    `numbered`: the envelope's, which gives it its offset and keeps it (ws/channel_ops.py).
    `cluster`: QAKIT_CLUSTER=kafka: it goes through the bus, which numbers it and brings it
    back to every instance, this one too; the client gets its copy as any subscriber does, in
    the bus's order (cluster/cluster.py); `local`: the lab's local_only_broadcast."""
    conn = request.conn
    # `ts`: when it is published (wire/stamps.py). The sender's copy is queued in the same
    # step, so room for it first (a wait lets other frames in), then the stamp if it is stale.
    await conn.room()
    if not stamps.is_newest(frame["ts"]):
        frame["ts"] = stamps.frame_ts()
    if cluster is not None:
        delivered, congested = await cluster.publish(
            channel, frame, numbered=numbered is not None, local=local
        )
        text = protocol.encode(frame)  # (its offset is the bus's: not known here)
    else:
        # framed once for everyone (with its offset: in this same step, so in offset order)
        item = Frame.of(protocol.encode(frame)) if numbered is None else numbered(channel, frame)
        congested = []
        # Queued rather than written at once when this client has more requests waiting (a
        # burst goes out to each subscriber in one write: docs/send-path.md). The sender gets
        # its copy as its own reply (`share`): its own burst never makes it a slow consumer.
        delivered = hub.publish(
            channel, item, coalesce=conn.burst(), skip=conn.id, congested=congested
        )
        delivered += await request.outlet.share(item)
        text = item.text
    logs.info(
        log,
        "broadcast",
        **conn.fields,
        request_id=request.request_id,
        delivered=delivered,
        source="ws",
        **conn.payload_fields(text),
    )
    request.events.message(frame, channel, conn.id, conn.fields.get("user"))  # to Kafka
    return delivered, congested


def base_actions() -> dict[str, Action]:
    return {"echo": echo, "triplet_demo": triplet_demo, "broadcast": broadcast}
