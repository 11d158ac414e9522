"""The lab's stand-wide state shared through PostgreSQL (adapters/shared_state.py, lab/shared.py),
on the real server: two instances (two stores, two labs' Bugs and FaultRules) over one database
in one trio run. A change made through one acts on the other within a second; a late starter
takes the shared values before it serves; two changes at once end the same everywhere; a value
one instance does not understand is left out there, and the next one is taken."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
import pytest
import trio
from psycopg.types.json import Jsonb

from qakit_trio.adapters.shared_state import SharedState
from qakit_trio.lab.bugs import Bugs
from qakit_trio.lab.fault_rules import FaultRules
from qakit_trio.lab.shared import BUGS, FAULT_RULES, SharedLab

from ..support.timeouts import TIMEOUT

WITHIN = 1.0  # the promise: a change on one instance acts on all within a second
RULES = {"seed": 3, "rules": [{"match": {"channel": "room"}, "fault": {"drop": ["ack"]}}]}


@dataclass
class Instance:
    state: SharedState
    lab: SharedLab
    bugs: Bugs
    rules: FaultRules


@asynccontextmanager
async def instance(url: str, name: str, bugs: tuple[str, ...] = ()) -> AsyncIterator[Instance]:
    """One instance's shared lab state, running (ready: its first round is done)."""
    state = SharedState(url, timeout=5.0, instance=name)
    switches, rules = Bugs(bugs), FaultRules()
    found = Instance(state, SharedLab(state, switches, rules), switches, rules)
    async with trio.open_nursery() as nursery:
        await nursery.start(state.run)
        yield found
        nursery.cancel_scope.cancel()


async def within_a_second(at: Instance, done: Callable[[], bool]) -> None:
    """`done()` holds at `at` within WITHIN of now, looked at after each of its rounds."""
    with trio.fail_after(WITHIN):
        while not done():
            await at.state.next_round()


async def test_bugs_and_fault_rules_changed_on_one_act_on_the_other_within_a_second(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with instance(database_url, "a") as a, instance(database_url, "b") as b:
            await a.lab.set_bugs(["duplicate_event", "lost_update"])
            assert a.bugs.duplicate_event  # applied where it was made as soon as written
            await within_a_second(b, lambda: b.bugs.names == {"duplicate_event", "lost_update"})
            assert b.bugs.any_on
            assert b.bugs.lost_update

            await b.lab.set_fault_rules(RULES)
            await within_a_second(a, lambda: a.rules.listing() == RULES)
            fault = a.rules.pick("echo", "room")
            assert fault is not None
            assert fault.drop == {"ack"}

            await a.lab.clear_fault_rules()
            await a.lab.set_bugs([])
            await within_a_second(b, lambda: not b.rules.rules and not b.bugs.any_on)
            assert b.state.versions == a.state.versions == {BUGS: 2, FAULT_RULES: 2}


async def test_a_late_instance_takes_the_shared_values_before_it_serves(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with instance(database_url, "a") as a:
            await a.lab.set_bugs(["stale_stats"])
            await a.lab.set_fault_rules(RULES)
            # started with QAKIT_BUGS of its own: the shared value wins at its first round
            async with instance(database_url, "c", bugs=("ack_after_data",)) as c:
                assert (c.bugs.enabled(), c.rules.listing()) == (["stale_stats"], RULES)


async def test_two_changes_at_once_end_the_same_on_every_instance(database_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with instance(database_url, "a") as a, instance(database_url, "b") as b:
            async with trio.open_nursery() as both:
                both.start_soon(a.lab.set_bugs, ["duplicate_event"])
                both.start_soon(b.lab.set_bugs, ["stale_stats"])
            await within_a_second(a, lambda: a.state.versions.get(BUGS) == 2)
            await within_a_second(b, lambda: b.state.versions.get(BUGS) == 2)
            assert a.bugs.names == b.bugs.names  # the later write, on both
            assert a.bugs.names in ({"duplicate_event"}, {"stale_stats"})


async def test_a_value_not_understood_is_left_out_and_the_next_is_taken(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(TIMEOUT):
        async with instance(database_url, "a") as a:
            await a.lab.set_bugs(["stale_stats"])

            def written_by_a_newer_stand() -> None:
                with psycopg.connect(database_url, autocommit=True) as db:
                    db.execute(
                        "UPDATE lab_state SET value = %s, version = version + 1, instance = 'z' "
                        "WHERE key = %s",
                        (Jsonb(["a_bug_of_a_newer_stand"]), BUGS),
                    )

            await trio.to_thread.run_sync(written_by_a_newer_stand)
            await within_a_second(a, lambda: a.state.versions[BUGS] == 2)
            assert a.bugs.enabled() == ["stale_stats"]  # kept what it had
            refused = [r for r in caplog.records if "not understood" in r.getMessage()]
            assert refused[0].__dict__["fields"]["instance"] == "z"
            await a.lab.set_bugs(["offset_gap"])
            assert (a.bugs.enabled(), a.state.versions[BUGS]) == (["offset_gap"], 3)
