"""The outbox Inlet's fast lane: written at once only when the writer is parked on an empty
outbox, otherwise queued; in order either way."""

from __future__ import annotations

import pytest
import trio

from qakit_trio.channels import drain_nowait
from qakit_trio.config import OutboxLimits
from qakit_trio.wire.framing import PING, Frame
from qakit_trio.ws.outbox import (
    CONGESTED,
    QUEUED,
    Inlet,
    LazyOutbox,
    Meter,
    OutboxReceive,
    open_outbox,
)


class FakeSocket:
    """write_nowait() of a socket that takes `room` more bytes, then nothing."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.wire = b""

    def write_nowait(self, data: bytes) -> int:
        taken = data[: self.room]
        self.room -= len(taken)
        self.wire += taken
        return len(taken)


async def parked_writer(receive: OutboxReceive, task_status: trio.TaskStatus[list[bytes]]) -> None:
    """A writer that waits on the outbox and records what it is handed."""
    handed: list[bytes] = []
    task_status.started(handed)
    async for item in receive:
        handed.append(item.wire)


async def test_parked_writer_means_the_frame_is_written_at_once() -> None:
    send, receive = open_outbox(4)
    socket = FakeSocket(room=1000)
    inlet = Inlet(send, socket.write_nowait)
    async with trio.open_nursery() as nursery:
        handed = await nursery.start(parked_writer, receive)
        inlet.offer(Frame.of("one"))
        inlet.offer(PING)
        assert socket.wire == Frame.of("one").wire + PING.wire
        assert handed == []  # the writer was never woken
        nursery.cancel_scope.cancel()


async def test_busy_writer_means_the_frame_is_queued_in_order() -> None:
    send, receive = open_outbox(4)
    socket = FakeSocket(room=1000)
    inlet = Inlet(send, socket.write_nowait)
    send.send_nowait(Frame.of("already queued"))  # nobody is waiting: the writer is busy
    inlet.offer(Frame.of("next"))
    assert socket.wire == b""
    assert [i.wire for i in drain_nowait(receive, [])] == [
        Frame.of("already queued").wire,
        Frame.of("next").wire,
    ]


async def test_part_taken_means_the_rest_is_queued_first() -> None:
    send, receive = open_outbox(4)
    frame = Frame.of("x" * 300)
    socket = FakeSocket(room=100)
    inlet = Inlet(send, socket.write_nowait)
    async with trio.open_nursery() as nursery:
        handed = await nursery.start(parked_writer, receive)
        inlet.offer(frame)
        inlet.offer(Frame.of("after"))  # the writer now has work: queued behind the rest
        await trio.testing.wait_all_tasks_blocked()
        assert socket.wire + b"".join(handed) == frame.wire + Frame.of("after").wire
        assert handed[0] == frame.wire[100:]
        nursery.cancel_scope.cancel()


async def test_full_outbox_refuses() -> None:
    send, _receive = open_outbox(2)
    inlet = Inlet(send, FakeSocket(room=0).write_nowait)
    inlet.offer(Frame.of("1"))
    inlet.offer(Frame.of("2"))
    with pytest.raises(trio.WouldBlock):
        inlet.offer(Frame.of("3"))


async def test_offer_says_when_the_outbox_reaches_high_water() -> None:
    """High water is half the limits, in frames or in bytes, whichever comes first."""
    by_frames = Inlet(
        open_outbox(8)[0],
        FakeSocket(room=0).write_nowait,
        Meter(OutboxLimits(max_frames=8, max_bytes=1 << 20)),
    )
    assert [by_frames.offer(Frame.of("x")) for _ in range(5)] == [
        QUEUED,
        QUEUED,
        QUEUED,
        CONGESTED,
        CONGESTED,
    ]
    by_bytes = Inlet(
        open_outbox(8)[0],
        FakeSocket(room=0).write_nowait,
        Meter(OutboxLimits(max_frames=8, max_bytes=400)),
    )
    big = Frame.of("y" * 150)  # 152 bytes on the wire
    assert [by_bytes.offer(big), by_bytes.offer(big)] == [QUEUED, CONGESTED]
    with pytest.raises(trio.WouldBlock):  # a third would pass max_bytes
        by_bytes.offer(big)


def lazy(socket: FakeSocket) -> tuple[LazyOutbox, Inlet, list[str]]:
    """A connection's outbox before first use, its hub inlet, and a log of writer starts."""
    started: list[str] = []
    outbox = LazyOutbox(8)
    outbox.start_writer = lambda: started.append("writer")
    outbox.inlet = Inlet(None, socket.write_nowait, Meter(OutboxLimits(4, 1 << 20)), outbox.open)
    return outbox, outbox.inlet, started


def test_no_outbox_until_a_frame_must_wait_then_the_rest_first_in_order() -> None:
    socket = FakeSocket(room=len(Frame.of("hello").wire) + 3)
    outbox, inlet, started = lazy(socket)
    meter = inlet.meter
    assert (
        outbox.write_first(Frame.of("hello"), socket.write_nowait, meter) is None
    )  # whole: no outbox
    assert (outbox.send, started, meter.out) == (None, [], 1)
    assert inlet.offer(Frame.of("one")) == QUEUED  # 3 bytes taken: the outbox opens for the rest
    assert started == ["writer"]
    inlet.offer(Frame.of("two"))
    assert outbox.receive is not None
    queued = b"".join(i.wire for i in drain_nowait(outbox.receive, []))
    assert queued == Frame.of("one").wire[3:] + Frame.of("two").wire
    assert outbox.write_first(Frame.of("late"), socket.write_nowait, meter) == Frame.of(
        "late"
    )  # now: queue it


def test_the_first_frame_partly_written_leaves_its_rest() -> None:
    socket = FakeSocket(room=2)
    outbox, inlet, _ = lazy(socket)
    rest = outbox.write_first(Frame.of("hello"), socket.write_nowait, inlet.meter)
    assert rest is not None
    assert rest.wire == Frame.of("hello").wire[2:]
    assert outbox.write_first(
        Frame.of("x"), FakeSocket(room=0).write_nowait, inlet.meter
    ) == Frame.of("x")


def test_an_inlet_let_go_before_its_outbox_opened_writes_nothing_and_takes_no_clone() -> None:
    socket = FakeSocket(room=1000)
    outbox, inlet, started = lazy(socket)
    inlet.close()  # the hub let the client go
    with pytest.raises(trio.ClosedResourceError):
        inlet.offer(Frame.of("after"))
    assert socket.wire == b""
    assert started == []
    outbox.open()  # the connection opens it later (to send its close frame): no clone for the hub
    outbox.close()
    assert outbox.receive is not None
    with pytest.raises(trio.EndOfChannel):  # every send end closed: the hub's was never kept
        outbox.receive.receive_nowait()
