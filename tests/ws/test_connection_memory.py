"""The connection's closing protocol, keepalive and slow consumers on trio's virtual clock,
through the in-memory transport (transport/memory.py): each test runs in milliseconds of real
time, whatever the timeouts, and cannot flake on a busy machine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from functools import partial

import pytest
import trio
import trio.testing

from qakit_trio.config import Settings
from qakit_trio.transport.memory import CLIENT_QUEUE, MemoryTransport
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame, OutboxItem
from qakit_trio.ws.connection import Connection
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.keepalive import run_keepalive, run_slow_consumer_watch
from qakit_trio.ws.session import Session

from ..support.timeouts import VIRTUAL_TIMEOUT

SETTINGS = replace(Settings(), close_timeout=2.0, ping_interval=20.0, slow_consumer_timeout=10.0)


class Repeat:
    """A session that answers every text message with one frame (and greets first)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def hello(self) -> protocol.Message | None:
        return {"type": "hello"}

    def after_hello(self) -> tuple[()]:
        return ()

    async def handle(self, message: str | bytes) -> None:
        await self.conn.reply({"type": "said", "text": message})

    def described(self, frame: protocol.Message) -> tuple[object, object, object]:
        return frame["type"], None, None


@asynccontextmanager
async def open_stand() -> AsyncIterator[trio.Nursery]:
    """A nursery for a test's connections and watches, under a virtual-time limit: a hang
    fails the test instead of blocking it."""
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            yield nursery


def pinged_since(client: MemoryTransport, seen: int) -> bool:
    return client.pings > seen


def start_client(
    nursery: trio.Nursery,
    hub: Hub,
    transport: MemoryTransport,
    session: Callable[[Connection], Session] = Repeat,
    channel: str = "room",
    settings: Settings = SETTINGS,
) -> Connection:
    """A connection on `transport`, running in `nursery` (nothing awaited: not even its hello)."""
    connection = Connection(transport, hub, channel, settings, session)
    nursery.start_soon(connection.run)
    return connection


async def open_client(
    nursery: trio.Nursery, hub: Hub, channel: str = "room", settings: Settings = SETTINGS
) -> tuple[Connection, MemoryTransport]:
    transport = MemoryTransport()
    connection = start_client(nursery, hub, transport, channel=channel, settings=settings)
    assert json.loads(await transport.next_frame()) == {"type": "hello"}
    return connection, transport


async def test_a_close_flushes_what_is_queued_then_waits_for_the_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        connection, client = await open_client(nursery, hub)
        client.stall()  # the client reads nothing for a moment: replies queue up
        for n in range(3):
            client.client_send(f"m{n}")
        await trio.testing.wait_all_tasks_blocked()  # the replies are queued
        connection.close_soon(1001, "server shutting down")
        assert hub.total() == 0  # it left the hub at once
        client.resume()
        await client.wait_until(lambda: client.close_frame is not None)
        texts = [json.loads(f)["text"] for f in client.frames[1:]]
        assert texts == ["m0", "m1", "m2"]  # everything queued went out before the close
        assert client.close_frame == (1001, "server shutting down")
        client.client_close(1001)
    assert not client.aborted  # the client answered in time: no abort


async def test_a_slow_consumer_gets_its_close_without_the_backlog(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        connection, client = await open_client(nursery, hub)
        client.stall()
        client.client_send("m0")
        await trio.testing.wait_all_tasks_blocked()  # m0's write is stuck
        client.client_send("m1")
        await trio.testing.wait_all_tasks_blocked()  # m1 waits in the outbox
        connection.close_soon(4008, "slow consumer: no progress")
        client.resume()
        await client.wait_until(lambda: client.close_frame is not None)
        client.client_close(4008)
    # only what was already being written got out (m0); the backlog (m1) was dropped
    assert [json.loads(f)["text"] for f in client.frames[1:]] == ["m0"]
    assert client.close_frame == (4008, "slow consumer: no progress")


async def test_an_unanswered_close_is_dropped_after_the_close_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        connection, client = await open_client(nursery, hub)
        started = trio.current_time()
        connection.close_soon(1000, "bye")
        await client.wait_until(lambda: client.aborted)
        assert trio.current_time() - started == pytest.approx(SETTINGS.close_timeout)
        assert client.close_frame == (1000, "bye")  # sent, never answered


async def test_a_close_stuck_behind_a_write_is_dropped_in_time_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        connection, client = await open_client(nursery, hub)
        client.stall()
        client.client_send("m0")  # its reply's write never ends
        await trio.testing.wait_all_tasks_blocked()  # the replies are queued
        started = trio.current_time()
        connection.close_soon(1000, "bye")
        await client.wait_until(lambda: client.aborted)
        assert trio.current_time() - started == pytest.approx(SETTINGS.close_timeout)
        assert client.close_frame is None  # the close frame could not pass the stuck write


async def test_the_client_closing_first_gets_its_code_back_and_leaves_the_hub_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        _, client = await open_client(nursery, hub)
        assert hub.total() == 1
        client.client_close(4321, "done")
        await client.wait_until(lambda: client.close_frame is not None)
        assert hub.total() == 0
    assert client.close_frame == (4321, "done")
    assert not client.aborted


class Spawned(trio.abc.Instrument):
    """The names of the tasks started while it is installed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name.rpartition(".")[2])


@pytest.mark.parametrize(
    ("code", "started", "close_frame"),
    [(1006, [], None), (1000, ["_write_loop"], (1000, "")), (4321, ["_write_loop"], (4321, ""))],
)
async def test_a_client_closing_first_starts_no_watchdog_and_after_1006_no_writer(
    autojump_clock: trio.testing.MockClock,
    code: int,
    started: list[str],
    close_frame: tuple[int, str] | None,
) -> None:
    """Its side is closed already: nothing for a watchdog to wait for; and with 1006 (the link
    gone, no close frame) nothing can be sent, so no writer is started to try (W5's clients)."""
    hub, client, spawned = Hub(), FastLane(), Spawned()  # (the hello needs no writer)
    async with open_stand() as nursery:
        start_client(nursery, hub, client)
        await trio.testing.wait_all_tasks_blocked()  # the reader waits: the hello went out
        assert [json.loads(wire[2:]) for wire in client.fast] == [{"type": "hello"}]
        trio.lowlevel.add_instrument(spawned)
        client.client_close(code)
    trio.lowlevel.remove_instrument(spawned)  # (the connection's run has ended)
    assert spawned.names == started
    assert client.close_frame == close_frame
    assert hub.total() == 0
    assert not client.aborted


async def test_a_client_that_never_answers_pings_is_dropped_after_two_intervals(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        await nursery.start(run_keepalive, [hub], SETTINGS.ping_interval)
        _, silent = await open_client(nursery, hub)
        _, answering = await open_client(nursery, hub)

        async def answer_pings() -> None:
            while True:
                seen = answering.pings
                await answering.wait_until(partial(pinged_since, answering, seen))
                answering.client_pong()

        nursery.start_soon(answer_pings)
        started = trio.current_time()
        await silent.wait_until(lambda: silent.close_frame is not None)
        assert silent.close_frame == (1011, "keepalive timeout: no pong")
        assert trio.current_time() - started <= 2 * SETTINGS.ping_interval + 1
        assert answering.close_frame is None  # the one that answers stays
        assert hub.total() == 1
        nursery.cancel_scope.cancel()


async def test_a_client_that_stops_reading_is_evicted_by_the_watch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        await nursery.start(run_slow_consumer_watch, [hub], SETTINGS.slow_consumer_timeout)
        _, stuck = await open_client(nursery, hub)
        _, reader = await open_client(nursery, hub)
        stuck.stall()
        stuck.client_send("m0")  # its write never ends
        await trio.testing.wait_all_tasks_blocked()  # the replies are queued
        started = trio.current_time()
        await stuck.wait_until(lambda: stuck.aborted)
        waited = trio.current_time() - started
        # evicted within 1.25 timeouts, then dropped after the close timeout
        assert SETTINGS.slow_consumer_timeout <= waited
        assert waited <= 1.25 * SETTINGS.slow_consumer_timeout + SETTINGS.close_timeout
        assert hub.total() == 1
        reader.client_send("still here")
        assert json.loads(await reader.next_frame())["text"] == "still here"
        nursery.cancel_scope.cancel()


async def test_own_replies_have_a_bounded_room_of_their_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Issue 22, item 9: a client's own replies never make its reader wait at the hub's high
    water (a client whose writing blocks its reading would never move again); they have a room
    of their own, 32x the frames and 8x the bytes, and only a full room stops the reader. A
    client that sends and never reads holds at most that room, then the watch evicts it."""
    settings = replace(SETTINGS, outbox_size=4, outbox_bytes=4096)
    hub = Hub()
    async with open_stand() as nursery:
        await nursery.start(run_slow_consumer_watch, [hub], settings.slow_consumer_timeout)
        connection, client = await open_client(nursery, hub, settings=settings)
        client.stall()  # it reads nothing from now on
        sent = 0
        while True:  # send until the stand stops taking messages from it
            try:
                client.client_send(f"m{sent}")
            except trio.WouldBlock:
                await trio.testing.wait_all_tasks_blocked()
                if client.queued() == CLIENT_QUEUE:
                    break
                continue
            sent += 1
        meter = next(hub.members()).inlet.meter
        # far past the hub's high water (2 frames), and no further than the own room
        assert meter.own_frames == meter.own_max_frames == 128
        assert meter.own < meter.own_max_bytes == 32768
        # 128 replies queued (the first in the stuck write), one request held by the waiting
        # reader, the rest unread in the transport
        assert sent == 128 + 1 + CLIENT_QUEUE
        started = trio.current_time()
        await client.wait_until(lambda: client.aborted)
        assert trio.current_time() - started <= 1.25 * settings.slow_consumer_timeout + 2.0
        assert hub.total() == 0
        del connection
        nursery.cancel_scope.cancel()


# LazyOutbox (ws/outbox.py): what a connection's first frames and its writer depend on.
PUBLISHER: ContextVar[str | None] = ContextVar("test_publisher", default=None)


class FastLane(MemoryTransport):
    """A transport whose socket takes whole frames while `room` (the fast lane), then none;
    `send_batch` records the context its writer runs in."""

    def __init__(self) -> None:
        super().__init__()
        self.room = True
        self.fast: list[bytes] = []
        self.writer_saw: list[str | None] = []

    def write_nowait(self, data: bytes) -> int:
        if not self.room:
            return 0
        self.fast.append(data)
        return len(data)

    async def send_batch(self, batch: list[OutboxItem]) -> None:
        self.writer_saw.append(PUBLISHER.get())
        await super().send_batch(batch)


async def test_a_writer_started_by_a_publisher_runs_in_its_own_connections_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        transport = FastLane()
        start_client(nursery, hub, transport)
        await trio.testing.wait_all_tasks_blocked()
        assert len(transport.fast) == 1  # the hello, straight to the socket: no outbox, no writer

        async def publisher() -> None:  # another client's task: its context is its own
            PUBLISHER.set("the publisher's request")
            transport.room = False  # the socket is full: the broadcast opens the outbox
            hub.publish("room", Frame.of('{"type":"news"}'))

        nursery.start_soon(publisher)
        assert json.loads(await transport.next_frame()) == {"type": "news"}
        assert transport.writer_saw == [None]  # not the publisher's context
        transport.client_close(1000)


class BrokenHello(Repeat):
    def hello(self) -> protocol.Message | None:
        raise ValueError("a session that fails at once")


async def test_a_failed_connection_leaves_the_hub_before_its_close_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    async with open_stand() as nursery:
        transport = MemoryTransport()
        transport.stall()  # the client reads nothing: the 1011 close waits up to close_timeout
        start_client(nursery, hub, transport, BrokenHello)
        await trio.testing.wait_all_tasks_blocked()
        assert hub.total() == 0  # gone from the hub while its close waits
        assert hub.publish("room", Frame.of('{"type":"news"}')) == 0  # and nothing raises
        transport.resume()
