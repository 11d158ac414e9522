"""The channel actions of the envelope protocol: subscribe, unsubscribe, history, presence.

    subscribe    ack -> data `subscribed` {channel, epoch, offset[, recovered]} -> (with
                 `since` and recovered: the missed `message` frames, in offset order)
                 -> event ws.subscribe
    unsubscribe  ack -> data `unsubscribed` {channel} -> event ws.unsubscribe
    history      ack -> data `history` {channel, epoch, offset, publications[, recovered]}
                 -> event ws.history
    presence     ack -> data `presence` {channel, count, clients} -> event ws.presence

What they do to channels is `ChannelOps`'s (ws/channel_ops.py, or the lab's version of it with
the channel bugs: lab/channels.py); here are the frames and their order. The one rule of order:
a subscriber gets its recovered frames, then what was published after, each exactly once.
So the subscription and the recovery are one synchronous step after the data frame is queued:
nothing published can come between them. With QAKIT_AUTH=on a user may subscribe to, ask the
history and the presence of the channels it may join (auth/users.py), no others.
"""

from __future__ import annotations

import json
import logging

from qakit_trio import logs
from qakit_trio.auth.users import may_join
from qakit_trio.errors import ErrorCode, ProtocolError
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.wire import channels as wire
from qakit_trio.wire import protocol
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.hub import Member

log = logging.getLogger(__name__)


def _ops(ctx: ActionContext) -> tuple[ChannelOps, Member]:
    ops, member = ctx.channels, ctx.conn.member
    assert ops is not None
    assert member is not None
    return ops, member


def _channel(ctx: ActionContext) -> str:
    """`payload.channel`, one this request's user may join (QAKIT_AUTH=on)."""
    channel = wire.require_channel(ctx.payload)
    user = ctx.user
    if user is not None and not may_join(user, channel):
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"{user.name} may not join {channel}", channel=channel
        )
    return channel


async def subscribe(ctx: ActionContext) -> None:
    channel = _channel(ctx)
    since = wire.parse_since(ctx.payload.get("since"))
    join_leave = wire.parse_flag(ctx.payload, "join_leave")
    ops, member = _ops(ctx)
    conn = ctx.conn
    if since is not None and ctx.deps.cluster is not None:
        await ctx.deps.cluster.reach(since)  # a position another instance gave (cluster/)
    await conn.room()
    ops.check_subscribe(member, channel)
    replay = None if since is None else ops.recover(channel, since)
    at = ops.position(channel)
    recovered = None if since is None else replay is not None
    await ctx.reply(
        protocol.data("subscribed", ctx.request_id, wire.position(channel, at, recovered))
    )
    if not ops.hub.is_member(member):
        return  # its connection is closing
    ops.check_subscribe(member, channel)  # (the reply may have waited for its own room)
    ops.subscribe(member, channel, join_leave)
    # what was published while the data frame waited (nothing, unless a fault delayed it)
    later = ops.catch_up(channel, at)
    if later is None:  # more than the history holds, in that wait: the client must reload
        conn.close_soon(*ops.LOST)
        return
    frames = [*(replay or ()), *later]
    conn.queue_all_nowait(frames)
    if since is not None:
        logs.info(
            log,
            "recovered" if recovered else "not recovered",
            **conn.fields,
            request_id=ctx.request_id,
            subscribed_to=channel,
            since=since.offset,
            offset=at.offset,
            replayed=len(replay or ()),
        )
    event = wire.position(channel, at, recovered)
    if since is not None:
        event["replayed"] = len(replay or ())
    await ctx.event("ws.subscribe", event)


async def unsubscribe(ctx: ActionContext) -> None:
    channel = wire.require_channel(ctx.payload)
    ops, member = _ops(ctx)
    ops.unsubscribe(member, channel)
    await ctx.reply(protocol.data("unsubscribed", ctx.request_id, {"channel": channel}))
    await ctx.event("ws.unsubscribe", {"channel": channel})


async def history(ctx: ActionContext) -> None:
    channel = _channel(ctx)
    ops, _member = _ops(ctx)
    since = wire.parse_since(ctx.payload.get("since"))
    size = ops.hub.history.limits.size
    limit = protocol.require_int(ctx.payload, "limit", default=size, minimum=1, maximum=size)
    at = ops.position(channel)
    value = wire.position(channel, at)
    if since is None:
        frames = ops.recent(channel, limit)
    else:
        found = ops.recover(channel, since)
        value["recovered"] = found is not None
        frames = (found or [])[:limit]  # the first `limit` after `since`: page forward
    ops.forget_if_idle(channel)  # a channel nobody uses keeps no position for asking
    value["publications"] = [json.loads(frame.text) for frame in frames]
    await ctx.reply(protocol.data("history", ctx.request_id, value))
    await ctx.event("ws.history", {"channel": channel, "count": len(frames)})


async def presence(ctx: ActionContext) -> None:
    channel = _channel(ctx)
    ops, _member = _ops(ctx)
    clients = ops.presence(channel)
    value = {"channel": channel, "count": len(clients), "clients": clients}
    await ctx.reply(protocol.data("presence", ctx.request_id, value))
    await ctx.event("ws.presence", {"channel": channel, "count": len(clients)})


def channel_actions() -> dict[str, Action]:
    return {
        "subscribe": subscribe,
        "unsubscribe": unsubscribe,
        "history": history,
        "presence": presence,
    }
