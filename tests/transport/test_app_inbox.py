"""A connection's end reaches the app without waiting for it (app_inbox.py), driven through
QakitWSStream with events, no sockets: the app's queue is full, the app is busy (writing to a
client that stopped reading), and the client vanishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
import trio
from hypercorn.config import Config
from hypercorn.protocol.events import Data, Event, Request, StreamClosed
from hypercorn.typing import ConnectionState

from qakit_trio.errors import Disconnected
from qakit_trio.transport import hyper_ext
from qakit_trio.transport.app_inbox import AppInbox
from qakit_trio.transport.asgi import open_transport
from qakit_trio.transport.task_group import QakitTaskGroup

from ..support import wsraw
from ..support.timeouts import TIMEOUT
from .test_hyper_ext import HANDSHAKE, new_stream

QUEUE = Config().max_app_queue_size  # hypercorn's queue to the app: 10 messages


class BusyApp:
    """Accepts, then reads nothing until `reading` is set; then reads through our transport
    (HypercornTransport) until the client is gone."""

    def __init__(self) -> None:
        self.accepted = trio.Event()
        self.reading = trio.Event()
        self.received: list[str | bytes] = []
        self.gone: int | None = None  # the close code the app was told
        self.done = trio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        self.accepted.set()
        transport = open_transport(receive, send, scope["extensions"], self._close)
        await self.reading.wait()
        try:
            while True:
                message = await transport.receive()
                assert isinstance(message, str | bytes)
                self.received.append(message)
        except Disconnected as gone:
            self.gone = gone.close_code
        finally:
            self.done.set()

    async def _close(self, code: int, reason: str) -> None:
        await trio.lowlevel.checkpoint()


async def ignore(event: Event) -> None:  # hypercorn's protocol layer: nothing to write to
    await trio.lowlevel.checkpoint()


@asynccontextmanager
async def busy_stream() -> AsyncIterator[tuple[hyper_ext.QakitWSStream, BusyApp]]:
    app = BusyApp()
    async with QakitTaskGroup() as task_group:
        stream = new_stream(hyper_ext.QakitWSStream, app, task_group, ignore)
        await stream.handle(
            Request(
                stream_id=1,
                headers=HANDSHAKE,
                http_version="1.1",
                method="GET",
                raw_path=b"/ws/echo",
                state=ConnectionState({}),
            )
        )
        await app.accepted.wait()
        yield stream, app
        task_group._nursery.cancel_scope.cancel()  # type: ignore[union-attr]


def text(message: str) -> Data:
    return Data(stream_id=1, data=wsraw.encode_frame(wsraw.TEXT, message.encode()))


async def test_a_client_gone_with_the_apps_queue_full_is_reported_at_once() -> None:
    """hypercorn awaited the disconnect into the full queue (from the app's own task, when
    its write failed): the app waited for itself, and the connection stayed for good. Now
    the stream's close returns at once; the app takes what was queued, then the disconnect."""
    with trio.fail_after(TIMEOUT):
        async with busy_stream() as (stream, app):
            sent = [f"m{number}" for number in range(QUEUE - 1)]  # + websocket.connect: full
            for message in sent:
                await stream.handle(text(message))
            with trio.fail_after(1):
                await stream.handle(StreamClosed(stream_id=1))  # the client is gone
            app.reading.set()
            await app.done.wait()
    assert (app.received, app.gone) == (sent, 1006)


async def test_a_message_waiting_for_room_comes_before_the_disconnect() -> None:
    """hypercorn's reader waits to put the next message (the queue is full) when the client
    vanishes: that message is not lost, and the disconnect still comes last."""
    with trio.fail_after(TIMEOUT):
        async with busy_stream() as (stream, app):
            sent = [f"m{number}" for number in range(QUEUE)]
            async with trio.open_nursery() as nursery:
                for message in sent[:-1]:
                    await stream.handle(text(message))
                nursery.start_soon(stream.handle, text(sent[-1]))  # waits: no room
                await trio.testing.wait_all_tasks_blocked()
                with trio.fail_after(1):
                    await stream.handle(StreamClosed(stream_id=1))
            app.reading.set()
            await app.done.wait()
            await stream.handle(text("after the end"))  # nothing waits for the app any more
    assert (app.received, app.gone) == (sent, 1006)


async def test_an_abort_ends_a_receive_the_app_still_has_pending() -> None:
    """After an abort (the progress watch dropped a stuck link), a task of the app still
    reading is told the connection is gone, instead of waiting for good."""
    with trio.fail_after(TIMEOUT):
        async with busy_stream() as (stream, app):
            app.reading.set()
            await trio.testing.wait_all_tasks_blocked()  # the app waits for a message
            await stream.app_send(cast(Any, {"type": hyper_ext.ABORT}))
            await app.done.wait()
    assert (app.received, app.gone) == ([], 1006)


# --- the queue itself (AppInbox without a stream) -----------------------------------------


def message(text: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": text}


async def filled(most: int, *texts: str) -> AppInbox:
    """An inbox of `most` messages (1 KiB), `texts` put in it."""
    inbox = AppInbox(most, 1024)
    for text in texts:
        await inbox.put(message(text))
    return inbox


@asynccontextmanager
async def put_waiting(inbox: AppInbox, text: str) -> AsyncIterator[None]:
    """While a put of `text` waits for room (and when the block ends, once it has ended)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.put, message(text))
        await trio.testing.wait_all_tasks_blocked()
        yield


async def test_a_waiting_reader_gets_the_next_message_and_the_queue_keeps_order() -> None:
    inbox = AppInbox(3, 1024)
    got: list[Any] = []

    async def reader() -> None:
        for _ in range(3):
            got.append(await inbox.receive())

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()  # it waits: the put hands it over
            await inbox.put(message("a"))
            assert inbox.queued() == 0
            await inbox.put(message("b"))
            await inbox.put(message("c"))
    assert [item["text"] for item in got] == ["a", "b", "c"]
    assert inbox.take_nowait() is None  # nothing queued: None, not an exception


async def test_a_put_waits_for_room_in_messages_and_in_bytes() -> None:
    with trio.fail_after(TIMEOUT):
        by_count = await filled(2, "a", "b")
        async with put_waiting(by_count, "c"):
            assert by_count.queued() == 2  # "c" waits for room
            assert by_count.take_nowait()["text"] == "a"
        assert [by_count.take_nowait()["text"] for _ in range(2)] == ["b", "c"]

        by_bytes = AppInbox(10, 4)
        await by_bytes.put(message("abc"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(by_bytes.put, message("de"))
            await trio.testing.wait_all_tasks_blocked()
            assert by_bytes.take_nowait()["text"] == "abc"
            await trio.testing.wait_all_tasks_blocked()
            assert by_bytes.queued() == 0  # taken, but its bytes not reported yet
            by_bytes.taken(3)
        assert by_bytes.take_nowait()["text"] == "de"


async def test_the_end_wakes_a_waiting_reader_and_a_waiting_put() -> None:
    with trio.fail_after(TIMEOUT):
        inbox = AppInbox(1, 1024)
        ended: list[bool] = []

        async def reader() -> None:
            with pytest.raises(trio.EndOfChannel):
                await inbox.receive()
            ended.append(True)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            inbox.end(1000)
        assert ended == [True]
        assert inbox.after_end() == {"type": "websocket.disconnect", "code": 1000, "reason": ""}

        full = AppInbox(1, 1024)
        await full.put(message("queued"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(full.put, message("waiting"))
            await trio.testing.wait_all_tasks_blocked()
            full.end(1006)  # the waiting put's message goes after the queue
        assert full.take_nowait()["text"] == "queued"
        with pytest.raises(trio.EndOfChannel):  # the end is known: no checkpoint to see it
            full.take_nowait()
        with pytest.raises(trio.EndOfChannel):
            await full.receive()
        assert full.after_end()["text"] == "waiting"
        assert full.after_end()["type"] == "websocket.disconnect"


async def test_a_cancelled_reader_leaves_the_message_queued_and_one_reader_at_a_time() -> None:
    with trio.fail_after(TIMEOUT):
        inbox = AppInbox(10, 1024)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(inbox.receive)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()  # the reader gives up its wait
        await inbox.put(message("kept"))  # nobody waits any more: it is queued
        assert inbox.queued() == 1
        assert (await inbox.receive())["text"] == "kept"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(inbox.receive)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await inbox.receive()
            nursery.cancel_scope.cancel()


def drain(inbox: AppInbox) -> list[str]:
    """What the app takes, without waiting, up to the disconnect (the review's race)."""
    got: list[str] = []
    while True:
        try:
            item = inbox.take_nowait()
        except trio.EndOfChannel:
            item = inbox.after_end()
        assert item is not None, "nothing queued before the disconnect"
        got.append(item.get("text") or item["type"])
        if item["type"] == "websocket.disconnect":
            return got


async def test_a_waiting_message_is_not_lost_when_the_end_comes_in_the_same_step() -> None:
    """The app takes one message from a full queue and the connection ends before hypercorn's
    reader (waiting to put the next) runs again: that message still comes before the
    disconnect, as with a trio channel, which moved a blocked send's message in at the take."""
    with trio.fail_after(TIMEOUT):
        inbox = await filled(2, "a", "b")
        async with put_waiting(inbox, "c"):
            first = inbox.take_nowait()  # room: the put is woken, not run yet
            inbox.end(1006)  # in the same step
            got = [first["text"], *drain(inbox)]
    assert got == ["a", "b", "c", "websocket.disconnect"]


async def test_a_queue_of_no_messages_hands_each_one_over() -> None:
    """max_app_queue_size 0, as a trio channel of 0: a put meets the reader."""
    with trio.fail_after(TIMEOUT):
        inbox = AppInbox(0, 1024)
        got: list[Any] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _receive_into(inbox, got))
            await trio.testing.wait_all_tasks_blocked()
            await inbox.put(message("to a waiting reader"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(inbox.put, message("to the next receive"))
            await trio.testing.wait_all_tasks_blocked()
            got.append(await inbox.receive())
    assert [item["text"] for item in got] == ["to a waiting reader", "to the next receive"]


async def _receive_into(inbox: AppInbox, got: list[Any]) -> None:
    got.append(await inbox.receive())


async def test_a_cancelled_put_leaves_nothing_behind() -> None:
    with trio.fail_after(TIMEOUT):
        inbox = AppInbox(1, 1024)
        await inbox.put(message("queued"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(inbox.put, message("cancelled"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert inbox.take_nowait()["text"] == "queued"
        assert inbox.take_nowait() is None
