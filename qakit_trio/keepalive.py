"""Server pings, and dropping peers that vanished.

One task for the whole server (not one per connection: 5000 idle clients would otherwise mean
5000 sleeping tasks). Every `interval` seconds it looks at every hub member:

- a member that has not been heard from (no frame and no pong) since the previous round's
  ping did not answer that ping within a whole interval: its peer is gone or stuck, so it is
  asked to close with 1011 "keepalive timeout" (and dropped at the TCP level if it does not
  answer the close either; see connection.py);
- every other member is offered a `PING`: a WebSocket ping, written at once or by its writer.
  A member whose outbox is full is a slow consumer and is evicted like on a broadcast.

So a peer that vanishes without a FIN is gone after at most two intervals (40 s with the
default 20 s, the interval uvicorn gave the original stand). Interval 0 turns pings off.
The logic is a plain function of (hub, now, previous round) so it is tested on trio's virtual
clock (tests/test_keepalive.py).
"""

from __future__ import annotations

import logging

import trio

from . import logs
from .hub import Hub
from .outbox import PING

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT = 1011


def ping_round(hub: Hub, previous_round: float | None) -> int:
    """One round: drop the silent, ping the rest. Returns how many pings were queued."""
    pinged = 0
    for member in hub.members():
        if previous_round is not None and member.last_heard < previous_round:
            logs.info(log, "keepalive timeout", conn=member.connection_id, channel=member.channel)
            hub.evict(member, KEEPALIVE_TIMEOUT, "keepalive timeout: no pong")
        elif hub.offer(member, PING):
            pinged += 1
    return pinged


async def run_keepalive(
    hubs: list[Hub], interval: float, *,
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
