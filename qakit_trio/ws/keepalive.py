"""Server pings, and dropping peers that vanished.

One task for the whole server (not one per connection: 5000 idle clients would otherwise mean
5000 sleeping tasks). Every `interval` seconds it looks at every hub member:

- a member that has not been heard from (no frame and no pong) since the previous round's
  ping did not answer that ping within a whole interval: its peer is gone or stuck, so it is
  asked to close with 1011 "keepalive timeout" (and dropped at the TCP level if it does not
  answer the close either; see connection.py);
- every other member is offered a `PING`: a WebSocket ping, written at once or by its writer.
  A member whose outbox is full is skipped, not evicted: whether it is stuck is for the
  slow-consumer watch below to say.

So a peer that vanishes without a FIN is gone after at most two intervals (40 s with the
default 20 s, the interval uvicorn gave the original stand). Interval 0 turns pings off.
The slow-consumer watch (`run_slow_consumer_watch`, one task too) looks at every member every
quarter of QAKIT_SLOW_CONSUMER_TIMEOUT: one whose writer has been stuck in one write (no
progress: the client reads nothing) for the whole timeout, as seen by its rounds (so within
1.25 timeouts), is evicted with 4008. Time during which the stand itself does not read the
client (flow control: `Meter.paused`) does not count: the clock starts again after it. The
writer only flips a flag and counts its writes; the watch keeps the time. That is what frees a
client that stopped reading, or vanished while the server was writing to it, pings or
no pings. A client that reads, however slowly, finishes writes and is never evicted by it.

The logic is plain functions of (hub, now, ...) so it is tested on trio's virtual clock
(tests/ws/test_keepalive.py).
"""

from __future__ import annotations

import logging

import trio

from qakit_trio import logs
from qakit_trio.wire.close_codes import KEEPALIVE_TIMEOUT, SLOW_CONSUMER
from qakit_trio.wire.framing import PING
from qakit_trio.ws.hub import Hub

log = logging.getLogger(__name__)


def ping_round(hub: Hub, previous_round: float | None) -> int:
    """One round: drop the silent, ping the rest. Returns how many pings were queued."""
    pinged = 0
    for member in hub.members():
        if not member.can_ping:
            continue  # plain ASGI: no pings, so no pongs to miss (transport/base.py)
        if previous_round is not None and member.last_heard < previous_round:
            logs.info(log, "keepalive timeout", conn=member.connection_id, channel=member.channel)
            hub.evict(member, KEEPALIVE_TIMEOUT, "keepalive timeout: no pong")
        elif hub.offer(member, PING, evict=False):
            pinged += 1
    return pinged


def evict_stalled(hub: Hub, now: float, timeout: float) -> int:
    """Evict every member whose writer has been in one write, with no batch finished, for
    `timeout` s as seen by successive calls (the watch's rounds). Returns how many."""
    evicted = 0
    for member in hub.members():
        meter = member.inlet.meter
        if not meter.writing or meter.paused:  # not stuck, or the stand is not reading it
            meter.stall_mark = None
            continue
        mark = meter.stall_mark
        if mark is None or mark[0] != meter.writes:  # first seen writing, or it progressed
            meter.stall_mark = (meter.writes, now)
            continue
        if now - mark[1] >= timeout:
            log.warning(
                "slow consumer evicted",
                extra={
                    "fields": {
                        "conn": member.connection_id,
                        "channel": member.channel,
                        "why": "no progress",
                        "stalled_s": round(now - mark[1], 3),
                    }
                },
            )
            hub.evict(member, SLOW_CONSUMER, "slow consumer: no progress")
            evicted += 1
    return evicted


async def run_slow_consumer_watch(
    hubs: list[Hub],
    stalled_after: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve forever (a service-nursery task): evict members stuck for `stalled_after` s."""
    task_status.started()
    while True:
        await trio.sleep(stalled_after / 4)
        now = trio.current_time()
        for hub in hubs:
            evict_stalled(hub, now, stalled_after)


async def run_keepalive(
    hubs: list[Hub],
    interval: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve forever (a service-nursery task). Ready at once: it only needs the hubs."""
    task_status.started()
    if interval == 0:
        return
    previous_round: float | None = None
    while True:
        await trio.sleep(interval)
        now = trio.current_time()
        for hub in hubs:
            ping_round(hub, previous_round)
        previous_round = now
