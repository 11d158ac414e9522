"""How much of the stand's time replays may take (POST /lab/findings). Pure: the times are given.

A replay runs in a worker thread and holds the GIL while it computes (replay.py), so the live
stand's connections wait a little while it runs. Replays run one at a time; beyond that, a class
sending findings back to back could keep that thread busy all the time. So replays may use at
most SHARE of any WINDOW seconds; past it, a finding is answered 503 with when to try again.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 20.0  # seconds looked back
SHARE = 0.5  # of them, at most this much replaying


class ReplayBudget:
    def __init__(self, window: float = WINDOW, share: float = SHARE) -> None:
        self._window = window
        self._allowed = window * share
        self._spent: deque[tuple[float, float]] = deque()  # (ended at, seconds it took)

    def retry_after(self, now: float) -> int:
        """0 when a replay may start now; else whole seconds until one may."""
        spent = self._forget(now)
        if spent < self._allowed:
            return 0
        wait, over = 0.0, spent - self._allowed
        for ended, took in self._spent:  # the oldest leave the window first
            wait = ended + self._window - now
            over -= took
            if over < 0:
                break
        return max(1, math.ceil(wait))

    def spend(self, ended: float, took: float) -> None:
        self._spent.append((ended, took))

    def _forget(self, now: float) -> float:
        while self._spent and self._spent[0][0] <= now - self._window:
            self._spent.popleft()
        return sum(took for _, took in self._spent)
