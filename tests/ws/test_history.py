"""ws/history.py: offsets, epochs, what is kept and for how long, recovery. Pure: no event loop
(the time is passed in)."""

from __future__ import annotations

import itertools
import json
import sys

import pytest

from qakit_trio.wire.channels import Since
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.history import CHANNEL_COST, ENTRY_COST, History, HistoryLimits


def make(limits: HistoryLimits | None = None, in_use: set[str] | None = None) -> History:
    counter = itertools.count(1)
    used = in_use if in_use is not None else set()
    return History(limits or HistoryLimits(), lambda: f"e{next(counter)}", used.__contains__)


def publish(history: History, channel: str, text: str, now: float = 0.0) -> dict[str, object]:
    item = history.publish(channel, {"type": "message", "message": text}, now)
    frame: dict[str, object] = json.loads(item.text)
    return frame


def texts(frames: list[Frame] | None) -> list[str] | None:
    return None if frames is None else [json.loads(f.text)["message"] for f in frames]


def test_offsets_count_per_channel_without_gaps_and_carry_the_epoch() -> None:
    history = make()
    assert [publish(history, "a", str(n))["offset"] for n in range(3)] == [1, 2, 3]
    assert publish(history, "b", "x")["offset"] == 1
    assert history.position("a") == Since(3, "e1")
    assert history.position("b") == Since(1, "e2")
    assert publish(history, "a", "y")["epoch"] == "e1"


def test_a_position_is_recovered_exactly_when_everything_after_it_is_kept() -> None:
    history = make(HistoryLimits(size=3))
    for n in range(1, 6):
        publish(history, "a", str(n))  # 1..5; 3, 4, 5 kept
    assert texts(history.since("a", Since(5, "e1"), 0)) == []
    assert texts(history.since("a", Since(3, "e1"), 0)) == ["4", "5"]
    assert texts(history.since("a", Since(2, "e1"), 0)) == ["3", "4", "5"]
    assert history.since("a", Since(1, "e1"), 0) is None  # 2 is gone
    assert history.since("a", Since(6, "e1"), 0) is None  # never reached
    assert history.since("a", Since(3, "other"), 0) is None  # another epoch
    assert history.since("nobody", Since(0, "e1"), 0) is None


def test_the_ttl_drops_old_publications_and_recovery_then_fails() -> None:
    history = make(HistoryLimits(ttl=10.0))
    publish(history, "a", "old", now=0.0)
    publish(history, "a", "new", now=8.0)
    assert texts(history.since("a", Since(0, "e1"), 9.0)) == ["old", "new"]
    assert history.since("a", Since(0, "e1"), 10.0) is None  # "old" expired
    assert texts(history.since("a", Since(1, "e1"), 10.0)) == ["new"]
    assert history.recent("a", 10, 18.0) == []


def test_the_byte_limits_per_channel_and_in_all() -> None:
    big = "x" * 1000
    history = make(HistoryLimits(channel_bytes=5_000))
    for _ in range(20):
        publish(history, "a", big)
    assert history.bytes <= 5_000
    assert history.kept("a") == 5_000 // (history.bytes // history.kept("a"))
    total = make(HistoryLimits(channel_bytes=1 << 20, total_bytes=50_000))
    for n in range(100):
        publish(total, f"c{n}", big)
    assert total.bytes <= 50_000
    assert total.channels() < 100  # channels with nothing kept and nobody in them are forgotten
    assert total.kept("c99") == 1  # the newest is kept


def test_an_entry_costs_its_text_and_wire_bytes_plus_the_fixed_part() -> None:
    history = make()
    item = history.publish("a", {"type": "message", "message": "hi"}, 0.0)
    assert history.bytes == sys.getsizeof(item.text) + sys.getsizeof(item.wire) + ENTRY_COST
    cyrillic = history.publish("b", {"type": "message", "message": "ж" * 1000}, 0.0)
    assert sys.getsizeof(cyrillic.text) > 2_000  # two bytes a character: counted as memory
    assert CHANNEL_COST > 0


def test_reset_starts_a_new_epoch_and_offsets_again() -> None:
    history = make()
    publish(history, "a", "1")
    assert history.reset("a") == 1
    assert history.bytes == 0
    assert publish(history, "a", "again")["offset"] == 1
    assert history.position("a").epoch == "e2"
    publish(history, "b", "1")
    assert history.reset(keep_epoch=True) == 2  # every channel; the lab's epoch_never_changes
    assert history.position("a").epoch == "e2"
    assert history.position("a").offset == 0


def test_an_idle_channel_is_forgotten_only_without_history_and_subscribers() -> None:
    used = {"busy"}
    history = make(HistoryLimits(ttl=1.0), in_use=used)
    history.position("idle")
    history.position("busy")
    history.forget_if_idle("idle", 0.0)
    history.forget_if_idle("busy", 0.0)
    assert history.channels() == 1
    publish(history, "kept", "x", now=0.0)
    history.forget_if_idle("kept", 0.5)
    assert history.channels() == 2  # it still has a publication
    history.forget_if_idle("kept", 1.0)  # which has expired now
    assert history.channels() == 1


def test_adopt_starts_an_unknown_channel_at_a_given_epoch_only() -> None:
    history = make()
    history.adopt("a", "0000cafe")
    assert history.position("a") == Since(0, "0000cafe")
    history.adopt("a", "ffffffff")  # known: unchanged
    assert history.position("a").epoch == "0000cafe"


@pytest.mark.parametrize("gap", [1, 2])
def test_a_gap_skips_offsets(gap: int) -> None:
    history = make()
    publish(history, "a", "1")
    item = history.publish("a", {"type": "message"}, 0.0, gap=gap)
    assert json.loads(item.text)["offset"] == 2 + gap
    assert history.position("a").offset == 2 + gap


def test_the_total_limit_trims_one_publication_at_a_time_past_idle_subscribed_channels() -> None:
    used = {f"quiet-{n}" for n in range(5_000)}  # subscribed, nothing kept: never in the way
    history = make(HistoryLimits(total_bytes=20_000), in_use=used)
    for name in used:
        history.position(name)
    for n in range(200):
        publish(history, f"busy-{n % 50}", "x" * 500)
    assert history.bytes <= 20_000
    assert history.channels() >= 5_000  # the subscribed ones keep their positions
    assert history.kept("busy-49") == 1


def test_offsets_given_by_the_cluster_bus_recover_only_what_this_instance_saw() -> None:
    """QAKIT_CLUSTER=kafka: offsets come from the bus (not contiguous); a channel this instance
    first hears of starts at the bus position it read from (`base`): nothing before it can be
    recovered, everything after it can, until the history drops it."""
    position = {"now": 100}
    history = History(HistoryLimits(size=2), lambda: "kbus", new_base=lambda: position["now"])
    history.follow(lambda: "kbus", lambda: position["now"])
    assert history.position("room") == Since(100, "kbus")  # nothing heard of it yet
    for offset, text in ((105, "a"), (109, "b")):
        item = history.append("room", {"type": "message", "message": text}, offset, 0.0)
        assert json.loads(item.text)["offset"] == offset
    assert texts(history.since("room", Since(100, "kbus"), 0.0)) == ["a", "b"]
    assert texts(history.since("room", Since(105, "kbus"), 0.0)) == ["b"]
    assert history.since("room", Since(99, "kbus"), 0.0) is None  # before this instance read
    history.append("room", {"type": "message", "message": "c"}, 120, 0.0)  # "a" is dropped
    assert history.since("room", Since(104, "kbus"), 0.0) is None
    assert texts(history.since("room", Since(105, "kbus"), 0.0)) == ["b", "c"]
    assert history.since("room", Since(105, "other"), 0.0) is None
