"""Our extension of hypercorn's trio worker (hypercorn 0.18.0, pinned in pyproject.toml).

Two subclasses, installed by `install()`:

`QakitTCPServer` (hypercorn's per-connection TCP server, in tcp_server.py) writes bytes to the
socket at once, without a trip through the scheduler, when the socket can take them (see
docs/send-path.md).

`QakitWSStream` (hypercorn's WebSocket stream). hypercorn speaks plain ASGI to the app; what
this service needs beyond it comes as extra ASGI messages, announced in
`scope["extensions"]["qakit.websocket"]`:

app -> server
  `qakit.websocket.write` {"data": bytes}  frames the app has already framed (wire/framing.py),
                                           written as they are, in ONE socket write: the writer
                                           task's batch, pings included; and its synchronous
                                           twin, the extension's `write_nowait(bytes) -> int`,
                                           which writes what the socket takes right now;
  `qakit.websocket.abort`                  drop the TCP connection now: the only way to end a
                                           write stuck on a peer that stopped reading (hypercorn
                                           shields its socket writes).
server -> app
  `websocket.disconnect` with the client's real close code and reason, delivered BEFORE the close
      reply goes out, so the app has left its channel when the client's close handshake completes
      (stock hypercorn replies first and reports 1006 for every client close: hypercorn#127);
  `qakit.websocket.pong`  the client answered a ping.
Plus `server_terminated` in the extension: hypercorn's own "shutting down" event, so the app can
send every client 1001 however the server was started (our CLI or `hypercorn` itself); and
`stop_pongs()`: the client's pings go unanswered from now on (the training lab's `pongs=off`,
for practising dead-peer detection from the client's side).

Inbound, a chunk made only of whole, masked, unfragmented text or binary frames skips wsproto
when wsproto holds nothing half-parsed (wire/fast_frames.py, `_parse_clean`); the rest is its.

The queue to the app is ours (app_inbox.py, made by task_group.py): bounded in bytes, never
waited on once the app has returned or aborted, and a connection's end is never awaited into
it, so a connection can always be torn down, whatever its app was doing. permessage-deflate is
declined: a
compressed frame depends on its connection, so broadcasts could no longer be framed once (and
zlib would cost ~300 KiB per client).

hypercorn has no hooks for these classes, so `install()` sets the two module attributes it looks
them up from. HTTP/2 WebSockets (RFC 8441, not used by Postman or browsers' DevTools) keep the
stock stream, and the app falls back to plain ASGI for them (`PlainTransport`, asgi.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, cast

import hypercorn.protocol.h11
import hypercorn.trio.run
import trio
from hypercorn.protocol.events import Data, Event, Request, StreamClosed
from hypercorn.protocol.ws_stream import ASGIWebsocketState, FrameTooLargeError, WSStream
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
    WebsocketAcceptEvent,
)
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping, Pong
from wsproto.frame_protocol import CloseReason

from qakit_trio.transport import accepted
from qakit_trio.transport.app_inbox import AppInbox
from qakit_trio.transport.handshake_refusal import refusal
from qakit_trio.transport.read_loan import ReadLoan
from qakit_trio.transport.task_group import inbox_of
from qakit_trio.transport.tcp_server import QakitTCPServer, current_tcp_server
from qakit_trio.wire.fast_frames import next_message, receive_message

EXTENSION = "qakit.websocket"
WRITE = "qakit.websocket.write"
ABORT = "qakit.websocket.abort"
PONG = "qakit.websocket.pong"
HYPERCORN_VERSION = "0.18.0"
WSPROTO_VERSION = "1.3.2"

# How long hypercorn's reader waits for the app's reply to a client's close frame before it
# answers the client itself. The app answers at once; this only bounds a wedged app.
CLOSE_REPLY_TIMEOUT = 5.0


class QakitWSStream(WSStream):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inner_app = self.app
        self.app = self._app_with_extension  # adds our extension to the scope, then runs the app
        self._inbox: AppInbox | None = None  # the queue to the app, once it runs
        self._app_replied: trio.Event | None = None  # made when a client close waits for it
        self._replied = False  # the app sent a close, an abort, or returned
        self._app_gone = False  # the app aborted or returned: it reads nothing any more
        self._tcp = current_tcp_server.get()  # None when hypercorn's own TCP server runs us
        # the app reads its own frames while only common ones come (read_loan.py): plain TCP
        self._loan: ReadLoan | None = None
        if self._tcp is not None:
            self._tcp.ws_stream = self  # released with its connection (release())
            if self._tcp.plain_socket is not None:
                limit = self.buffer.max_length
                self._loan = ReadLoan(self._tcp.plain_socket, limit, self._lendable, self._put)
                self._tcp.read_loan = self._loan

    async def _app_with_extension(
        self,
        scope: Scope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        extensions = cast(dict[str, Any], scope["extensions"])  # type: ignore[typeddict-item]
        extensions[EXTENSION] = {
            "server_terminated": self.context.terminated,
            # the app may take what is already queued without a trip through the scheduler
            "take_nowait": inbox_of(receive).take_nowait,
            "queued": self._queued,
            "write_nowait": self._write_nowait,
            "taken": self._taken,
            "stop_pongs": self._stop_pongs,
            "after_end": self._after_end,
            "read_loan": self._loan,
        }
        await self._inner_app(scope, receive, send, sync_spawn, call_soon)

    def release(self) -> None:
        """Its connection has ended, every task of it done (called by its TCP server): drop
        what refers back to this stream (its `app` and `app_put` are its own methods, and so
        are the scope's extension and the read loan's callbacks), so that it is freed now, by
        reference counting, not by a pass of the garbage collector."""
        self.app = self.app_put = None  # type: ignore[assignment]
        scope = cast(dict[str, Any], getattr(self, "scope", None) or {})
        scope.get("extensions", {}).pop(EXTENSION, None)
        self._loan = None

    reads_app_inbox = True  # task_group.py gives its app an AppInbox (it reports `taken`)
    _answer_pings = True  # until the app calls stop_pongs (the training lab)
    _data_seen = False  # a chunk of frames came after the handshake (_lendable)

    def _stop_pongs(self) -> None:
        self._answer_pings = False

    async def _put(self, message: Any) -> None:
        """hypercorn's app_put, through our inbox (app_inbox.py)."""
        if self._inbox is not None:
            await self._inbox.put(message)

    def _taken(self, size: int) -> None:
        """The app took a message of `size` from the queue."""
        if self._inbox is not None:
            self._inbox.taken(size)

    def _after_end(self) -> Any:
        assert self._inbox is not None  # the app's queue ended: it was made
        return self._inbox.after_end()

    def _mark_replied(self) -> None:
        self._replied = True
        if self._app_replied is not None:
            self._app_replied.set()

    def _mark_app_gone(self) -> None:
        self._app_gone = True
        self._mark_replied()
        if self._inbox is not None:
            self._inbox.app_gone()
        if self._loan is not None:  # a cue it never took: its TCP reader reads on
            self._loan.revoke()

    def _lendable(self) -> bool:
        """Whether the app may read the socket itself (read_loan.py): nothing half-parsed,
        its inbox still taking messages, and the client has sent one (a client that only
        connects, or closes, is not worth a cue: W4, W5)."""
        inbox = self._inbox
        return self._data_seen and self._parse_clean() and inbox is not None and inbox.is_open()

    async def handle(self, event: Event) -> None:
        if isinstance(event, StreamClosed):
            # the connection is gone: hypercorn would await that into the app's queue
            if not self.closed and self._inbox is not None:
                self._inbox.end(
                    1000
                    if self.state in (ASGIWebsocketState.HTTPCLOSED, ASGIWebsocketState.CLOSED)
                    else 1006
                )
            self.closed = True
            if self._loan is not None:
                self._loan.revoke()
            return
        if type(event) is Data and self._parse_clean():
            self._data_seen = True
            # a frame at a time: while a put waits, only the chunk is held (64 KiB of empty
            # frames parsed at once were ~2 MiB of messages: the inbox is bounded in bytes)
            data, pos, end, limit = event.data, 0, len(event.data), self.buffer.max_length
            while pos < end and (found := next_message(data, pos, limit)) is not None:
                message, pos = found
                await self._put(receive_message(message))
            if pos == end:
                return
            if pos:  # wsproto is clean at a frame boundary: the rest is its, as if it had it all
                self.connection.receive_data(data[pos:])
                await self._handle_events()
                return
        await super().handle(event)
        if isinstance(event, Request) and self.app_put is not None and self._inbox is None:
            self._inbox = inbox_of(self.app_put)  # the app's queue (task_group.py)

    def _parse_clean(self) -> bool:
        """Whether a chunk may skip wsproto (wire/fast_frames.py): the connection open and
        nothing half-parsed in wsproto 1.3.2 or in hypercorn's buffer. wsproto then stays clean
        for the next chunk, and the messages are the ones its events would have given."""
        if self.closed or not self.handshake.accepted:  # hypercorn answers data before it: 400
            return False
        connection = self.connection
        proto = connection._proto
        decoder = proto._frame_decoder
        return (
            # no close sent or received; a parse error ends wsproto's parser, but
            # _handle_events answers every one with a close, so it is never OPEN after one
            connection._state is ConnectionState.OPEN
            and not connection._events  # only receive_data(None) queues one
            and decoder.header is None  # no frame begun
            and not decoder.buffer.buffer  # no bytes of the next header
            and proto._message_decoder.opcode is None  # no fragmented message in progress
            and not proto.extensions  # permessage-deflate declined (_accept)
            and self.buffer.value is None  # hypercorn holds no partial message
        )

    async def app_send(self, message: ASGISendEvent | None) -> None:
        kind = None if message is None else cast(dict[str, Any], message)["type"]
        if kind == WRITE:
            if self._can_send() and self.connection.state == ConnectionState.OPEN:
                data = cast(dict[str, Any], message)["data"]
                await self.send(Data(stream_id=self.stream_id, data=data))
        elif kind == ABORT:
            self._mark_app_gone()
            if not self.closed:
                await self.send(StreamClosed(stream_id=self.stream_id))  # hypercorn closes TCP
        else:
            if message is None:
                self._mark_app_gone()
            await super().app_send(message)
            if kind == "websocket.close":
                self._mark_replied()

    async def _send_error_response(self, status_code: int) -> None:
        """A bad handshake's 400 says why (handshake_refusal.py)."""
        if status_code != 400:
            await super()._send_error_response(status_code)
            return
        for event in refusal(self.stream_id, self.handshake):
            await self.send(event)
        await self.config.log.access(
            self.scope, {"status": 400, "headers": []}, time.time() - self.start_time
        )

    def _can_send(self) -> bool:
        return not self.closed and self.state == ASGIWebsocketState.CONNECTED

    def _queued(self) -> int:
        """How many of the client's messages wait: in hypercorn's queue to the app (the read
        loan's cue is not one: counted, a publisher's broadcast after it was coalesced into
        every subscriber's outbox, W3's p99 x4), or in what the app read itself."""
        queued = 0 if self._inbox is None else self._inbox.queued()
        return queued if self._loan is None else self._loan.adjusted(queued)

    def _write_nowait(self, data: bytes) -> int:
        """The `write` message without an await: framed bytes straight to the socket when it
        takes them now; returns how many it took (the app sends the rest with `write`).
        On the fan-out path: once per subscriber per broadcast, so kept to plain checks."""
        if (
            self._tcp is None
            or self.closed
            or self.state is not ASGIWebsocketState.CONNECTED
            or self.connection.state is not ConnectionState.OPEN
        ):
            return 0
        return self._tcp.write_nowait(data)

    async def _accept(self, message: WebsocketAcceptEvent) -> None:
        self.handshake.extensions = None  # decline permessage-deflate (see module docstring)
        await super()._accept(message)
        accepted.shed(self)  # what the connection no longer needs (accepted.py)

    async def _deliver_disconnect(self, code: int, reason: str | None) -> None:
        await self._put({"type": "websocket.disconnect", "code": code, "reason": reason or ""})

    async def _handle_events(self) -> None:
        # hypercorn's loop, with the Pong, too-large and client-close branches changed.
        for event in self.connection.events():
            if isinstance(event, Message):
                try:
                    self.buffer.extend(event)
                except FrameTooLargeError:
                    await self._send_wsproto_event(
                        CloseConnection(code=CloseReason.MESSAGE_TOO_BIG, reason="message too big")
                    )
                    await self._deliver_disconnect(CloseReason.MESSAGE_TOO_BIG, "message too big")
                    self.buffer.clear()  # (else a later message of the other type: TypeError)
                    break
                if event.message_finished:
                    await self._put(self.buffer.to_message())
                    self.buffer.clear()
            elif isinstance(event, Ping):
                if self._answer_pings:
                    await self._send_wsproto_event(event.response())
            elif isinstance(event, Pong):
                await self._put({"type": PONG})
            elif isinstance(event, CloseConnection):
                if self.connection.state == ConnectionState.OPEN:
                    # Not a close frame: wsproto found a protocol violation (a reserved bit,
                    # invalid UTF-8, ...). RFC 6455 7.1.7: fail the connection, with the close
                    # code that says why (1002, 1007), instead of dropping TCP silently.
                    await self._send_wsproto_event(
                        CloseConnection(code=event.code, reason=event.reason)
                    )
                    await self._deliver_disconnect(event.code, event.reason)
                elif self.connection.state == ConnectionState.REMOTE_CLOSING:
                    await self._deliver_disconnect(event.code, event.reason)
                    if not self._replied:
                        self._app_replied = trio.Event()
                        with trio.move_on_after(CLOSE_REPLY_TIMEOUT):
                            await self._app_replied.wait()
                    await self._send_wsproto_event(event.response())  # no-op if the app replied
                await self.send(StreamClosed(stream_id=self.stream_id))


class ExtensionError(RuntimeError):
    """The hypercorn we would extend is not the one this code was written against."""


def install() -> None:
    """Make hypercorn's trio worker use our two classes. Called by the launchers only (the
    CLI through `server.serve`, and `qakit_trio.asgi`), never by importing a module or by
    building the app. Idempotent.

    Before it replaces anything it checks that hypercorn is the pinned version and that the two
    names it replaces are still hypercorn's own classes (or already ours): if hypercorn stopped
    importing `WSStream` into `hypercorn.protocol.h11` by that name, replacing it would silently
    do nothing (no 1001 at shutdown, stock close codes, a slow fan-out), so start-up stops here
    with a message instead."""
    for package, pinned in (("hypercorn", HYPERCORN_VERSION), ("wsproto", WSPROTO_VERSION)):
        installed = version(package)
        if installed != pinned:  # (wsproto: _parse_clean reads its parser's state)
            raise ExtensionError(
                f"qakit_trio.transport.hyper_ext extends {package} {pinned} internals, "
                f"but {package} {installed} is installed (pip install {package}=={pinned})"
            )
    for module, name, original, ours in (
        (hypercorn.protocol.h11, "WSStream", WSStream, QakitWSStream),
        (hypercorn.trio.run, "TCPServer", TCPServer, QakitTCPServer),
    ):
        found = getattr(module, name, None)
        if found is not original and found is not ours:
            raise ExtensionError(
                f"{module.__name__}.{name} is {found!r}, not hypercorn's {original!r}: "
                "something else replaced it, or hypercorn changed; refusing to extend it"
            )
    hypercorn.protocol.h11.WSStream = QakitWSStream  # type: ignore[attr-defined]
    hypercorn.trio.run.TCPServer = QakitTCPServer  # type: ignore[attr-defined]


def uninstall() -> None:
    """Give hypercorn its own classes back (QAKIT_FAST_PATH=0 after a fast-path server in the
    same process, as in the test suite). Idempotent."""
    hypercorn.protocol.h11.WSStream = WSStream  # type: ignore[attr-defined]
    hypercorn.trio.run.TCPServer = TCPServer  # type: ignore[attr-defined]


def installed() -> bool:
    """Whether hypercorn's trio worker uses our classes now."""
    return (
        getattr(hypercorn.protocol.h11, "WSStream", None) is QakitWSStream
        and getattr(hypercorn.trio.run, "TCPServer", None) is QakitTCPServer
    )
