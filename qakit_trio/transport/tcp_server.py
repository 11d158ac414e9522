"""`QakitTCPServer`: hypercorn's per-connection TCP server (hypercorn 0.18.0), extended.

- It writes bytes to the socket at once, without a trip through the scheduler, when the socket
  can take them (`write_nowait`; see docs/send-path.md), and lends that to the WebSocket
  stream of its connection (hyper_ext.py) through `current_tcp_server`.
- It can drop its connection under a stuck write (`abort`), and `abort_connections` drops
  them all: the last step of a shutdown whose time is up.
- It closes a connection it will not reuse even when the app's task is cancelled on the way
  (`_close_shielded`; docs/upstream.md).
- Its read loop has no `fail_after(inf)` per read when no read timeout is set, and a client
  that closes an idle connection has its socket closed at once (not at the keep-alive timeout).
- Its keep-alive timer (`LazyIdle`) is a task only once the reader has to wait for bytes on an
  idle connection: a WebSocket client's upgrade request is usually there at the first read, and
  hypercorn's way (a task started per connection, cancelled by the request) cost ~200 µs of the
  ~1.5 ms a connect took (docs/benchmarks.md, W5).
- Once its connection has ended (every task of it done), it breaks the reference cycles that
  hypercorn's objects and ours form (`_release`): the connection's objects are then freed at
  once, by reference counting, instead of waiting for a garbage-collector pass (a connect storm
  of 5,000 left ~130 objects each for it: a 0.5 s full collection; docs/send-path.md).

Installed by `hyper_ext.install()`, with the WebSocket stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol, cast

import trio
from hypercorn.events import Closed, RawData
from hypercorn.events import Event as ServerEvent
from hypercorn.protocol import ProtocolWrapper
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.typing import ConnectionState
from hypercorn.utils import parse_socket_addr

from qakit_trio.transport.read_loan import GONE, Handback
from qakit_trio.transport.task_group import QakitTaskGroup

log = logging.getLogger(__name__)

# The most a connection's close may take (it never waits on the peer: see _close_shielded).
CLOSE_LIMIT = 1.0


class Lender(Protocol):
    """A WebSocket's ReadLoan (read_loan.py), as its TCP reader sees it."""

    def lendable(self) -> bool: ...

    async def lend(self) -> Handback: ...


class Releasable(Protocol):
    """A WebSocket stream of this connection (hyper_ext.py), as its TCP server sees it."""

    def release(self) -> None: ...


class LazyIdle:
    """hypercorn's idle task (`TrioSingleTask`: the keep-alive timeout, and closing an idle
    connection at shutdown), started only when `start_pending` is called: by the reader, just
    before it waits for bytes. Nothing here awaits: `restart` runs in the app's task as its
    response ends, and quart-trio cancels that task then (the http.disconnect hypercorn hands
    it); an await there (hypercorn's lock, `nursery.start`) raised Cancelled and the timer was
    never started: the connection kept until the client went, even through a shutdown."""

    def __init__(self) -> None:
        self._scope: trio.CancelScope | None = None  # the running idle task's
        self._pending: tuple[Any, Callable[[], Awaitable[None]]] | None = None
        self.fresh = False  # restarted since the reader last looked (see `first_look`)
        self.reader_waiting = False  # the reader is in receive_some

    # `restart` and `stop` are async only because hypercorn awaits them: neither may wait
    async def restart(self, task_group: Any, action: Callable[[], Awaitable[None]]) -> None:
        self.stop_now()
        self._pending = (task_group, action)
        self.fresh = True
        if self.reader_waiting:  # it already waits for bytes: the timer cannot wait for it
            self.start_pending()

    async def stop(self) -> None:
        self.stop_now()

    def stop_now(self) -> None:
        self._pending = None
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None

    def first_look(self) -> bool:
        """True once per restart: the reader may take bytes already there without starting
        the timer (when none are, it starts it before it waits)."""
        fresh, self.fresh = self.fresh, False
        return fresh and self._pending is not None

    def start_pending(self) -> None:
        if self._pending is not None:
            (task_group, action), self._pending = self._pending, None
            # the scope made here, entered by the task: a stop before it runs still cancels it
            self._scope = trio.CancelScope()
            task_group._nursery.start_soon(_idle, self._scope, action)


async def _idle(scope: trio.CancelScope, action: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await action()


class QakitTCPServer(TCPServer):
    read_loan: Lender | None = None  # set by the WebSocket stream of this connection
    ws_stream: Releasable | None = None  # that stream (released with the connection)

    async def run(self) -> None:
        """hypercorn's `run`, in one coroutine instead of two (an idle connection parks every
        frame of its reader's await chain: W4), telling TLS from plain TCP without raising
        (hypercorn catches an AttributeError, and the frame objects it made stayed), in our
        task group (task_group.py)."""
        # The plain TCP socket, if it is one (not TLS): what write_nowait may write to, and
        # what a WebSocket's ReadLoan may lend.
        stream: Any = self.stream
        plain = isinstance(stream, trio.SocketStream)
        self.plain_socket = stream.socket if plain else None
        if self.config.read_timeout is None:  # our _read_data starts it (hypercorn's does not)
            self.idle_task = LazyIdle()  # type: ignore[assignment]
        token = current_tcp_server.set(self)  # for the WebSocket stream created in this task
        _live.add(self)
        try:
            if plain:
                alpn_protocol, sock, ssl = "http/1.1", stream.socket, False
            else:
                try:
                    with trio.fail_after(self.config.ssl_handshake_timeout):
                        await stream.do_handshake()
                except (trio.BrokenResourceError, trio.TooSlowError):
                    return  # the TLS handshake failed (hypercorn does not close: nor here)
                alpn_protocol = stream.selected_alpn_protocol()
                sock, ssl = stream.transport_stream.socket, True
            try:
                client = parse_socket_addr(sock.family, sock.getpeername())
                server = parse_socket_addr(sock.family, sock.getsockname())
                async with QakitTaskGroup() as task_group:
                    self._task_group = task_group
                    self.protocol = ProtocolWrapper(
                        self.app,
                        self.config,
                        self.context,
                        task_group,
                        ConnectionState(self.state),
                        ssl,
                        client,
                        server,
                        self.protocol_send,
                        alpn_protocol,
                    )
                    await self.protocol.initiate()
                    await self.idle_task.restart(self._task_group, self._idle_timeout)
                    await self._read_data()
            except OSError:
                pass
            finally:
                await self._close()
        finally:
            _live.discard(self)
            current_tcp_server.reset(token)
            self._release()
            log.debug("tcp connection closed")  # the socket is closed: tests wait for this

    def _release(self) -> None:
        """Break the connection's reference cycles, now that every task of it is done (the
        task group has exited): this server holds hypercorn's protocol, whose `send` is this
        server's method; the H11 protocol holds its stream, whose `send` is the protocol's;
        the WebSocket stream holds itself (release() there). Without this every connection's
        objects (~130) waited for a collection of the older generations to be freed."""
        stream, self.ws_stream = self.ws_stream, None
        if stream is not None:
            stream.release()
        if isinstance(self.idle_task, LazyIdle):  # a timer left pending (a cancelled read)
            self.idle_task.stop_now()  # holds this server's method
        self.read_loan = None
        wrapper = self.__dict__.pop("protocol", None)  # (never set when a TLS handshake fails)
        inner = getattr(wrapper, "protocol", None)
        if getattr(inner, "stream", None) is not None:  # (hypercorn drops an HTTP one itself)
            inner.stream = None  # type: ignore[union-attr]

    def abort(self) -> None:
        """Shut the socket down under whatever is stuck on it (a response or a frame to a
        client that stopped reading: hypercorn shields those writes, so no cancellation can
        end them). Synchronous: the stuck write fails at once and hypercorn closes as usual."""
        if self.plain_socket is not None:
            with contextlib.suppress(OSError):
                self.plain_socket.shutdown(socket.SHUT_RDWR)

    def write_nowait(self, data: bytes) -> int:
        """Write what the socket takes now, if nobody else is writing; return how many bytes
        that was (0: nothing; the caller queues the rest). One system call, no await."""
        if self.plain_socket is None or self.send_lock.locked():
            return 0  # TLS, or a write in progress (it keeps the order): not here
        try:
            return os.write(self.plain_socket.fileno(), data)  # a non-blocking socket
        except OSError:  # full (EAGAIN) or gone: the caller's queued write finds out which
            return 0

    async def protocol_send(self, event: ServerEvent) -> None:
        """hypercorn takes a lock, opens a shielded cancel scope and awaits `send_all` for every
        write: two trips through the scheduler per frame. Here, when nobody else is writing
        and the kernel takes all the bytes now, the write is one plain system call."""
        if isinstance(event, RawData):
            sent = self.write_nowait(event.data)
            if sent == len(event.data):
                return
            event = RawData(data=event.data[sent:])  # the rest, hypercorn's way (in order:
        elif isinstance(event, Closed):  # it takes the lock before anyone else can write)
            await self._close_shielded()
            await self.protocol.handle(Closed())
            return
        await super().protocol_send(event)

    def _read_nowait(self) -> bytes | None:
        """What the socket holds now, without waiting (b"": the client closed; a reset raises
        BrokenResourceError); None when nothing is there yet or this is not a plain socket.
        The read loop's first try before it waits, and its read once the socket is readable
        (`_read_data`). Its BlockingIOError's traceback holds this frame only, gone with it."""
        if self.plain_socket is None:
            return None
        try:
            return os.read(self.plain_socket.fileno(), MAX_RECV)  # a non-blocking socket
        except BlockingIOError:
            return None
        except OSError as error:  # reset: as receive_some says it
            raise trio.BrokenResourceError from error

    def _open_fd(self) -> int:
        """The plain socket's file descriptor, to wait on once a read found nothing. trio's
        `receive_some` does the same five coroutines deep, and the frame objects its caught
        `BlockingIOError` made stayed on an idle connection's parked reader (~1.2 KiB, W4).
        The read after the wait asks the socket again (-1 once closed: never another's fd)."""
        assert self.plain_socket is not None
        fd = int(self.plain_socket.fileno())
        if fd < 0:
            raise trio.ClosedResourceError
        return fd

    async def _close_shielded(self) -> None:
        """Close the connection, whoever's task this is and whatever cancels it.

        hypercorn closes a connection (after a `Connection: close` or HTTP/1.0 response, or a
        response sent before the request body was read) from the task that sends `Closed`:
        the app's own task, finishing its response. On the way, hypercorn hands the app
        `http.disconnect`; quart-trio's message task receives it and cancels the app's
        nursery, and so the close is cancelled between `send_eof` and `aclose` about half
        of the time (trio's scheduler picks the order): the socket then stays open until
        the client goes. Stock hypercorn shields its writes but not this; we shield it, with
        a limit (the close itself never waits on the peer: `aclose` closes the fd first)."""
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_LIMIT):
            await self._close()

    async def _read_data(self) -> None:
        """hypercorn's read loop, without a `fail_after(inf)` cancel scope around every read
        when no read timeout is configured (ours never configures one). Once the client has
        gone (EOF or reset), hypercorn's idle task is stopped: a connection that was idle
        (before its first request, or between two) otherwise kept its socket until the
        keep-alive timeout (5 s) after the client had closed its end."""
        if self.config.read_timeout is not None:
            await super()._read_data()
        else:
            idle = cast(LazyIdle, self.idle_task)
            data: bytes | bytearray | None = None  # read here, or given back by the app
            while True:
                try:
                    # What is there already: once per keep-alive restart, without starting its
                    # timer (first_look); else, on plain TCP, as trio's receive_some: a recv
                    # first (a body coming fast is drained without an epoll trip per read), then
                    # a checkpoint that cannot raise (a flood yields to the others too).
                    if data is None and idle.first_look():
                        data = self._read_nowait()
                    elif data is None and self.plain_socket is not None:
                        data = self._read_nowait()
                        if data is not None:
                            await trio.lowlevel.cancel_shielded_checkpoint()
                    while data is None:
                        idle.start_pending()  # about to wait: the keep-alive timer runs
                        idle.reader_waiting = True
                        try:  # a plain socket: waited on, then read (`_open_fd`)
                            if self.plain_socket is None:
                                data = await self.stream.receive_some(MAX_RECV)
                            else:  # ClosedResourceError if closed meanwhile
                                await trio.lowlevel.wait_readable(self._open_fd())
                                data = self._read_nowait()  # (None: woken, nothing there)
                        finally:
                            idle.reader_waiting = False
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    break
                await self.protocol.handle(RawData(bytes(data)))
                if not data:
                    break
                data = None
                loan = self.read_loan  # a WebSocket's: its app reads while only common
                if loan is not None and loan.lendable():  # frames come (read_loan.py)
                    back = await loan.lend()
                    if back is GONE:
                        break
                    data = back
            await self.protocol.handle(Closed())
        await self.idle_task.stop()


current_tcp_server: ContextVar[QakitTCPServer | None] = ContextVar("qakit_tcp_server", default=None)
_live: weakref.WeakSet[QakitTCPServer] = weakref.WeakSet()  # every open connection


def abort_connections() -> int:
    """Drop every connection this process still has (HTTP and WebSocket alike): the last
    step of a shutdown whose time is up. Returns how many there were."""
    servers = list(_live)
    for server in servers:
        server.abort()
    return len(servers)
