"""The shared lab state's logic without a database: which stored versions are new here
(adapters/shared_state.py `newer`), and SharedLab (lab/shared.py) over a store of memory that
stands for PostgreSQL: a change is checked before it is written, written before it is applied,
and another instance's value is applied (and logged) or, when not understood, refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

from qakit_trio.adapters.shared_state import Stored, newer
from qakit_trio.errors import StoreUnavailable
from qakit_trio.lab.bugs import Bugs
from qakit_trio.lab.fault_rules import FaultRules, RuleError
from qakit_trio.lab.shared import BUGS, FAULT_RULES, SharedLab

RULES = {"seed": 7, "rules": [{"match": {"action": "echo"}, "fault": {"delay_ms": 10}}]}


class MemoryStore:
    """The store's contract (lab/shared.py Store), in memory: `put` writes, then applies here;
    `arrive` is another instance's value reaching this one's round."""

    def __init__(self, instance: str = "here") -> None:
        self.instance = instance
        self.written: list[tuple[str, Any]] = []
        self.down = False
        self._apply: dict[str, Callable[[Any, str], None]] = {}

    def watch(self, key: str, apply: Callable[[Any, str], None]) -> None:
        self._apply[key] = apply

    async def put(self, key: str, value: Any) -> None:
        await trio.lowlevel.checkpoint()
        if self.down:
            raise StoreUnavailable("the database is unavailable")
        self.written.append((key, value))
        self._apply[key](value, self.instance)

    def arrive(self, key: str, value: Any, instance: str = "elsewhere") -> None:
        self._apply[key](value, instance)


def lab() -> tuple[MemoryStore, SharedLab, Bugs, FaultRules]:
    store, bugs, rules = MemoryStore(), Bugs(), FaultRules()
    return store, SharedLab(store, bugs, rules), bugs, rules


def test_only_versions_past_the_applied_one_are_new() -> None:
    rows = [Stored("a", 3, "x", [1]), Stored("b", 1, "x", None), Stored("c", 1, "y", 2)]
    assert newer({"a": 2, "b": 1}, rows) == [rows[0], rows[2]]
    assert newer({"a": 3, "b": 1, "c": 1}, rows) == []
    assert newer({"a": 4}, rows[:1]) == []  # an older version than ours: a round read it late


async def test_a_change_is_written_then_applied_here() -> None:
    store, shared, bugs, rules = lab()
    await shared.set_bugs(["duplicate_event", "stale_stats", "duplicate_event"])
    assert store.written == [(BUGS, ["duplicate_event", "stale_stats"])]
    assert bugs.enabled() == ["duplicate_event", "stale_stats"]
    await shared.set_fault_rules(RULES)
    assert (store.written[-1], rules.listing()) == ((FAULT_RULES, RULES), RULES)
    await shared.clear_fault_rules()
    assert (store.written[-1], rules.rules) == ((FAULT_RULES, None), [])


async def test_a_refused_change_writes_nothing() -> None:
    store, shared, bugs, rules = lab()
    with pytest.raises(ValueError, match="unknown bug 'nope'"):
        await shared.set_bugs(["stale_stats", "nope"])
    with pytest.raises(RuleError):
        await shared.set_fault_rules({"rules": [{"fault": {"delay_ms": -1}}]})
    store.down = True
    with pytest.raises(StoreUnavailable):
        await shared.set_bugs(["stale_stats"])
    assert (store.written, bugs.enabled(), rules.rules) == ([], [], [])


def test_another_instances_change_is_applied_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, _, bugs, rules = lab()
    store.arrive(BUGS, ["ack_after_data"], "qakit-2")
    store.arrive(FAULT_RULES, RULES, "qakit-3")
    assert (bugs.enabled(), rules.listing()) == (["ack_after_data"], RULES)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        ("WARNING", "lab bugs changed on another instance"),
        ("WARNING", "lab fault rules changed on another instance"),
    ]
    assert [r.__dict__["fields"]["instance"] for r in caplog.records] == ["qakit-2", "qakit-3"]


def test_a_value_not_understood_here_is_refused_and_nothing_changes() -> None:
    store, _, bugs, rules = lab()
    store.arrive(BUGS, ["stale_stats"])
    # (the store logs it and goes on: test_shared.py)
    with pytest.raises(ValueError, match="must be a list of names"):
        store.arrive(BUGS, "stale_stats")
    with pytest.raises(ValueError, match="unknown bug 'a_bug_of_a_newer_stand'"):
        store.arrive(BUGS, ["a_bug_of_a_newer_stand"])
    with pytest.raises(RuleError):
        store.arrive(FAULT_RULES, {"rules": "all of them"})
    assert (bugs.enabled(), rules.rules) == (["stale_stats"], [])
