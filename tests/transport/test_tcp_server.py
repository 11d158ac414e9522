"""QakitTCPServer's keep-alive timer (LazyIdle, transport/tcp_server.py), on real sockets
against an in-process server on the fast path: a task only once the reader has to wait on an
idle connection, yet every idle connection closed as hypercorn's own timer closes it (at the
keep-alive timeout, restarted by each response; at once at a shutdown), and one its client
closed or reset gone at once. And once a connection has ended, its objects are freed at once, by
reference counting: no reference cycle through them is left for the garbage collector.

hypercorn's `keep_alive_timeout` is set small through the config the server builds
(server.hypercorn_config). A client connects (and sends) with a plain blocking socket: no
checkpoint between the connect and the send, so the server's first read finds the bytes there.
"""

from __future__ import annotations

import gc
import re
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from hypercorn.config import Config

from qakit_trio import server
from qakit_trio.config import Settings
from qakit_trio.transport import asgi, hyper_ext, tcp_server
from qakit_trio.ws.connection import Connection

from ..support import wsraw
from ..support.helpers import UPGRADE, Server, running_server
from ..support.timeouts import TIMEOUT

KEEP_ALIVE = 0.5  # short: the tests wait it out
NEVER = 10 * TIMEOUT  # a keep-alive no test waits out: a close seen came from something else
# A close later than the timeout by this much is late (a loaded two-core machine), yet well
# before hypercorn's default 5 s.
LATE = 1.5
AT_ONCE = 2.0  # "at once": with the keep-alive at NEVER, nothing but the event closed it
APART = 0.6 * KEEP_ALIVE  # between two requests: the second comes before the first timer is up

GET = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


@asynccontextmanager
async def serving(
    monkeypatch: pytest.MonkeyPatch, keep_alive: float, **overrides: Any
) -> AsyncIterator[Server]:
    build = server.hypercorn_config

    def with_keep_alive(settings: Settings, binds: Any) -> Config:
        config = build(settings, binds)
        config.keep_alive_timeout = keep_alive
        return config

    monkeypatch.setattr(server, "hypercorn_config", with_keep_alive)
    async with running_server(fast_path=True, **overrides) as running:
        yield running


def idle_tasks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """One entry per keep-alive task started (each runs hypercorn's `_idle_timeout`)."""
    started: list[object] = []
    idle_timeout = tcp_server.QakitTCPServer._idle_timeout

    async def counted(tcp: tcp_server.QakitTCPServer) -> None:
        started.append(tcp)
        await idle_timeout(tcp)

    monkeypatch.setattr(tcp_server.QakitTCPServer, "_idle_timeout", counted)
    return started


def connect(port: int, data: bytes = b"") -> trio.socket.SocketType:
    """Connected, and `data` sent, before the server's task can run (no checkpoint here)."""
    raw = socket.create_connection(("127.0.0.1", port))
    if data:
        raw.sendall(data)
    return trio.socket.from_stdlib_socket(raw)


def upgrade(door: str) -> bytes:
    """A WebSocket handshake for `door` (a path and query)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in UPGRADE.items())
    return f"GET {door} HTTP/1.1\r\nHost: localhost\r\n{head}\r\n".encode()


async def through_head(sock: trio.socket.SocketType) -> bytes:
    """What comes up to the end of a response's head (and whatever came with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await more(sock)
    return data


async def response(sock: trio.socket.SocketType) -> bytes:
    """The next whole response (head and Content-Length body); returns its head."""
    data = await through_head(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert length is not None, head
    while len(body) < int(length[1]):
        body += await more(sock)
    assert len(body) == int(length[1]), "nothing may follow a response here"
    return head


async def more(sock: trio.socket.SocketType) -> bytes:
    data = await sock.recv(65536)
    if not data:
        raise AssertionError("the server closed the connection before the response ended")
    return data


async def closed(sock: trio.socket.SocketType, by: float) -> float:
    """When the server closed the connection (EOF or a reset); it fails if not by `by`."""
    with trio.move_on_at(by):
        try:
            data = await sock.recv(65536)
        except ConnectionResetError:
            return trio.current_time()
        assert not data, data  # hypercorn's idle close writes nothing
        return trio.current_time()
    raise AssertionError("the server had not closed the connection by the bound")


class Runs:
    """Counts QakitTCPServer.run's starts and ends (an end: its socket closed), so that a test
    waits on the event itself."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = self.ended = 0
        self._changed = trio.Event()
        run = tcp_server.QakitTCPServer.run

        async def counted(tcp: tcp_server.QakitTCPServer) -> None:
            self._count(started=1)
            try:
                await run(tcp)
            finally:
                self._count(ended=1)

        monkeypatch.setattr(tcp_server.QakitTCPServer, "run", counted)

    def _count(self, started: int = 0, ended: int = 0) -> None:
        self.started += started
        self.ended += ended
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, started: int = 0, ended: int = 0) -> None:
        while self.started < started or self.ended < ended:
            await self._changed.wait()


async def test_a_client_that_sends_nothing_is_closed_at_the_keep_alive_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = idle_tasks(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, KEEP_ALIVE) as running:
            start = trio.current_time()
            with connect(running.port) as sock:
                assert await closed(sock, start + KEEP_ALIVE + LATE) - start >= KEEP_ALIVE
    assert len(started) == 1  # nothing to read at first: the timer ran


async def test_a_partial_request_is_closed_at_the_keep_alive_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Taken at the first read without the timer, the part is not a request: the timer still
    starts (counting from the connection) before the reader waits for the rest."""
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, KEEP_ALIVE) as running:
            start = trio.current_time()
            with connect(running.port, GET[:5]) as sock:
                assert await closed(sock, start + KEEP_ALIVE + LATE) - start >= KEEP_ALIVE


@pytest.mark.parametrize("requests", [1, 2], ids=["one", "two_pipelined"])
async def test_a_keep_alive_connection_is_closed_the_timeout_after_its_last_response(
    monkeypatch: pytest.MonkeyPatch, requests: int
) -> None:
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, KEEP_ALIVE) as running:
            sent = trio.current_time()
            with connect(running.port, GET * requests) as sock:
                for _ in range(requests):
                    assert (await response(sock)).startswith(b"HTTP/1.1 200")
                answered = trio.current_time()
                end = await closed(sock, answered + KEEP_ALIVE + LATE)
    assert end - sent >= KEEP_ALIVE


async def test_each_response_restarts_the_keep_alive_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, KEEP_ALIVE) as running:
            with connect(running.port, GET) as sock:
                await response(sock)
                await trio.sleep(APART)  # idle, but less than the timeout (the scenario)
                second = trio.current_time()
                await sock.send(GET)
                await response(sock)
                answered = trio.current_time()
                end = await closed(sock, answered + KEEP_ALIVE + LATE)
    assert end - second >= KEEP_ALIVE  # not the first response's timer: it was up by then


@pytest.mark.parametrize("how", ["fin", "reset"])
@pytest.mark.parametrize("when", ["at_once", "waiting_for_a_request", "after_a_response"])
async def test_a_connection_its_client_ends_is_gone_at_once(
    monkeypatch: pytest.MonkeyPatch, how: str, when: str
) -> None:
    """Not at the keep-alive timeout (NEVER here): the reader's EOF or reset ends it."""
    started = idle_tasks(monkeypatch)
    runs = Runs(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, NEVER) as running:
            before = len(tcp_server._live)
            with connect(running.port, GET if when == "after_a_response" else b"") as sock:
                if when == "after_a_response":
                    await response(sock)
                if when != "at_once":  # the server reads and its timer runs: idle for real
                    await runs.until(started=1)
                    await trio.testing.wait_all_tasks_blocked()
                    assert len(started) == 1
                start = trio.current_time()
                if how == "fin":
                    sock.shutdown(socket.SHUT_WR)
                    await closed(sock, start + AT_ONCE)
                else:  # closed with a zero linger: a reset
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await runs.until(ended=1)
            assert trio.current_time() - start <= AT_ONCE
            assert len(tcp_server._live) == before


async def test_a_shutdown_closes_every_idle_connection_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 keep-alive connections idle after a response, 20 that never sent a byte; neither
    timeout (keep-alive, graceful shutdown) is what closes them."""
    runs = Runs(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, NEVER, shutdown_timeout=NEVER) as running:
            before = len(tcp_server._live)
            kept = [connect(running.port, GET) for _ in range(20)]
            for sock in kept:
                await response(sock)
            silent = [connect(running.port) for _ in range(20)]
            await runs.until(started=40)
            await trio.testing.wait_all_tasks_blocked()
            assert len(tcp_server._live) == before + 40
            start = trio.current_time()
            running.stop.set()
            for sock in kept + silent:
                with sock:
                    await closed(sock, start + AT_ONCE)
            await runs.until(ended=40)
            assert len(tcp_server._live) == before


async def test_a_websocket_upgrade_there_at_the_first_read_starts_no_keep_alive_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connect storm's case (W5): the request is read without a timer, and once upgraded
    the connection is not idle in hypercorn's sense: no timer, however long it is quiet."""
    started = idle_tasks(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, KEEP_ALIVE) as running:
            with connect(running.port, upgrade("/ws/echo")) as sock:
                data = await through_head(sock)
                assert data.startswith(b"HTTP/1.1 101"), data
                assert data.endswith(b"\r\n\r\n"), "the echo door speaks when spoken to"
                await trio.sleep(KEEP_ALIVE + 0.1)  # quiet longer than a timer would allow
                await sock.send(wsraw.encode_frame(wsraw.TEXT, b"still here"))
                assert await more(sock) == bytes([0x81, 10]) + b"still here"
                await trio.testing.wait_all_tasks_blocked()
                assert started == []
                await sock.send(wsraw.encode_frame(wsraw.CLOSE, struct.pack("!H", 1000)))
                assert await more(sock) == bytes([0x88, 2]) + struct.pack("!H", 1000)
                await closed(sock, trio.current_time() + AT_ONCE)


# what one connection is made of, in hypercorn's objects and ours: none may outlive it
KINDS = (tcp_server.QakitTCPServer, hyper_ext.QakitWSStream, asgi.HypercornTransport, Connection)


def made_of() -> set[int]:
    return {id(thing) for thing in gc.get_objects() if type(thing) in KINDS}


@pytest.mark.parametrize("door", ["/ws?channel=lobby", "/ws/orders", "/ws/echo", "http"])
@pytest.mark.parametrize("ending", ["close", "requests_then_close", "vanish"])
async def test_an_ended_connection_is_freed_without_the_garbage_collector(
    monkeypatch: pytest.MonkeyPatch, door: str, ending: str
) -> None:
    """With the collector off, nothing of a connection is left once it has ended: every cycle
    through it was broken (tcp_server._release, QakitWSStream.release, Connection.run's end).
    "requests_then_close": the socket was lent to the app (read_loan.py) before the close."""
    runs = Runs(monkeypatch)
    gc.collect()  # what earlier tests left
    gc.disable()
    try:
        with trio.fail_after(TIMEOUT):
            async with serving(monkeypatch, NEVER) as running:
                before = made_of()
                opening = GET if door == "http" else upgrade(door)
                with connect(running.port, opening) as sock:
                    data = await through_head(sock)
                    assert data.startswith(b"HTTP/1.1 " + (b"200" if door == "http" else b"101"))
                    await runs.until(started=1)
                    assert made_of() - before, "the connection's objects were there"
                    if ending == "requests_then_close" and door != "http":
                        for _ in range(3):  # the second and third are read by the app itself
                            await sock.send(wsraw.encode_frame(wsraw.TEXT, b'{"type": "x"}'))
                    if ending != "vanish" and door != "http":
                        await sock.send(wsraw.encode_frame(wsraw.CLOSE, struct.pack("!H", 1000)))
                    if ending != "vanish":
                        sock.shutdown(socket.SHUT_WR)
                        while await sock.recv(65536):  # the replies, the close, up to the end
                            pass
                await runs.until(ended=1)
                left = made_of() - before
                assert not left, [type(thing) for thing in gc.get_objects() if id(thing) in left]
    finally:
        gc.enable()


async def test_an_idle_connections_reader_holds_no_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An idle client's reader waits for its next message outside the `except` that found its
    queue empty: waiting inside it kept the WouldBlock, its traceback and their frames (~0.6
    KiB per idle client, W4) for as long as the client was quiet."""
    runs = Runs(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, NEVER) as running:
            with connect(running.port, upgrade("/ws?channel=lobby")) as sock:
                assert (await through_head(sock)).startswith(b"HTTP/1.1 101")
                await runs.until(started=1)
                await trio.testing.wait_all_tasks_blocked()  # its reader waits for a message
                waiting = [
                    thing for thing in gc.get_objects() if isinstance(thing, trio.WouldBlock)
                ]
                assert waiting == []
