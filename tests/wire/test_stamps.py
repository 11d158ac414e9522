"""Ids and times on frames, without an event loop: the wall clock, or the deterministic one."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from qakit_trio.wire import stamps


def test_the_deterministic_clock_starts_at_the_epoch_and_ticks_1_ms_per_reading() -> None:
    try:
        stamps.set_deterministic(5)
        assert [stamps.utc_ts() for _ in range(3)] == [
            "2026-01-01T00:00:00.000000+00:00",
            "2026-01-01T00:00:00.001000+00:00",
            "2026-01-01T00:00:00.002000+00:00",
        ]
        ids = (stamps.new_connection_id(), stamps.new_event_id())
        stamps.set_deterministic(5)
        assert (stamps.new_connection_id(), stamps.new_event_id()) == ids  # same seed
        assert stamps.wall_now() == datetime(2026, 1, 1, tzinfo=UTC)
    finally:
        stamps.set_deterministic(None)
    assert abs(stamps.wall_now() - datetime.now(UTC)).total_seconds() < 60  # the wall again


def test_id_shapes() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", stamps.new_connection_id())
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        stamps.new_event_id(),
    )
    assert stamps.iso_utc(0.5) == "1970-01-01T00:00:00.500000+00:00"


class Fixed(random.Random):
    """Draws the same bits every time."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def getrandbits(self, k: int) -> int:
        return self.bits


def test_event_ids_are_the_uuids_the_uuid_module_makes_of_the_same_bits() -> None:
    """new_event_id writes the UUID itself (issue 30): the same text as uuid.UUID(int=bits,
    version=4), for the same seeded bits, including bits that are all zeros or all ones."""
    try:
        for seed in range(300):
            stamps.set_deterministic(seed)
            bits = random.Random(seed).getrandbits(128)
            assert stamps.new_event_id() == str(uuid.UUID(int=bits, version=4))
        for bits in (0, (1 << 128) - 1, 1 << 76, 0xC000 << 48):
            stamps._current.get().random = Fixed(bits)
            assert stamps.new_event_id() == str(uuid.UUID(int=bits, version=4))
    finally:
        stamps.set_deterministic(None)


def test_frame_ts_never_goes_back_and_knows_the_newest() -> None:
    """A frame's `ts` (issue 23): never earlier than the one before it, even if the clock is
    set back, and `is_newest` tells whether a frame stamped earlier must be stamped again."""
    readings = iter([100.0, 99.5, 100.25])
    with stamps.own_stamps():  # (a new clock: the newest is forgotten)
        _frame_ts_holds_still(readings)


def _frame_ts_holds_still(readings: Iterator[float]) -> None:
    stamps._current.get().wall = lambda: next(readings)
    first = stamps.frame_ts()
    assert first == "1970-01-01T00:01:40.000000+00:00"
    assert stamps.is_newest(first)
    assert stamps.frame_ts() == first  # the clock went back: `ts` holds still
    later = stamps.frame_ts()
    assert later == "1970-01-01T00:01:40.250000+00:00"
    assert stamps.is_newest(later)
    assert not stamps.is_newest(first)


def test_a_context_with_its_own_stamps_leaves_the_process_s_alone() -> None:
    """The classroom's twins (classroom/replay.py) run deterministic stands in a thread of the
    live stand's process: their seed and clock are their context's, never the process's."""
    before = stamps.new_connection_id()
    with stamps.own_stamps():
        stamps.set_deterministic(7)
        twin = [stamps.new_connection_id(), stamps.frame_ts()]
        assert twin[1] == stamps.iso_utc(stamps.DETERMINISTIC_EPOCH)
    with stamps.own_stamps():
        stamps.set_deterministic(7)
        assert [stamps.new_connection_id(), stamps.frame_ts()] == twin  # the same seed: the same
    live = stamps.frame_ts()
    assert live != twin[1]
    assert stamps.new_connection_id() not in (before, twin[0])
    assert not live.startswith("2026-01-01T00:00:00.0")  # the wall clock, not the seed's
