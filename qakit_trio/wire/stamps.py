"""The ids and times a frame carries: event ids, connection ids, the `ts` field, an order's
times. Pure: no trio, no quart, no I/O (tests/wire/test_stamps.py).

Where they come from: random ids seeded from the OS and the wall clock, or, in deterministic
mode (QAKIT_DETERMINISTIC=SEED, `set_deterministic`), ids drawn from the seed and a clock that
starts at DETERMINISTIC_EPOCH and advances 1 ms per reading, so two stands with the same seed,
driven by the same script, send byte-identical frames. Process-wide, like the clock it stands
for, except in a context with its own (`own_stamps`: the classroom's replay twins).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

DETERMINISTIC_EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


class Stamper:
    """Where ids and times come from: random ids and the wall clock, or a seed's."""

    __slots__ = ("newest", "newest_at", "random", "wall")

    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random()  # ids need to be unique, not secret
        self.wall: Callable[[], float] = time.time
        self.newest_at = -math.inf  # the time of the newest `ts` frame_ts gave
        self.newest = ""  # and its text
        self.reset(seed)

    def reset(self, seed: int | None) -> None:
        self.newest_at, self.newest = -math.inf, ""  # a new clock: frame_ts starts again
        if seed is None:
            self.random, self.wall = random.Random(), time.time
            return
        self.random = random.Random(seed)
        ticks = itertools.count()
        self.wall = lambda: DETERMINISTIC_EPOCH + next(ticks) / 1000


# The process's stamper; a context may have its own (`own_stamps`: the classroom's twins, which
# run in a thread of the live stand's process and must not touch its ids or its clock).
# (A mutable default on purpose: it is the process's one stamper, shared by every context.)
_current: ContextVar[Stamper] = ContextVar("qakit_stamps", default=Stamper())  # noqa: B039


def set_deterministic(seed: int | None) -> None:
    """Seeded ids and a fixed-epoch clock (a seed), or random ids and the wall clock (None),
    for the process, or for the context that has its own stamper."""
    _current.get().reset(seed)


@contextmanager
def own_stamps() -> Iterator[None]:
    """Ids and times of this context's own (and of the tasks it starts), for the block."""
    token = _current.set(Stamper())
    try:
        yield
    finally:
        _current.reset(token)


# RFC 9562's version 4 bits, as uuid.UUID(int=..., version=4) sets them: variant 10, version 4
_V4_KEEP = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET = (0x8000 << 48) | (4 << 76)


def new_event_id() -> str:
    """An event's `event_id`: a random (version 4) UUID, drawn without a system call per id,
    and written as str(uuid.UUID(int=bits, version=4)) writes it, without building one (2.1
    against 0.85 µs: one per event; tests/wire/test_stamps.py compares the two)."""
    h = f"{_current.get().random.getrandbits(128) & _V4_KEEP | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_connection_id() -> str:
    """A connection's id: 12 hex digits."""
    return f"{_current.get().random.getrandbits(48):012x}"


def new_epoch() -> str:
    """A channel history's `epoch` (ws/history.py): 8 hex digits, new whenever a channel's
    offsets start again."""
    return f"{_current.get().random.getrandbits(32):08x}"


def wall_now() -> datetime:
    """Now, for times users see (an order's created_at): the wall clock, or the
    deterministic one."""
    return datetime.fromtimestamp(_current.get().wall(), UTC)


class _IsoClock:
    """UTC ISO-8601 text with microseconds and offset, the part up to the second formatted once
    per second (it is on every frame and every log line)."""

    def __init__(self) -> None:
        self._cached = (-1, "")  # (second, its text): one tuple, read and written whole, so
        # a thread (the classroom's twins) never sees one second with another's text

    def text(self, timestamp: float) -> str:
        # whole microseconds, rounded (a float's 0.001 is 0.000999...: truncating would say so)
        second, micro = divmod(round(timestamp * 1_000_000), 1_000_000)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._cached = (second, prefix)
        return f"{prefix}.{micro:06d}+00:00"


iso_utc = _IsoClock().text


def utc_ts() -> str:
    """Wall-clock time (the inspector's): UTC, ISO-8601 with microseconds and offset."""
    return iso_utc(_current.get().wall())


def frame_ts() -> str:
    """A frame's `ts` (utc_ts's form), now: never earlier than the one before it."""
    stamper = _current.get()
    now = stamper.wall()
    if now > stamper.newest_at:
        stamper.newest_at, stamper.newest = now, iso_utc(now)
    return stamper.newest


def is_newest(ts: object) -> bool:
    """`ts` is the newest frame_ts has given: no frame stamped since can carry a later one, so
    a frame carrying it may be queued or published as it is (the module docstring)."""
    return ts == _current.get().newest
