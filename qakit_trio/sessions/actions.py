"""The actions of the envelope protocol: what each request does, reply by reply.

Every action gets an `ActionContext` and answers through it; the ack has already gone out.
Replies go out in the order they are awaited. A `ProtocolError`, or one of the service's own
errors (orders, store), raised here becomes an error frame after the ack (envelope.py); any
other exception is a handler failure (1011). The orders actions are in order_actions.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from qakit_trio import logs
from qakit_trio.services import Services
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import new_event_id
from qakit_trio.ws.connection import Connection
from qakit_trio.ws.hub import Member

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActionContext:
    request: protocol.Request
    conn: Connection
    services: Services
    # The lab's defects (lab/bugs.py), decided by the session: an ack held back until the
    # first reply (ack_after_data), and the request id the events carry
    # (event_wrong_request_id). Normally: nothing held, and this request's own id.
    late_ack: list[protocol.Message] | None = None
    event_request_id: protocol.RequestId | None = None

    @property
    def request_id(self) -> protocol.RequestId:
        return self.request.request_id

    @property
    def events_request_id(self) -> protocol.RequestId:
        """The request id this request's events carry."""
        given = self.event_request_id
        return self.request.request_id if given is None else given

    async def reply(self, frame: protocol.Message) -> None:
        await self.conn.reply(frame)
        if self.late_ack:
            await self.conn.reply(self.late_ack.pop())

    async def event(self, name: str, extra: Any) -> str:
        """Send this request's event frame (and record it once); return its event_id."""
        frame = protocol.event(name, self.events_request_id, extra, new_event_id())
        self.services.events.record(frame, self.conn.fields)
        await self.send_event(frame)
        return str(frame["event_id"])

    async def send_event(self, frame: protocol.Message) -> None:
        """This request's event frame, to its client (already recorded by whoever made it)."""
        await self.reply(frame)
        if self.services.bugs.duplicate_event:  # the lab's defect: every event twice
            await self.reply(frame)


Action = Callable[[ActionContext], Awaitable[None]]


async def echo(ctx: ActionContext) -> None:
    """ack -> echo (the payload back) -> event ws.echo."""
    await ctx.reply(protocol.echo(ctx.request_id, ctx.request.payload))
    await ctx.event("ws.echo", ctx.request.payload)


async def triplet_demo(ctx: ActionContext) -> None:
    """ack -> step 1 -> step 2 -> event ws.triplet_demo: one request, several replies."""
    await ctx.reply(protocol.step(ctx.request_id, 1, "first response"))
    await ctx.reply(protocol.step(ctx.request_id, 2, "second response"))
    await ctx.event("ws.triplet_demo", {"steps": 2})


async def broadcast(ctx: ActionContext) -> None:
    """ack -> a `message` frame to every member of the channel, sender too -> ws.broadcast."""
    message = protocol.require_str(ctx.request.payload, "message")
    channel = ctx.conn.channel
    frame = protocol.channel_message(channel, message, ctx.request_id, ctx.conn.id)
    delivered, congested = await publish_to_channel(ctx.conn, ctx.services, frame, ctx.request_id)
    await ctx.event("ws.broadcast", {"channel": channel, "delivered": delivered})
    # Flow control: this client's next request waits until the subscribers this broadcast
    # left congested have drained (or left): the publisher is slowed, never the readers.
    await ctx.conn.wait_drained(congested)


async def publish_to_channel(
    conn: Connection, services: Services, frame: protocol.Message, request_id: object
) -> tuple[int, list[Member]]:
    """One client's `frame` to every member of its channel, the client too; logged once
    and sent to Kafka. Returns how many got it and the members it left congested (for the
    caller's `conn.wait_drained`, once its own replies are out). Both profiles' broadcast."""
    channel, hub = conn.channel, services.hub
    # `ts`: when it is published (wire/stamps.py). The sender's copy is queued in the same
    # step, so room for it first (a wait lets other frames in), then the stamp if it is stale.
    await conn.room()
    if not protocol.is_newest(frame["ts"]):
        frame["ts"] = protocol.frame_ts()
    item = Frame.of(protocol.encode(frame))  # framed once for everyone
    congested: list[Member] = []
    # Queued rather than written at once when this client has more requests waiting (a burst
    # goes out to each subscriber in one write: docs/send-path.md). The sender gets its copy
    # as its own reply (`share`): its own burst never makes it a slow consumer of itself.
    delivered = hub.publish(channel, item, coalesce=conn.burst(), skip=conn.id, congested=congested)
    if services.bugs.broadcast_leaks_channels:  # the lab's defect: every channel gets it
        for other in hub.stats():
            if other != channel:
                hub.publish(other, item)
    delivered += await conn.share(item)
    logs.info(
        log,
        "broadcast",
        **conn.fields,
        request_id=request_id,
        delivered=delivered,
        source="ws",
        **conn.payload_fields(item.text),
    )
    services.events.message(frame, channel, conn.id)  # to Kafka, if it is on
    return delivered, congested


def base_actions() -> dict[str, Action]:
    return {"echo": echo, "triplet_demo": triplet_demo, "broadcast": broadcast}
