"""The hub: fan-out, the slow-consumer policy, leaving and shutdown. In-memory, no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from qakit_trio.channels import drain_nowait
from qakit_trio.wire.close_codes import GOING_AWAY, SLOW_CONSUMER
from qakit_trio.wire.framing import Frame, OutboxItem
from qakit_trio.ws.hub import Hub, Member
from qakit_trio.ws.outbox import Inlet, OutboxReceive, open_outbox


@dataclass
class FakeConnection:
    """Stands in for connection.py: an outbox and a record of close requests."""

    receive: OutboxReceive
    member: Member
    closes: list[tuple[int, str]] = field(default_factory=list)

    def queued(self) -> list[OutboxItem]:
        """Take everything waiting, and count it written, as the connection's writer does."""
        items = drain_nowait(self.receive, [])
        meter = self.member.inlet.meter
        meter.shared = meter.frames = 0
        return items


def F(text: str) -> Frame:  # reads like a literal in the assertions
    return Frame.of(text)


def no_fast_lane(data: bytes) -> int:
    return 0  # a socket that never takes bytes synchronously: everything is queued


def join(hub: Hub, channel: str, name: str, size: int = 4) -> FakeConnection:
    send, receive = open_outbox(size)
    closes: list[tuple[int, str]] = []
    inlet = Inlet(send, no_fast_lane)
    member = hub.join(channel, name, inlet, lambda code, reason: closes.append((code, reason)))
    return FakeConnection(receive, member, closes)


async def test_publish_reaches_every_member_of_the_channel_only() -> None:
    hub = Hub()
    a, b, c = join(hub, "room", "a"), join(hub, "room", "b"), join(hub, "other", "c")
    assert hub.publish("room", F("frame-1")) == 2
    assert a.queued() == [F("frame-1")]
    assert b.queued() == [F("frame-1")]
    assert c.queued() == []
    assert hub.publish("nobody-here", F("x")) == 0


async def test_publish_can_skip_the_member_that_already_has_the_frame() -> None:
    hub = Hub()
    a, b = join(hub, "room", "a"), join(hub, "room", "b")
    assert hub.publish("room", F("reply"), skip="a") == 1
    assert (a.queued(), b.queued()) == ([], [F("reply")])


async def test_published_frame_is_shared_not_copied() -> None:
    hub = Hub()
    a, b = join(hub, "room", "a"), join(hub, "room", "b")
    frame = Frame.of("shared-frame")
    hub.publish("room", frame)
    assert a.queued()[0] is b.queued()[0] is frame


async def test_full_outbox_is_evicted_and_others_keep_receiving() -> None:
    hub = Hub()
    slow, fast = join(hub, "room", "slow", size=2), join(hub, "room", "fast", size=2)
    assert hub.publish("room", F("1")) == 2
    assert fast.queued() == [F("1")]
    assert hub.publish("room", F("2")) == 2
    assert fast.queued() == [F("2")]
    # slow never drained: its outbox (2) is full now, the third frame evicts it
    assert hub.publish("room", F("3")) == 1
    assert fast.queued() == [F("3")]
    assert slow.closes == [(SLOW_CONSUMER, "slow consumer: outbox full")]
    assert slow.queued() == [F("1"), F("2")]  # nothing was queued past the bound
    assert hub.stats() == {"room": 1}
    assert hub.publish("room", F("4")) == 1  # and it is not offered anything again


async def test_evicted_member_outbox_is_closed_by_the_hub() -> None:
    hub = Hub()
    slow = join(hub, "room", "slow", size=2)
    for text in ("1", "2", "3"):
        hub.publish("room", F(text))
    assert slow.queued() == [F("1"), F("2")]
    # the hub held the only send end: the writer now sees the end of the channel
    with pytest.raises(trio.EndOfChannel):
        slow.receive.receive_nowait()


async def test_leave_is_idempotent_and_empty_channels_drop_out() -> None:
    hub = Hub()
    a, b = join(hub, "room", "a"), join(hub, "lobby", "b")
    assert hub.stats() == {"lobby": 1, "room": 1}
    assert hub.total() == 2
    hub.leave(a.member)
    hub.leave(a.member)
    assert hub.stats() == {"lobby": 1}
    assert hub.total() == 1
    hub.leave(b.member)
    assert hub.stats() == {}


async def test_member_whose_writer_is_gone_is_dropped_silently() -> None:
    hub = Hub()
    gone = join(hub, "room", "gone")
    gone.receive.close()
    assert hub.publish("room", F("x")) == 0
    assert hub.stats() == {}
    assert gone.closes == []


async def test_close_all_asks_everyone_to_go_away_and_marks_the_hub() -> None:
    hub = Hub()
    a, b = join(hub, "room", "a"), join(hub, "lobby", "b")
    hub.close_all()
    assert a.closes == b.closes == [(GOING_AWAY, "server shutting down")]
    assert hub.stats() == {}
    assert hub.closing == (GOING_AWAY, "server shutting down")


# --- property: per-subscriber FIFO under any interleaving of publish, drain and evict ---------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["publish", "drain", "evict"]), st.integers(min_value=0, max_value=3)
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_every_subscriber_gets_a_gapless_ordered_run_of_what_it_was_offered(
    ops: list[tuple[str, int]],
) -> None:
    async def scenario() -> None:
        hub = Hub()
        clients = [join(hub, "room", f"c{n}", size=4) for n in range(4)]
        received: list[list[int]] = [[] for _ in clients]
        offered: list[list[int]] = [[] for _ in clients]
        sequence = 0
        for op, target in ops:
            if op == "publish":
                sequence += 1
                before = [hub.is_member(c.member) for c in clients]
                hub.publish("room", F(str(sequence)))
                for n, client in enumerate(clients):
                    if before[n] and hub.is_member(client.member):
                        offered[n].append(sequence)  # kept: it got the frame
            elif op == "drain":
                received[target] += [
                    int(item.text) for item in clients[target].queued() if isinstance(item, Frame)
                ]
            else:
                hub.evict(clients[target].member, SLOW_CONSUMER, "test")
            await trio.lowlevel.checkpoint()
        for n, client in enumerate(clients):
            received[n] += [int(item.text) for item in client.queued() if isinstance(item, Frame)]
            assert received[n] == offered[n]  # FIFO, no gap, no duplicate, nothing after leaving
            assert received[n] == sorted(set(received[n]))

    trio.run(scenario)


async def test_a_publisher_waits_for_a_congested_subscriber_but_not_a_paused_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Flow control (issue 22, item 9): a congested member that is itself paused (its own
    reader waits for others) is neither waited for nor evicted: publishers never wait on each
    other. A congested member that is not paused and makes no progress is evicted after the
    stall grace."""
    hub = Hub(stall_grace=1.0)
    paused = join(hub, "room", "paused", size=4)
    stuck = join(hub, "room", "stuck", size=4)
    congested: list[Member] = []
    for text in ("1", "2"):
        hub.publish("room", F(text), congested=congested)
    assert {m.connection_id for m in congested} == {"paused", "stuck"}
    paused.member.inlet.meter.paused = 1
    for fake in (paused, stuck):
        fake.member.inlet.meter.writing = True  # both writers stuck in a write
    start = trio.current_time()
    await hub.wait_drained(congested)
    assert trio.current_time() - start == pytest.approx(1.0)  # the stall grace, for `stuck`
    assert stuck.closes == [(SLOW_CONSUMER, "slow consumer: no progress")]
    assert paused.closes == []
    assert hub.is_member(paused.member)
