"""The actions of the envelope protocol: what each request does, reply by reply.

Every action gets an `ActionContext` and answers through it; the ack has already gone out.
Replies go out in the order they are awaited. A `ProtocolError` raised here becomes an error
frame after the ack (connection.py); any other exception is a handler failure (1011).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import logs, protocol
from .events import EventSink, new_event_id
from .hub import Hub
from .outbox import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActionContext:
    request: protocol.Request
    connection_id: str
    channel: str
    hub: Hub
    reply: Callable[[protocol.Frame], Awaitable[None]]
    events: EventSink
    log_fields: dict[str, Any]
    burst: bool  # more requests from this client are already waiting behind this one

    async def event(self, name: str, extra: Any) -> str:
        """Send this request's event frame (and record it once); return its event_id."""
        frame = protocol.event(name, self.request.request_id, extra, new_event_id())
        self.events.record(frame, self.log_fields)
        await self.reply(frame)
        return str(frame["event_id"])


Action = Callable[[ActionContext], Awaitable[None]]


async def echo(ctx: ActionContext) -> None:
    """ack -> echo (the payload back) -> event ws.echo."""
    await ctx.reply(protocol.echo(ctx.request.request_id, ctx.request.payload))
    await ctx.event("ws.echo", ctx.request.payload)


async def triplet_demo(ctx: ActionContext) -> None:
    """ack -> step 1 -> step 2 -> event ws.triplet_demo: one request, several replies."""
    await ctx.reply(protocol.step(ctx.request.request_id, 1, "first response"))
    await ctx.reply(protocol.step(ctx.request.request_id, 2, "second response"))
    await ctx.event("ws.triplet_demo", {"steps": 2})


async def broadcast(ctx: ActionContext) -> None:
    """ack -> a `message` frame to every member of the channel, sender too -> ws.broadcast."""
    message = protocol.require_str(ctx.request.payload, "message")
    frame = protocol.channel_message(ctx.channel, message, ctx.request.request_id,
                                     ctx.connection_id)
    delivered = ctx.hub.publish(ctx.channel, Frame.of(protocol.encode(frame)),  # made once
                                coalesce=ctx.burst)
    logs.info(log, "broadcast", **ctx.log_fields, request_id=ctx.request.request_id,
              delivered=delivered, source="ws")
    await ctx.event("ws.broadcast", {"channel": ctx.channel, "delivered": delivered})


def base_actions() -> dict[str, Action]:
    return {"echo": echo, "triplet_demo": triplet_demo, "broadcast": broadcast}
