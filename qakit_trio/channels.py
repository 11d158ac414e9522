"""Small helpers for trio memory channels, used by whoever owns a receive end."""

from __future__ import annotations

from typing import TypeVar

import trio

T = TypeVar("T")


def drain_nowait(receive: trio.MemoryReceiveChannel[T], batch: list[T]) -> list[T]:
    """Append everything already waiting in `receive` (an outbox, or any memory channel) to
    `batch`, without blocking."""
    while True:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return batch
