"""cluster/cluster.py without Kafka: the bus replaced by a fake, on trio's virtual clock."""

from __future__ import annotations

import json
import time

import pytest
import trio
import trio.testing

from qakit_trio.cluster.bus import Consumed
from qakit_trio.cluster.cluster import RECORD_MAX, Cluster
from qakit_trio.errors import BusUnavailable, ErrorCode, ProtocolError
from qakit_trio.wire import bus
from qakit_trio.wire.channels import Since
from qakit_trio.ws.hub import Hub, Member


class FakeBus:
    """Takes records (or refuses them); nothing comes back unless the test delivers it."""

    def __init__(self, room: bool = True) -> None:
        self.room = room
        self.sent: list[tuple[str, bytes]] = []
        self.position: int | None = 40  # where the instance reads the bus
        self.known_from = 0
        self.catching_up = False
        self.abandoned: list[str] = []

    def send_nowait(self, key: str, value: bytes, publish_id: str | None = None) -> bool:
        if self.room:
            self.sent.append((key, value))
        return self.room

    def abandon(self, publish_id: str) -> None:
        self.abandoned.append(publish_id)


def make(room: bool = True) -> tuple[Cluster, FakeBus]:
    hub, legacy = Hub(name="/ws"), Hub(name="/ws/orders")
    cluster = Cluster(
        "me",
        "127.0.0.1:1",
        "t",
        hub=hub,
        legacy_hub=legacy,
        orders_channel="orders",
        heartbeat=1.0,
        timeout=5.0,
    )
    fake = FakeBus(room)
    cluster.bus = fake  # type: ignore[assignment]
    return cluster, fake


async def test_a_full_bus_refuses_a_publication_at_once() -> None:
    cluster, _ = make(room=False)
    with pytest.raises(BusUnavailable, match="full"):
        await cluster.publish("room", {"type": "message"}, numbered=True)
    assert cluster.refused == 1


async def test_a_publication_not_back_in_time_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cluster, fake = make()
    with pytest.raises(BusUnavailable, match=r"within 5\.0 s"):
        await cluster.publish("room", {"type": "message"}, numbered=True)
    assert len(fake.sent) == 1
    assert len(fake.abandoned) == 1  # if it has not gone yet, it never will
    assert trio.current_time() == pytest.approx(5.0)


async def test_the_publishers_wait_ends_when_its_record_comes_back_numbered() -> None:
    cluster, fake = make()
    got: list[tuple[int, list[Member]]] = []

    async def publish() -> None:
        got.append(await cluster.publish("room", {"type": "message"}, numbered=True))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(publish)
        await trio.testing.wait_all_tasks_blocked()
        key, value = fake.sent[0]
        assert key == "room"
        cluster.deliver(Consumed(41, key, value, time.time()))
    assert got == [(0, [])]  # nobody subscribed, here or elsewhere
    kept = cluster._hub.history.recent("room", 1, trio.current_time())
    assert json.loads(kept[0].text)["offset"] == 42  # Kafka's offset plus 1
    assert json.loads(kept[0].text)["epoch"] == cluster.epoch


async def test_records_of_others_update_presence_and_bad_ones_are_skipped() -> None:
    cluster, _ = make()
    now = time.time()
    member = bus.BusMember("c1", None, ("room",), 0.0, "/ws")
    beat = bus.heartbeat("other", "n1", [member], now)
    cluster.deliver(Consumed(1, "~beat", bus.encode(beat), now))
    assert cluster.clients("room") == [{"connection_id": "c1"}]
    assert cluster.bus_time == now
    for bad in (
        b"not ours",
        b'{"k": "beat", "i": "x", "t": "soon"}',
        b'{"k": "beat", "i": "x", "m": 5}',
        b'{"k": "pub", "i": "me", "c": "a", "f": {}, "p": [1]}',
    ):
        cluster.deliver(Consumed(2, "room", bad, now))  # never raises
    assert cluster.skipped == 4
    cluster.deliver(Consumed(3, "~beat", bus.encode(bus.goodbye("other")), now))
    assert cluster.clients("room") == []


async def test_an_instance_is_dead_by_the_bus_clock_not_ours() -> None:
    """Liveness compares record timestamps (the bus's clock): a skewed clock elsewhere, or a
    consumer that lags, never kills a live instance."""
    cluster, _ = make()
    skewed = 1_000.0  # the other machine's clock is far behind ours: it does not matter
    member = bus.BusMember("c1", None, ("room",), 0.0, "/ws")
    cluster.deliver(
        Consumed(1, "~beat", bus.encode(bus.heartbeat("b", "n", [member], skewed)), skewed)
    )
    assert cluster.view.dead(cluster.bus_time) == []
    assert cluster.view.dead(skewed + 3.01) == ["b"]


async def test_a_publication_larger_than_a_kafka_record_is_refused_before_the_bus() -> None:
    cluster, fake = make()
    with pytest.raises(ProtocolError, match="more than the cluster bus carries") as refused:
        await cluster.publish("room", {"message": "я" * RECORD_MAX}, numbered=True)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    assert fake.sent == []


async def test_a_position_ahead_of_this_instance_waits_until_the_bus_is_read_that_far(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cluster, fake = make()
    fake.position = 40
    reached = trio.Event()

    async def reconnect() -> None:
        await cluster.reach(Since(45, cluster.epoch))
        reached.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reconnect)
        await trio.testing.wait_all_tasks_blocked()
        fake.position = 44
        cluster.fetched()
        await trio.testing.wait_all_tasks_blocked()
        assert not reached.is_set()
        fake.position = 45
        cluster.fetched()
    assert trio.current_time() == 0  # (no timeout: it was read)
    await cluster.reach(Since(99, "another epoch"))  # nothing to wait for
    await cluster.reach(Since(99, cluster.epoch))  # never read: given up after the timeout
    assert trio.current_time() == pytest.approx(5.0)


async def test_a_topic_that_went_back_resets_the_history_and_refuses_old_positions() -> None:
    cluster, fake = make()
    for offset, text in ((45, "a"), (46, "b")):
        record = bus.publication("other", "room", {"type": "message", "message": text}, "o:1")
        record["n"] = True
        cluster.deliver(Consumed(offset, "room", bus.encode(record), time.time()))
    history = cluster._hub.history
    assert history.kept("room") == 2
    fake.position = 47
    cluster._topic_reset(0)  # (bus.py calls it: the offsets went back)
    assert history.kept("room") == 0
    fake.position = 3
    record = bus.publication("other", "room", {"type": "message", "message": "new"}, "o:2")
    record["n"] = True
    cluster.deliver(Consumed(2, "room", bus.encode(record), time.time()))
    assert history.since("room", Since(1, cluster.epoch), trio.current_time()) is None
    assert history.since("room", Since(47, cluster.epoch), trio.current_time()) is None
