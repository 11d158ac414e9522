"""`/ws/_inspect`: the live view behind the /inspector page (messages: wire/inspect.py).

    inspector nursery (Inspector.run)
    ├── reader (the nursery's own task): {"watch": ...} messages -> the tap's filter
    ├── sender: every second the connection table; as traffic passes, the frames its tap
    │   caught, in batches at most every FLUSH_INTERVAL (the tap: ws/tap.py; bounded, drops
    │   and counts when behind)
    ├── progress watch (ws/lone.py): a write unfinished for QAKIT_SLOW_CONSUMER_TIMEOUT
    │   drops the link
    └── shutdown watch (ws/lone.py): the server's shutdown -> close 1001

The inspector is not a hub member: it is not counted in /stats, gets no broadcasts, and its
own frames are not tapped. It can only look: its one message chooses what it watches.

What it costs the stand: at most QAKIT_MAX_INSPECTORS (8) are open at once; the next is
accepted and closed at once with 1013 "too many inspectors (max 8)". A frame costs nothing for
an inspector watching something else (ws/tap.py), and for one watching it a place in its
queue: a sender wakes at most every FLUSH_INTERVAL whatever the traffic, each frame is
described and encoded once for every inspector (Tapped.row), and the connection table once a
second for all of them (`_Tables`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from itertools import islice
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.channels import drain_nowait
from qakit_trio.config import Settings
from qakit_trio.errors import Disconnected
from qakit_trio.transport.base import Pong, ServerTerminated, Transport, close_within, reply_code
from qakit_trio.wire import inspect
from qakit_trio.wire.close_codes import MESSAGE_TOO_BIG, TRY_AGAIN_LATER
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.stamps import new_connection_id, utc_ts
from qakit_trio.ws.hub import Hub, Member
from qakit_trio.ws.lone import Progress, close_on_shutdown, watch_progress
from qakit_trio.ws.tap import Tap, Tapped, Taps, Watch

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL = 1.0  # seconds between connection tables
MAX_ROWS = 500  # connections listed in one table (the total says how many there are)
# a row's subscriptions listed (its `subscriptions` says how many): 500 rows of 8 names of 64
# characters keep a table under half a MiB, whatever QAKIT_MAX_SUBSCRIPTIONS allows
MAX_CHANNELS_LISTED = 8
MAX_WATCH_MESSAGE = 4096  # bytes: a watch message is a few dozen
# A sender gathers its frames this long before it sends them: at most 20 wake-ups and messages
# a second per inspector, however busy the stand (a person cannot read faster; the tap's
# queue holds that long of a busy class, ws/tap.py TAP_SIZE).
FLUSH_INTERVAL = 0.05
# One "frames" message holds at most this many rows and characters (a batch may take a few):
# clients' default message limits are 1 MiB (trio-websocket) and up.
FRAMES_PER_MESSAGE = 256
MESSAGE_CHARS = 256 * 1024


class Inspector:
    def __init__(
        self,
        transport: Transport,
        settings: Settings,
        taps: Taps,
        hubs: list[Hub],
        stopping: ServerTerminated | None,
    ) -> None:
        self.id = new_connection_id()  # on its log lines, as every connection's
        self._transport = transport
        self._settings = settings
        self._taps = taps
        self._hubs = hubs
        self._terminated = transport.server_terminated or stopping
        self._progress = Progress()
        self._send_lock = trio.Lock()  # the reader answers, the sender streams: one at a time

    async def run(self) -> None:
        most = self._settings.max_inspectors
        if len(self._taps) >= most:  # no checkpoint before open_tap: the count cannot change
            logs.info(log, "inspector refused: too many", conn=self.id, inspectors=most)
            await close_within(
                self._transport,
                TRY_AGAIN_LATER,
                f"too many inspectors (max {most})",
                self._settings.close_timeout,
            )
            return
        logs.info(log, "inspector connected", conn=self.id, inspectors=len(self._taps) + 1)
        with self._taps.open_tap() as (tap, tapped), tapped:  # we own the receive end
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    watch_progress, self._transport, self._settings, self._progress, "inspector"
                )
                if self._terminated is not None:
                    nursery.start_soon(
                        close_on_shutdown, self._transport, self._settings, self._terminated
                    )
                nursery.start_soon(self._send_loop, tap, tapped)
                await self._read_loop(tap)
                nursery.cancel_scope.cancel()
        logs.info(log, "inspector closed", conn=self.id, dropped=tap.dropped)

    async def _read_loop(self, tap: Tap) -> None:
        await self._send(inspect.watching({}))
        while True:
            try:
                message = await self._transport.receive()
            except Disconnected as gone:
                await self._transport.close(reply_code(gone.close_code), gone.reason)
                return
            if isinstance(message, Pong):
                continue
            if len(message) > MAX_WATCH_MESSAGE:
                await self._transport.close(MESSAGE_TOO_BIG, "message too big")
                return
            watch, problem = inspect.parse_watch(message)
            if watch is None:
                assert problem is not None
                await self._send(problem)
                continue
            tap.watch = self._resolve(watch)
            await self._send(inspect.watching(watch))

    def _resolve(self, watch: dict[str, str]) -> Watch:
        """A connection's filter also needs its hub and channel (for what is published there)."""
        conn = watch.get("conn")
        if conn is None:
            return Watch(watch.get("hub"), watch.get("channel"))
        for hub in self._hubs:
            for member in hub.members():
                if member.connection_id == conn:
                    return Watch(hub.name, member.channel, conn)
        return Watch(None, None, conn)  # not connected (yet, or any more): its own frames only

    async def _send_loop(self, tap: Tap, tapped: trio.MemoryReceiveChannel[Tapped]) -> None:
        tables = _tables_of(self._taps)
        next_table = trio.current_time()
        while True:
            if trio.current_time() >= next_table:
                head = tables.head(self._hubs, self._settings.profile)
                await self._send_texts([f"{head}{tap.dropped}}}"])
                next_table = trio.current_time() + SNAPSHOT_INTERVAL
            batch: list[Tapped] = []
            with trio.move_on_at(next_table):
                batch.append(await tapped.receive())  # a quiet stand: no wake-up at all
                await trio.sleep(FLUSH_INTERVAL)  # the rest of a burst joins this batch
            if batch:
                drain_nowait(tapped, batch)
                tap.taken(batch)
                # made once for every inspector; not those queued for the watch before
                rows = [frame.row_text() for frame in tap.current(batch)]
                if not rows:
                    continue
                await self._send_texts(
                    [inspect.frames_text(chunk, tap.dropped) for chunk in _messages(rows)]
                )

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_texts([inspect.encode(message)])

    async def _send_texts(self, texts: list[str]) -> None:
        async with self._send_lock:
            self._progress.writing_since = trio.current_time()
            await self._transport.send_batch([Frame.of(text) for text in texts])
            self._progress.writing_since = None


def _messages(rows: list[str]) -> Iterator[list[str]]:
    """`rows` cut into messages of at most FRAMES_PER_MESSAGE rows and MESSAGE_CHARS."""
    chunk: list[str] = []
    size = 0
    for text in rows:
        if chunk and (len(chunk) == FRAMES_PER_MESSAGE or size + len(text) > MESSAGE_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    if chunk:
        yield chunk


class _Tables:
    """The connection table, built and encoded at most once a SNAPSHOT_INTERVAL for every
    inspector of the stand (50 inspectors used to build 50 tables of 2000 members a second)."""

    def __init__(self) -> None:
        self._built_at = -SNAPSHOT_INTERVAL
        self._head = ""

    def head(self, hubs: list[Hub], profile: str) -> str:
        now = trio.current_time()
        if now - self._built_at >= SNAPSHOT_INTERVAL * 0.9:  # the senders' ticks drift apart
            members = [(hub, member) for hub in hubs for member in hub.members()]
            rows = [row(hub, member, now, profile) for hub, member in members[:MAX_ROWS]]
            self._head = inspect.connections_head(rows, len(members), utc_ts())
            self._built_at = now
        return self._head


# one table cache per stand (its Taps), shared by its inspectors
_TABLES: weakref.WeakKeyDictionary[Taps, _Tables] = weakref.WeakKeyDictionary()


def _tables_of(taps: Taps) -> _Tables:
    tables = _TABLES.get(taps)
    if tables is None:
        tables = _TABLES[taps] = _Tables()
    return tables


def row(hub: Hub, member: Member, now: float, profile: str) -> dict[str, Any]:
    """One line of the connection table. `channel` is the URL's; `channels` the channels it
    is subscribed to now (the URL's first unless it unsubscribed), in the order it subscribed,
    each with whether it gets their join/leave frames; `subscriptions` how many there are."""
    meter = member.inlet.meter
    protocol = (
        "legacy orders"
        if hub.name == "/ws/orders"
        else "qa_kit envelope"
        if profile == "qa_kit"
        else "envelope"
    )
    return {
        "id": member.connection_id,
        "hub": hub.name,
        "channel": member.channel,
        "protocol": protocol,
        "connected_s": round(now - member.joined),
        "frames_in": member.frames_in,
        "frames_out": meter.out,
        "queued_frames": meter.frames,
        "queued_bytes": meter.own + meter.shared,
        "last_heard_s": round(now - member.last_heard, 1),
        "channels": [
            {"channel": channel, "join_leave": join_leave}
            for channel, join_leave in islice(member.channels.items(), MAX_CHANNELS_LISTED)
        ],
        "subscriptions": len(member.channels),
    }
