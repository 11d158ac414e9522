"""Keepalive on trio's virtual clock: pings go out, silent peers are dropped."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing

from qakit_trio.channels import drain_nowait
from qakit_trio.wire.close_codes import KEEPALIVE_TIMEOUT, SLOW_CONSUMER
from qakit_trio.wire.framing import PING, Frame
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.keepalive import (
    evict_stalled,
    ping_round,
    run_keepalive,
    run_slow_consumer_watch,
)
from qakit_trio.ws.outbox import Inlet, open_outbox

from ..support import wsraw
from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT
from .test_hub import no_fast_lane

INTERVAL = 20.0


async def test_ping_round_pings_everyone_first() -> None:
    hub = Hub()
    send, receive = open_outbox(4)
    hub.join("room", "a", Inlet(send, no_fast_lane), lambda code, reason: None)
    assert ping_round(hub, previous_round=None) == 1
    assert drain_nowait(receive, []) == [PING]


async def test_ping_round_skips_a_full_outbox_without_evicting_it() -> None:
    hub = Hub()
    send, receive = open_outbox(2)
    closes: list[int] = []
    member = hub.join(
        "room", "a", Inlet(send, no_fast_lane), lambda code, reason: closes.append(code)
    )
    send.send_nowait(Frame.of("x"))
    send.send_nowait(Frame.of("y"))
    assert ping_round(hub, previous_round=None) == 0
    assert closes == []  # whether it is stuck is the slow-consumer watch's call
    assert hub.is_member(member)
    assert drain_nowait(receive, []) == [Frame.of("x"), Frame.of("y")]


def record_close(calls: list[tuple[int, str]], code: int, reason: str) -> None:
    calls.append((code, reason))


async def test_watch_evicts_a_writer_stuck_for_the_timeout_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    closes: dict[str, list[tuple[int, str]]] = {"stuck": [], "slow": [], "idle": []}
    members = {}
    for name, calls in closes.items():
        send, _receive = open_outbox(4)
        members[name] = hub.join(
            "room", name, Inlet(send, no_fast_lane), partial(record_close, calls)
        )
    async with trio.open_nursery() as nursery:
        await nursery.start(run_slow_consumer_watch, [hub], 10.0)
        members["stuck"].inlet.meter.writing = True  # in a write that never finishes
        members["slow"].inlet.meter.writing = True
        for _ in range(8):  # "slow" finishes a write every 3 s: progress, however slow
            await trio.sleep(3)
            members["slow"].inlet.meter.writes += 1
        nursery.cancel_scope.cancel()
    assert closes == {
        "stuck": [(SLOW_CONSUMER, "slow consumer: no progress")],
        "slow": [],
        "idle": [],
    }
    assert [m.connection_id for m in hub.members()] == ["slow", "idle"]


async def test_evict_stalled_counts_from_the_last_progress_it_saw() -> None:
    hub = Hub()
    send, _receive = open_outbox(4)
    member = hub.join("room", "a", Inlet(send, no_fast_lane), lambda code, reason: None)
    member.inlet.meter.writing = True
    assert evict_stalled(hub, now=100.0, timeout=10.0) == 0  # first seen writing
    assert evict_stalled(hub, now=109.9, timeout=10.0) == 0
    member.inlet.meter.writes += 1  # a write finished: the clock starts again
    assert evict_stalled(hub, now=110.0, timeout=10.0) == 0
    assert evict_stalled(hub, now=119.9, timeout=10.0) == 0
    assert evict_stalled(hub, now=120.0, timeout=10.0) == 1
    assert not hub.is_member(member)


async def test_time_the_stand_does_not_read_a_client_is_not_counted_as_no_progress() -> None:
    """Issue 22, item 9: while its reader waits in flow control (`Meter.paused`), a client
    whose writing blocks its reading cannot read; the watch's clock starts again after."""
    hub = Hub()
    send, _receive = open_outbox(4)
    member = hub.join("room", "a", Inlet(send, no_fast_lane), lambda code, reason: None)
    meter = member.inlet.meter
    meter.writing = True
    assert evict_stalled(hub, now=100.0, timeout=10.0) == 0  # first seen writing
    meter.paused = 1  # its reader now waits for a congested subscriber
    assert evict_stalled(hub, now=109.0, timeout=10.0) == 0
    assert evict_stalled(hub, now=150.0, timeout=10.0) == 0  # however long
    meter.paused = 0
    assert evict_stalled(hub, now=151.0, timeout=10.0) == 0  # the clock starts again now
    assert evict_stalled(hub, now=160.9, timeout=10.0) == 0
    assert evict_stalled(hub, now=161.0, timeout=10.0) == 1


async def test_silent_peer_dropped_after_two_intervals_answering_one_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    closes: dict[str, int] = {}
    answering_send, answering_receive = open_outbox(8)
    silent_send, silent_receive = open_outbox(8)
    answering = hub.join(
        "room",
        "answering",
        Inlet(answering_send, no_fast_lane),
        lambda code, reason: closes.__setitem__("answering", code),
    )
    hub.join(
        "room",
        "silent",
        Inlet(silent_send, no_fast_lane),
        lambda code, reason: closes.__setitem__("silent", code),
    )
    dropped_at: list[float] = []

    async def answer_pings() -> None:
        # what connection.py does when a pong arrives: the client has been heard from
        async for item in answering_receive:
            assert item is PING
            meter = answering.inlet.meter  # written, as the connection's writer counts it
            meter.shared = meter.frames = 0
            await trio.sleep(0.1)  # the pong's round trip
            answering.last_heard = trio.current_time()

    async def watch_silent() -> None:
        async for _ in silent_receive:  # pings it never answers; ends when the hub leaves it
            pass
        dropped_at.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_pings)
        nursery.start_soon(watch_silent)
        await nursery.start(run_keepalive, [hub], INTERVAL)
        await trio.sleep(10 * INTERVAL + 1)
        nursery.cancel_scope.cancel()

    assert closes == {"silent": KEEPALIVE_TIMEOUT}
    # pinged at 1 interval, found silent at 2 intervals: dropped exactly then
    assert dropped_at == [start + 2 * INTERVAL]
    assert hub.stats() == {"room": 1}


async def test_interval_zero_turns_pings_off(autojump_clock: trio.testing.MockClock) -> None:
    hub = Hub()
    send, receive = open_outbox(4)
    hub.join("room", "a", Inlet(send, no_fast_lane), lambda code, reason: None)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_keepalive, [hub], 0)
        await trio.sleep(1000)
    assert drain_nowait(receive, []) == []


# --- end to end, with a raw client that shows every ping --------------------------------


@pytest.mark.fast_path_only("plain ASGI has no pings")
async def test_server_pings_and_a_client_that_answers_stays() -> None:
    """The wiring on real sockets (the timing logic is tested on the virtual clock, above and in
    test_connection_memory.py): an interval long enough for a busy machine to answer in."""
    with trio.fail_after(TIMEOUT):
        async with running_server(ping_interval=0.5) as server:
            raw = await wsraw.open_raw(server.port, "/ws")
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            for _ in range(3):  # three pings, past the two intervals that drop the silent
                opcode, payload = await raw.read_frame()
                assert opcode == wsraw.PING
                await raw.send_frame(wsraw.PONG, payload)
            assert server.app.services.hub.stats() == {"general": 1}
            await raw.stream.aclose()  # gone: the shutdown need not wait for its close reply


@pytest.mark.fast_path_only("plain ASGI has no pings")
async def test_a_client_that_never_answers_is_dropped() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(ping_interval=0.05, close_timeout=0.2) as server:
            raw = await wsraw.open_raw(server.port, "/ws")
            frames = await raw.read_frames_until_eof()
            assert frames[0][0] == wsraw.TEXT
            assert frames[1][0] == wsraw.PING
            assert (frames[-1][0], wsraw.close_code(frames[-1][1])) == (
                wsraw.CLOSE,
                KEEPALIVE_TIMEOUT,
            )
            assert server.app.services.hub.stats() == {}
