"""The ids and times a frame carries: event ids, connection ids, the `ts` field, an order's
times. Pure: no trio, no quart, no I/O (tests/wire/test_stamps.py).

Where they come from: random ids seeded from the OS and the wall clock, or, in deterministic
mode (QAKIT_DETERMINISTIC=SEED, `set_deterministic`), ids drawn from the seed and a clock that
starts at DETERMINISTIC_EPOCH and advances 1 ms per reading, so two stands with the same seed,
driven by the same script, send byte-identical frames. Process-wide, like the clock it stands
for: one stand per process.

A frame's `ts` (`frame_ts`) is the time it was queued for its connection, or published to its
channel: it never decreases in the order frames arrive on one connection. Frames are stamped as
they are built, and nearly always queued in the same step; `frame_ts` never goes back (a clock
set back holds still until it catches up) and remembers the newest `ts` it gave, so whoever
queues a frame re-stamps it only when it is no longer the newest (`is_newest`): a frame built
earlier than another one already stamped (Connection.reply, and the publishers of the hub).
"""

from __future__ import annotations

import itertools
import math
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

_random = random.Random()  # ids need to be unique, not secret
_wall: Callable[[], float] = time.time
DETERMINISTIC_EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def set_deterministic(seed: int | None) -> None:
    """Seeded ids and a fixed-epoch clock (a seed), or random ids and the wall clock (None)."""
    global _random, _wall, _newest_at, _newest
    _newest_at, _newest = -math.inf, ""  # a new clock: frame_ts starts again from it
    if seed is None:
        _random, _wall = random.Random(), time.time
        return
    _random = random.Random(seed)
    ticks = itertools.count()
    _wall = lambda: DETERMINISTIC_EPOCH + next(ticks) / 1000  # noqa: E731


def new_event_id() -> str:
    """An event's `event_id`: a random (version 4) UUID, drawn without a system call per id."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


def new_connection_id() -> str:
    """A connection's id: 12 hex digits."""
    return f"{_random.getrandbits(48):012x}"


def wall_now() -> datetime:
    """Now, for times users see (an order's created_at): the wall clock, or the
    deterministic one."""
    return datetime.fromtimestamp(_wall(), UTC)


class _IsoClock:
    """UTC ISO-8601 text with microseconds and offset, the part up to the second formatted once
    per second (it is on every frame and every log line)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def text(self, timestamp: float) -> str:
        # whole microseconds, rounded (a float's 0.001 is 0.000999...: truncating would say so)
        second, micro = divmod(round(timestamp * 1_000_000), 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{micro:06d}+00:00"


iso_utc = _IsoClock().text


def utc_ts() -> str:
    """Wall-clock time (the inspector's): UTC, ISO-8601 with microseconds and offset."""
    return iso_utc(_wall())


_newest_at = -math.inf  # the time of the newest `ts` frame_ts gave
_newest = ""  # and its text


def frame_ts() -> str:
    """A frame's `ts` (utc_ts's form), now: never earlier than the one before it."""
    global _newest_at, _newest
    now = _wall()
    if now > _newest_at:
        _newest_at, _newest = now, iso_utc(now)
    return _newest


def is_newest(ts: object) -> bool:
    """`ts` is the newest frame_ts has given: no frame stamped since can carry a later one, so
    a frame carrying it may be queued or published as it is (the module docstring)."""
    return ts == _newest
