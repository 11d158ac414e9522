"""The replays' share of the stand's time (classroom/budget.py), on given times."""

from __future__ import annotations

from qakit_trio.classroom.budget import ReplayBudget


def test_replays_may_take_half_of_any_twenty_seconds() -> None:
    budget = ReplayBudget(window=20.0, share=0.5)
    assert budget.retry_after(0.0) == 0
    budget.spend(ended=5.0, took=5.0)
    budget.spend(ended=9.0, took=4.0)
    assert budget.retry_after(9.0) == 0  # 9 s of the 10 allowed
    budget.spend(ended=11.0, took=2.0)  # 11 s: over
    assert budget.retry_after(11.0) == 14  # when the first (ended at 5) leaves the window
    assert budget.retry_after(25.0) == 0  # it has: 6 s spent in the last 20
    budget.spend(ended=30.0, took=5.0)
    assert budget.retry_after(31.0) == 0  # (9 ended at 29 is gone: 2 + 5 spent)


def test_a_long_overrun_waits_for_enough_to_leave() -> None:
    budget = ReplayBudget(window=20.0, share=0.5)
    for end in range(1, 13):
        budget.spend(ended=float(end), took=1.0)  # 12 s of replay in 12 s
    assert budget.retry_after(12.0) == 11  # 2 over: until three have left (the third at 23)
