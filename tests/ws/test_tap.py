"""Taps: an inspector's bounded queue, its filter, and what it costs when nobody looks."""

from __future__ import annotations

import trio

from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.outbox import Inlet, open_outbox
from qakit_trio.ws.tap import Tapped, Taps, Watch


def tapped(direction: str = "in", hub: str = "/ws", channel: str = "x",
           conn: str | None = "c1") -> Tapped:
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
            ("in", "c1", None), ("publish", None, 2)]
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
            ("publish", "x", 1), ("publish", "empty", 0)]
        await trio.lowlevel.checkpoint()
