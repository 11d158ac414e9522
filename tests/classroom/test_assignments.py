"""The teacher's table and the deal (classroom/assignments.py), without an event loop: every
problem is an AssignmentError at its place in the body; the same seed deals the same bugs, and
no two trainees share a bug while the pool allows it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qakit_trio.classroom.assignments import (
    MAX_TRAINEES,
    AssignmentError,
    Deal,
    Loc,
    deal,
    listing,
    parse_deal,
    parse_table,
)
from qakit_trio.lab.bugs import NAMES

KNOWN = {"ivan", "maria", "olga"}


def refused(parse: Any, *args: Any) -> AssignmentError:
    with pytest.raises(AssignmentError) as caught:
        parse(*args)
    return caught.value


def test_a_table_is_checked_and_keeps_the_order_given() -> None:
    table = parse_table(
        {"assignments": {"ivan": ["stale_stats", "duplicate_event"], "maria": []}}, KNOWN
    )
    assert table == {"ivan": ("stale_stats", "duplicate_event")}  # no bugs: not in the table
    assert parse_table({"assignments": {}}, KNOWN) == {}


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        ({"assignments": {"ivan": ["nope"]}}, ("assignments", "ivan", 0), "unknown bug 'nope'"),
        ({"assignments": {"ivan": [7]}}, ("assignments", "ivan", 0), "unknown bug 7"),
        (
            {"assignments": {"ivan": ["stale_stats", "nope"]}},
            ("assignments", "ivan", 1),
            "the catalogue: ack_after_data",
        ),
        (
            {"assignments": {"ivan": ["stale_stats", "duplicate_event", "stale_stats"]}},
            ("assignments", "ivan", 2),
            "stale_stats is listed twice",
        ),
        ({"assignments": {"ivan": "stale_stats"}}, ("assignments", "ivan"), "must be a list"),
        ({"assignments": {"ivan": None}}, ("assignments", "ivan"), "must be a list"),
        (
            {"assignments": {"ivan": ["stale_stats", "local_only_broadcast"]}},
            ("assignments", "ivan", 1),
            "local_only_broadcast is a bug of several instances: the stand's",
        ),
        (
            {"assignments": {"pyotr": ["stale_stats"]}},
            ("assignments", "pyotr"),
            "no trainee 'pyotr' has taken a token",
        ),
        ({"assignments": {"teacher": []}}, ("assignments", "teacher"), "the teacher's name"),
        ({"assignments": {"Teacher": []}}, ("assignments", "Teacher"), "the teacher's name"),
        ({"assignments": {"a b": []}}, ("assignments", "a b"), "name may hold letters"),
        ({"assignments": ["ivan"]}, ("assignments",), "must be an object"),
        ({}, ("assignments",), "must be an object"),
        ({"assignments": {}, "revealed": []}, ("revealed",), "Extra inputs are not permitted"),
    ],
)
def test_a_bad_table_names_its_problem(body: dict[str, Any], loc: Loc, says: str) -> None:
    error = refused(parse_table, body, KNOWN)
    assert error.loc == loc
    assert says in str(error)


def test_a_table_of_too_many_trainees_is_refused() -> None:
    names = {f"t{n}" for n in range(MAX_TRAINEES + 1)}
    error = refused(parse_table, {"assignments": {name: [] for name in names}}, names)
    assert (error.loc, str(error)) == (("assignments",), f"at most {MAX_TRAINEES} trainees")


def test_a_deal_is_read_with_its_defaults() -> None:
    spec = parse_deal({"pool": ["stale_stats", "duplicate_event"]}, KNOWN, 99)
    assert spec == Deal(("stale_stats", "duplicate_event"), 1, 99, ("ivan", "maria", "olga"))
    given_ = parse_deal(
        {"pool": ["stale_stats"], "seed": 0, "trainees": ["olga", "ivan"], "per_trainee": 1},
        KNOWN,
        99,
    )
    assert (given_.seed, given_.trainees) == (0, ("olga", "ivan"))  # the body's, in its order


@pytest.mark.parametrize(
    ("body", "known", "loc", "says"),
    [
        ({"pool": []}, KNOWN, ("pool",), "the pool is empty"),
        ({}, KNOWN, ("pool",), "must be a list"),
        ({"pool": "stale_stats"}, KNOWN, ("pool",), "must be a list"),
        ({"pool": ["nope"]}, KNOWN, ("pool", 0), "unknown bug 'nope'"),
        ({"pool": ["stale_stats", "stale_stats"]}, KNOWN, ("pool", 1), "listed twice"),
        ({"pool": ["stale_stats"]}, set(), ("trainees",), "no trainee has taken a token yet"),
        ({"pool": ["stale_stats"], "trainees": []}, KNOWN, ("trainees",), "no trainee"),
        ({"pool": ["stale_stats"], "trainees": "ivan"}, KNOWN, ("trainees",), "must be a list"),
        (
            {"pool": ["stale_stats"], "trainees": ["ivan", "pyotr"]},
            KNOWN,
            ("trainees", 1),
            "no trainee 'pyotr'",
        ),
        (
            {"pool": ["stale_stats"], "trainees": ["ivan", "maria", "ivan"]},
            KNOWN,
            ("trainees", 2),
            "ivan is listed twice",
        ),
        ({"pool": ["stale_stats"], "trainees": ["teacher"]}, KNOWN, ("trainees", 0), "teacher"),
        ({"pool": ["stale_stats"], "per_trainee": 0}, KNOWN, ("per_trainee",), "1..1"),
        ({"pool": ["stale_stats"], "per_trainee": 2}, KNOWN, ("per_trainee",), "(the pool)"),
        ({"pool": ["stale_stats"], "per_trainee": True}, KNOWN, ("per_trainee",), "whole"),
        ({"pool": ["stale_stats"], "per_trainee": 1.0}, KNOWN, ("per_trainee",), "whole"),
        ({"pool": ["stale_stats"], "seed": -1}, KNOWN, ("seed",), "whole number from 0"),
        ({"pool": ["stale_stats"], "seed": 2**63}, KNOWN, ("seed",), "whole number from 0"),
        ({"pool": ["stale_stats"], "seed": "42"}, KNOWN, ("seed",), "whole number from 0"),
        ({"pool": ["stale_stats"], "seed": False}, KNOWN, ("seed",), "whole number from 0"),
        ({"pool": ["stale_stats"], "deck": 1}, KNOWN, ("deck",), "Extra inputs"),
    ],
)
def test_a_bad_deal_names_its_problem(
    body: dict[str, Any], known: set[str], loc: Loc, says: str
) -> None:
    error = refused(parse_deal, body, known, 7)
    assert error.loc == loc
    assert says in str(error)


def dealt(pool: int, trainees: int, per: int, seed: int) -> dict[str, tuple[str, ...]]:
    return deal(Deal(NAMES[:pool], per, seed, tuple(f"t{n:02}" for n in range(trainees))))


def test_the_same_seed_deals_the_same_bugs_and_other_seeds_others() -> None:
    assert dealt(14, 5, 2, 42) == dealt(14, 5, 2, 42)
    deals = {tuple(sorted(dealt(14, 5, 2, seed).items())) for seed in range(10)}
    assert len(deals) > 1  # (a shuffle, not the pool's order)


@given(
    pool=st.integers(1, len(NAMES)),
    trainees=st.integers(1, 30),
    per=st.integers(1, 4),
    seed=st.integers(0, 2**63 - 1),
)
def test_every_deal_gives_each_trainee_their_share_of_the_pool(
    pool: int, trainees: int, per: int, seed: int
) -> None:
    per = min(per, pool)
    table = dealt(pool, trainees, per, seed)
    assert sorted(table) == [f"t{n:02}" for n in range(trainees)]
    for bugs in table.values():
        assert len(bugs) == per
        assert len(set(bugs)) == per  # never one bug twice to one trainee
        assert set(bugs) <= set(NAMES[:pool])
    counts = Counter(bug for bugs in table.values() for bug in bugs)
    if pool >= trainees * per:  # the pool allows it: nobody shares a bug
        assert max(counts.values()) == 1
    else:  # rounds of the whole pool: every bug of it is dealt
        assert len(counts) == pool
        if per == 1:  # and none a second time before every bug once
            assert max(counts.values()) - min(counts.values()) <= 1


def test_a_pool_smaller_than_the_class_wraps_around() -> None:
    table = dealt(2, 5, 1, 3)
    assert sorted(Counter(bugs[0] for bugs in table.values()).values()) == [2, 3]
    twice = dealt(3, 4, 2, 11)  # 8 bugs from a pool of 3: each trainee's two still differ
    assert all(len(set(bugs)) == 2 for bugs in twice.values())


def test_a_listing_is_sorted_and_reveals_only_those_with_bugs() -> None:
    table = {"maria": ("stale_stats",), "ivan": ("duplicate_event", "lost_update")}
    assert listing(table, {"ivan", "olga"}) == {
        "assignments": {"ivan": ["duplicate_event", "lost_update"], "maria": ["stale_stats"]},
        "revealed": ["ivan"],
    }
