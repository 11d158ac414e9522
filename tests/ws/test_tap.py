"""Taps: an inspector's bounded queue, its filter, and what it costs: nothing when nobody
looks, nothing for inspectors that watch something else, one description per frame."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import trio
import trio.testing

from qakit_trio.channels import drain_nowait
from qakit_trio.config import Settings
from qakit_trio.transport.memory import MemoryTransport
from qakit_trio.web.inspector import Inspector
from qakit_trio.wire import inspect
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.outbox import Inlet, open_outbox
from qakit_trio.ws.tap import Tap, Tapped, Taps, Watch


def tapped(
    direction: str = "in", hub: str = "/ws", channel: str = "x", conn: str | None = "c1"
) -> Tapped:
    return Tapped(direction, hub, channel, conn, "{}", 0.0, "t")


def test_watches() -> None:
    assert Watch().wants(tapped())
    channel = Watch("/ws", "x")
    assert channel.wants(tapped())
    assert channel.wants(tapped("publish", conn=None))
    assert not channel.wants(tapped(channel="y"))
    assert not channel.wants(tapped(hub="/ws/orders"))
    conn = Watch("/ws", "x", "c1")
    assert conn.wants(tapped())
    assert not conn.wants(tapped(conn="c2"))
    assert conn.wants(tapped("publish", conn=None))  # what its channel gets, it gets
    assert not conn.wants(tapped("publish", channel="y", conn=None))


async def test_no_tap_no_cost_and_a_tap_sees_what_it_watches() -> None:
    taps = Taps()
    assert not taps.active
    with taps.open_tap(size=8) as (tap, frames), frames:
        assert taps.active
        assert len(taps) == 1
        tap.watch = Watch("/ws", "x")
        taps.offer("in", "/ws", "x", "c1", '{"action":"echo"}')
        taps.offer("in", "/ws", "y", "c2", '{"action":"echo"}')  # not watched
        taps.offer("publish", "/ws", "x", None, '{"type":"message"}', delivered=2)
        got = [frames.receive_nowait(), frames.receive_nowait()]
        assert [(f.direction, f.conn, f.delivered) for f in got] == [
            ("in", "c1", None),
            ("publish", None, 2),
        ]
        assert tap.dropped == 0
    assert not taps.active
    assert len(taps) == 0


async def test_an_inspector_that_falls_behind_loses_frames_and_counts_them() -> None:
    taps = Taps()
    with taps.open_tap(size=4) as (tap, frames), frames:
        for n in range(10):
            taps.offer("in", "/ws", "x", "c1", str(n))  # never waits
        assert tap.dropped == 6
        assert [frames.receive_nowait().text for _ in range(4)] == ["0", "1", "2", "3"]


async def test_two_taps_each_get_a_copy_and_closing_one_keeps_the_other() -> None:
    taps = Taps()
    with taps.open_tap(size=4) as (_, first), first:
        with taps.open_tap(size=4) as (_, second), second:
            taps.offer("out", "/ws", "x", "c1", "a")
            assert first.receive_nowait().text == second.receive_nowait().text == "a"
        assert taps.active
        taps.offer("out", "/ws", "x", "c1", "b")
        assert first.receive_nowait().text == "b"


async def test_the_hub_taps_what_it_publishes_with_how_many_got_it() -> None:
    taps = Taps()
    hub = Hub(name="/ws", taps=taps)
    send, receive = open_outbox(8)
    with receive:
        hub.join("x", "c1", Inlet(send, lambda data: 0), lambda code, reason: None)
        with taps.open_tap() as (_, frames), frames:
            assert hub.publish("x", Frame.of('{"type":"message"}')) == 1
            assert hub.publish("empty", Frame.of("{}")) == 0
            got = [frames.receive_nowait(), frames.receive_nowait()]
        assert [(f.direction, f.channel, f.delivered) for f in got] == [
            ("publish", "x", 1),
            ("publish", "empty", 0),
        ]
        await trio.lowlevel.checkpoint()


class Offers:
    """Counts Tap.offer calls, by tap: the work a frame costs, whatever the implementation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_tap: dict[int, int] = {}
        real = Tap.offer

        def counted(tap: Tap, frame: Tapped) -> None:
            self.by_tap[id(tap)] = self.by_tap.get(id(tap), 0) + 1
            real(tap, frame)

        monkeypatch.setattr(Tap, "offer", counted)

    @property
    def total(self) -> int:
        return sum(self.by_tap.values())


@pytest.mark.parametrize("others", [10, 100])
async def test_a_frames_cost_does_not_grow_with_inspectors_watching_other_things(
    monkeypatch: pytest.MonkeyPatch, others: int
) -> None:
    offers = Offers(monkeypatch)
    taps = Taps()
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(taps.open_tap(size=4)) for _ in range(others + 1)]
        for n, (tap, _) in enumerate(opened[1:]):
            tap.watch = Watch("/ws", f"elsewhere-{n}") if n % 2 else Watch(conn=f"c-{n}")
        opened[0][0].watch = Watch("/ws", "room")
        for _ in range(100):
            taps.offer("in", "/ws", "room", "c1", "{}")
            taps.offer("publish", "/ws", "room", None, "{}", delivered=1)
        assert offers.total == 200  # only the tap that watches room, whatever the others
        for _, frames in opened:
            frames.close()


async def test_a_frame_is_offered_to_exactly_the_taps_whose_watch_wants_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offers = Offers(monkeypatch)
    taps = Taps()
    watches = [
        Watch(),
        Watch("/ws", "x"),
        Watch("/ws/orders", "x"),
        Watch("/ws", "y"),
        Watch("/ws", "x", "c1"),
        Watch("/ws", "y", "c2"),
        Watch(None, None, "c3"),
    ]
    frames = [
        tapped(direction, hub, channel, conn)
        for direction, conn in (
            ("in", "c1"),
            ("out", "c2"),
            ("out", "c3"),
            ("publish", None),
            ("in", "c9"),
        )
        for hub in ("/ws", "/ws/orders")
        for channel in ("x", "y")
    ]
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(taps.open_tap(size=len(frames))) for _ in watches]
        for _, receive in opened:
            stack.callback(receive.close)
        for turn in range(len(watches)):  # every tap tries every watch, moving between them
            for n, (tap, _) in enumerate(opened):
                tap.watch = watches[(n + turn) % len(watches)]
            for frame in frames:
                offers.by_tap.clear()
                taps.offer(frame.direction, frame.hub, frame.channel, frame.conn, frame.text)
                assert set(offers.by_tap) == {
                    id(tap) for tap, _ in opened if tap.watch.wants(frame)
                }, frame
                for _, receive in opened:
                    drain_nowait(receive, [])


async def test_inspectors_describe_each_frame_once_and_wake_in_batches(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Five inspectors watching everything, a frame every millisecond for a second: each frame
    is described (parsed, encoded) once, not once per inspector, and each inspector is sent a
    few dozen messages, not one per frame (its sender wakes per batch, not per frame)."""
    described = [0]
    real = inspect.describe

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        described[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "describe", counted)
    taps = Taps()
    transports = [MemoryTransport() for _ in range(5)]
    async with trio.open_nursery() as nursery:
        for transport in transports:
            nursery.start_soon(Inspector(transport, Settings(), taps, [], None).run)
        await trio.testing.wait_all_tasks_blocked()
        assert len(taps) == 5
        for n in range(1000):
            taps.offer("in", "/ws", "room", "c1", f'{{"action":"echo","request_id":"{n}"}}')
            await trio.sleep(0.001)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert described[0] == 1000
    for transport in transports:
        messages = [
            json.loads(text)
            for text in transport.frames
            if isinstance(text, str) and text.startswith('{"type":"frames"')
        ]
        rows = [row for message in messages for row in message["frames"]]
        assert [row["request_id"] for row in rows] == [str(n) for n in range(1000)]
        assert len(messages) <= 30  # about 20 (one per 50 ms); one per frame before
        assert messages[-1]["dropped"] == 0


async def test_what_a_tap_holds_is_bounded_in_bytes_and_a_huge_frame_is_kept_short() -> None:
    taps = Taps()
    with taps.open_tap() as (tap, frames), frames:
        huge = '{"x":"' + "é" * 1_000_000 + '"}'
        taps.offer("in", "/ws", "x", "c1", huge)
        [kept] = drain_nowait(frames, [])
        assert len(kept.text) <= 4 * inspect.TEXT_MAX  # not the megabyte
        row = inspect.describe(
            kept.direction,
            kept.hub,
            kept.channel,
            kept.conn,
            kept.text,
            kept.at,
            kept.ts,
            kept.delivered,
            kept.size,
        )
        assert (row["size"], row["truncated"], row["text"]) == (
            len(huge.encode()),
            True,
            huge[: inspect.TEXT_MAX],
        )
    with taps.open_tap() as (tap, frames), frames:
        for _ in range(100):  # 60 KB frames (parsed for their ids, so kept whole): 6 MB
            taps.offer("in", "/ws", "x", "c1", "x" * 60_000)
        held = drain_nowait(frames, [])
        assert len(held) * 60_000 <= 4 * 1024 * 1024 < (len(held) + 1) * 60_000
        assert tap.dropped == 100 - len(held)


async def test_a_burst_reaches_an_inspector_in_messages_a_client_can_take(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """300 frames of 4 KB at once: sent as several messages of at most 256 KiB (trio-websocket
    clients refuse messages over 1 MiB), every frame in order."""
    taps = Taps()
    transport = MemoryTransport()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Inspector(transport, Settings(), taps, [], None).run)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(300):
            taps.offer("out", "/ws", "room", "c1", f'{{"n":{n},"pad":"{"x" * 4000}"}}')
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    messages = [
        text
        for text in transport.frames
        if isinstance(text, str) and text.startswith('{"type":"frames"')
    ]
    assert all(len(text) <= 256 * 1024 + 100 for text in messages)
    rows = [row for text in messages for row in json.loads(text)["frames"]]
    assert [json.loads(row["text"])["n"] for row in rows] == list(range(300))
