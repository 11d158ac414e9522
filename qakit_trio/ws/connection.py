"""One WebSocket client (on /ws or /ws/orders): its own nursery with a reader and a writer.

    connection nursery (Connection.run)
    ├── reader  the nursery's own task: transport.receive() -> session.handle() -> replies
    │           into the outbox (a separate child would cost every client ~1.9 KiB more)
    ├── writer  outbox -> batch -> transport.send_batch(): one socket write per batch
    │           (the only task that waits on the socket; see outbox.Inlet for the fast lane)
    ├── close watchdog (once we start closing) -> transport.abort() if the handshake stalls
    └── a session's watch (start_watch: a token's expiry), cancelled when the reader ends

The writer starts with the outbox, on first use (outbox.LazyOutbox: an idle client has
none). Closing (`close_soon`, never blocking): ws/closing.py says how it goes.

What the messages mean is the session's business (sessions/); the socket, the outbox and
closing are here, once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import copy_context
from functools import partial
from typing import Any

import trio

from qakit_trio import log_fields, logs
from qakit_trio.channels import drain_nowait
from qakit_trio.config import Settings
from qakit_trio.errors import Disconnected
from qakit_trio.transport.base import Pong, Transport, close_within, reply_code
from qakit_trio.wire import protocol, stamps
from qakit_trio.wire.close_codes import ABNORMAL, INTERNAL_ERROR, MESSAGE_TOO_BIG, SLOW_CONSUMER
from qakit_trio.wire.framing import WAKE, Frame, OutboxItem
from qakit_trio.ws.closing import CloseRequest, close_watchdog, drop_after
from qakit_trio.ws.delayed import DelayedReplies
from qakit_trio.ws.hub import Hub, Member
from qakit_trio.ws.outbox import LazyOutbox, Meter, capacity
from qakit_trio.ws.session import Session

log = logging.getLogger(__name__)
FRAME_OUT = logs.Line(log, "frame out", (*protocol.LOGGED_KEYS, "payload", "truncated"))

ABORT_TIMEOUT = 1.0  # dropping a TCP link is local work: this only bounds a wedged server


class Connection:
    # Slots: one of these lives as long as its client; 5000 idle clients is a benchmark.
    __slots__ = (
        "_closing",
        "_delayed",
        "_hub",
        "_member",
        "_meter",
        "_nursery",
        "_outbox",
        "_session",
        "_settings",
        "_transport",
        "channel",
        "fields",
        "id",
    )

    def __init__(
        self,
        transport: Transport,
        hub: Hub,
        channel: str,
        settings: Settings,
        session: Callable[[Connection], Session],
        user: str | None = None,
    ) -> None:
        self.id = stamps.new_connection_id()
        self.channel = channel
        self.fields = logs.Fields(conn=self.id, channel=channel)  # on every line about it
        if user is not None:
            self.fields["user"] = user  # QAKIT_AUTH=on: who its client is
        self._transport = transport
        self._hub = hub
        self._settings = settings
        # opened by the first frame that must wait, the first own reply or the close: the
        # writer task starts with it (outbox.py, LazyOutbox)
        self._outbox = LazyOutbox(capacity(settings.outbox_limits))
        self._meter = Meter(settings.outbox_limits)  # what waits in the outbox (outbox.py)
        self._session = session(self)
        self._member: Member | None = None
        self._nursery: trio.Nursery | None = None
        self._closing: CloseRequest | None = None
        self._delayed: DelayedReplies | None = None  # made by the first delayed reply

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                outbox = self._outbox  # its writer starts in this connection's context, whoever
                # opens it (a publisher's task would lend it its own: its request, its server)
                start = partial(copy_context().run, nursery.start_soon, self._write_loop)
                outbox.start_writer = start
                inlet = outbox.inlet_for(self._transport.write_nowait, self._meter)
                self._member = self._hub.join(
                    self.channel,
                    self.id,
                    inlet,
                    self.close_soon,
                    can_ping=self._transport.can_ping,
                    user=self.fields.get("user"),  # (QAKIT_AUTH=on: the lab, the board)
                )
                logs.info(log, "connected", **self.fields)
                hello = self._session.hello()
                if hello is not None:  # no checkpoint since join: it is the first frame out
                    text = protocol.encode(hello)
                    self._log_out(hello, text)
                    write_nowait = self._transport.write_nowait
                    rest = self._outbox.write_first(Frame.of(text), write_nowait, self._meter)
                    if rest is not None:  # the socket did not take it whole: queued as a reply
                        self._queue_nowait(rest)
                    self.queue_all_nowait(self._session.after_hello())
                if self._hub.closing is not None:
                    self.close_soon(*self._hub.closing)
                try:
                    await self._read_loop()  # the reader is this task: one task fewer per client
                finally:
                    if self._delayed is not None:  # they (and watches) end with it, now
                        self._delayed.cancel_all()
                    if self._meter.writing:
                        # Leaving (cancelled, or the client is gone) while the writer is stuck
                        # in a write hypercorn shields: only dropping the link can end it.
                        with trio.CancelScope(shield=True) as scope:
                            scope.deadline = trio.current_time() + ABORT_TIMEOUT
                            await self._transport.abort()
        except* Exception:
            log.exception("connection failed", extra={"fields": self.fields})
            if self._member is not None:  # first: no broadcast or ping reaches its closed nursery
                self._hub.leave(self._member)  # while the close below waits
            with trio.CancelScope(shield=True):
                await close_within(
                    self._transport, INTERNAL_ERROR, "internal error", self._settings.close_timeout
                )
        finally:
            if self._member is not None:
                self._hub.leave(self._member)
            logs.info(log, "closed", **self.fields, **self._close_fields())
            # its run is over: no cycle through it is left (its member's `close` and its
            # outbox's writer are its methods, its session holds it), freed at once (tcp_server)
            self._member = self._nursery = self._outbox.start_writer = None
            del self._session

    def close_soon(self, code: int, reason: str) -> None:
        """Start closing (ws/closing.py), with a watchdog on the client's answer. Synchronous;
        safe to call twice. The reader, seeing the client's close first, needs no watchdog."""
        request = CloseRequest(code, reason, flush=code != SLOW_CONSUMER)
        nursery = self._nursery  # (None outside run: nothing to close)
        if nursery is not None and self._start_closing(request, can_send=True):
            timeout, fields = self._settings.close_timeout, self.fields
            nursery.start_soon(close_watchdog, request, self._transport, timeout, nursery, fields)

    def _start_closing(self, request: CloseRequest, can_send: bool) -> bool:
        """Leave the hub and wake the writer to send the close (started for it, unless nothing
        `can_send`: the link is gone). False if closing had already started."""
        if self._closing is not None:
            return False
        self._closing = request
        if self._member is not None:
            self._hub.leave(self._member)
        # Wake the writer (its outbox is empty while it waits; a busy one sees `_closing` first)
        if can_send or self._outbox.send is not None:
            with contextlib.suppress(
                trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                self._outbox.open().send_nowait(WAKE)  # (the writer starts, to send the close)
        self._meter.wake()  # the reader, if it waits for its outbox to drain: stop waiting
        return True

    def _close_fields(self) -> dict[str, Any]:
        if self._closing is None:
            return {}
        return {"close_code": self._closing.code, "close_reason": self._closing.reason}

    # --- reader --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:  # the reader owns the original send end (once opened): closed when it ends
            while True:
                try:
                    message = await self._transport.receive()
                except Disconnected as gone:
                    if self._closing is None:
                        logs.info(
                            log,
                            "client closed",
                            **self.fields,
                            close_code=gone.close_code,
                            close_reason=gone.reason,
                        )
                        request = CloseRequest(reply_code(gone.close_code), gone.reason, False)
                        self._start_closing(request, can_send=gone.close_code != ABNORMAL)
                    else:  # ours went first: its watchdog waits for this
                        self._closing.client_closed.set()
                    return
                if self._member is not None:
                    self._member.last_heard = trio.current_time()
                if isinstance(message, Pong) or self._closing is not None:
                    continue  # after closing starts, what the client sends is discarded
                await self._handle(message)
        finally:
            self._outbox.close()

    async def _handle(self, message: str | bytes) -> None:
        hub = self._hub
        if self._member is not None:
            self._member.frames_in += 1
        if hub.taps.active:  # an inspector is open (tap.py)
            hub.taps.offer("in", hub.name, self.channel, self.id, message)
        if len(message) > self._settings.max_message_size:
            logs.info(
                log,
                "frame in",
                **self.fields,
                size=len(message),
                **self.payload_fields(message[: self._settings.log_payload_max]),
            )
            self.close_soon(MESSAGE_TOO_BIG, "message too big")
            return
        try:
            await self._session.handle(message)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the writer has finished: the connection is closing (not a failure)
        except* Exception:
            log.exception("session failed", extra={"fields": self.fields})
            self.close_soon(INTERNAL_ERROR, "internal error")

    # --- what sessions use -----------------------------------------------------------------

    @property
    def member(self) -> Member | None:  # the hub's view of it (its subscriptions), once joined
        return self._member

    def queue_all_nowait(self, items: Sequence[Frame]) -> None:
        """A recovery's frames, queued in this step (none later comes first); no room: 4008."""
        if not items:
            return
        stats = self._outbox.open().statistics()
        if stats.current_buffer_used + len(items) > stats.max_buffer_size:
            self.close_soon(SLOW_CONSUMER, "slow consumer: no room for the recovered frames")
            return
        for item in items:
            self._queue_nowait(item)

    def burst(self) -> bool:
        """More messages from this client are already waiting behind the current one."""
        return self._transport.queued() > 0

    async def reply(self, frame: protocol.Message, text: str | None = None) -> None:
        """Queue one frame for this client (logged as `frame out`); see `queue`. `text`: the
        frame already encoded (the legacy protocol's own JSON form, no `ts`), else
        protocol.encode, once its `ts` is the time it is queued: re-stamped if another frame
        was stamped since it was (wire/stamps.py), so `ts` never decreases on a connection."""
        await self.room()  # first: a wait lets other frames in, and `ts` is when it is queued
        if text is None:
            ts = frame.get("ts")
            if ts is not None and not stamps.is_newest(ts):
                frame["ts"] = stamps.frame_ts()
            text = protocol.encode(frame)
        self._log_out(frame, text)
        self._queue_nowait(Frame.of(text))

    async def send_frame(self, frame: protocol.Message, item: Frame) -> None:
        """Queue a frame already in its wire form (a trainee's fault sends one as several
        WebSocket fragments: lab/fault_outlet.py; plain ASGI cannot fragment and sends it
        whole), logged as `frame out` like a reply."""
        await self.room()
        self._log_out(frame, item.text)
        self._queue_nowait(item)

    def start_soon(self, task: Callable[[], Awaitable[None]], size: int = 0) -> None:
        """Run `task` (a trainee's delayed reply, holding `size` bytes of frames) in this
        connection's nursery until the reader finishes. Over a limit (ws/delayed.py):
        ProtocolError(too_many_delayed); while closing: nothing started (the client leaves)."""
        if self._nursery is None or self._closing is not None:
            return
        if self._delayed is None:
            self._delayed = DelayedReplies(self._settings.outbox_bytes)
        self._delayed.start(self._nursery, task, size)

    def drop_after(self, seconds: float) -> None:
        """A trainee's fault: TCP dropped in `seconds`, once the queue is out, no close frame."""
        if self._nursery is not None:
            transport, meter = self._transport, self._meter
            self.start_soon(
                partial(drop_after, seconds, transport, meter, self._nursery, self.fields)
            )

    def start_watch(self, watch: Callable[[], Awaitable[None]]) -> None:
        """Run a session's `watch` (sessions/expiry.py) until it returns or the reader ends."""
        if self._nursery is not None:
            self._delayed = self._delayed or DelayedReplies(self._settings.outbox_bytes)
            self._delayed.watch(self._nursery, watch)

    def delay_refused(self) -> protocol.ProtocolError | None:
        """Why a delayed reply would not start now (asked before its request runs), or None."""
        return None if self._delayed is None else self._delayed.refusal()

    def payload_fields(self, text: str | bytes) -> dict[str, object]:
        """The `payload` and `truncated` fields of a frame's log line (QAKIT_LOG_PAYLOAD_MAX)."""
        return log_fields.payload_fields(text, self._settings.log_payload_max)

    async def queue(self, item: Frame) -> None:
        """Queue one of this client's own frames, waiting only while its own room is full.

        Backpressure, never eviction: a client that does not read its replies makes its own
        reader wait once the own room is full (outbox.py), its requests then wait in hypercorn's
        queue and the kernel. Not `await send()`: that yields even when there is room. Queued
        without a yield, the ack, data and event of one request go out in one socket write."""
        await self.room()
        self._queue_nowait(item)

    async def room(self) -> None:
        """Until one more own frame can be queued at once (`queue`): whoever stamps one, first."""
        if self._meter.own_room_full() and self._closing is None:
            await self._meter.wait_until(self._own_room_or_closing)

    def _own_room_or_closing(self) -> bool:
        return not self._meter.own_room_full() or self._closing is not None

    def _queue_nowait(self, item: OutboxItem) -> None:
        try:
            (self._outbox.send or self._outbox.open()).send_nowait(item)
        except trio.WouldBlock:
            return  # only while closing (the writer stopped taking): the client is leaving
        self._meter.added_own(len(item.wire))

    async def wait_drained(self, members: list[Member]) -> None:
        """Flow control after this client published (hub.wait_drained): while it waits, the
        stand does not read this client, and that time never counts against it as no
        progress (a client whose writing blocks its reading cannot read meanwhile)."""
        if not members:
            return
        meter = self._meter
        meter.paused += 1
        try:
            await self._hub.wait_drained(members)
        finally:
            meter.paused -= 1

    async def share(self, item: Frame) -> int:
        """This client's own copy of a frame it published (the hub skipped it), queued like a
        reply: its own burst never makes it a slow consumer. 1 if still a member, else 0."""
        hub = self._hub
        if self._member is None or not hub.is_member(self._member):
            return 0
        if hub.taps.active:  # the publish skipped it: its copy is one of its own frames
            hub.taps.offer("out", hub.name, self.channel, self.id, item.text)
        await self.queue(item)
        return 1

    def _log_out(self, frame: protocol.Message, text: str) -> None:
        FRAME_OUT.info(
            self.fields,
            *self._session.described(frame),
            *log_fields.payload_values(text, self._settings.log_payload_max),
        )
        hub = self._hub
        if hub.taps.active:  # an inspector is open (tap.py)
            hub.taps.offer("out", hub.name, self.channel, self.id, text)

    # --- writer --------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        receive = self._outbox.receive
        assert receive is not None  # (started by LazyOutbox.open, after it made the channel)
        with receive:  # the writer owns the receive end
            batch: list[OutboxItem] = []
            while self._closing is None:
                try:
                    first = await receive.receive()  # close_soon() sends WAKE
                except trio.EndOfChannel:
                    break
                meter = self._meter  # everything it counts is in `first` or waiting now:
                own, own_frames = meter.own, meter.own_frames  # the batch's
                shared, frames = meter.shared, meter.frames
                batch = drain_nowait(receive, [first])
                if self._closing is None:
                    meter.writing = True  # the slow-consumer watch looks at these two
                    await self._transport.send_batch(batch)  # one socket write
                    meter.writing = False
                    meter.writes += 1
                    meter.own -= own
                    meter.own_frames -= own_frames
                    meter.shared -= shared
                    meter.frames -= frames
                    meter.wrote()
                    if self._hub.samples:  # qakit_delivery_latency_seconds (hub.py, Sample)
                        self._hub.written(self.id, batch)
                    batch = []
            closing = self._closing or CloseRequest(1000, "", flush=False)
            if closing.flush:
                await self._transport.send_batch(drain_nowait(receive, batch))
            await self._transport.close(closing.code, closing.reason)
