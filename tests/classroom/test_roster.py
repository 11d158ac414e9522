"""The roster and the findings as instances share them (classroom/roster.py, classroom.py
`merged`), without a database: what a follow round tells the others, what it takes in from
them, and how findings another instance added or cleared are merged."""

from __future__ import annotations

from datetime import UTC, datetime

from qakit_trio.classroom.classroom import merged
from qakit_trio.classroom.roster import STEP, Roster
from qakit_trio.classroom.tables import Finding


def test_a_person_seen_here_is_told_once_then_again_only_a_step_later() -> None:
    roster = Roster("a")
    roster.saw("ivan", "trainee", 100.0)
    news = roster.news()
    assert news == [("ivan", "trainee", 100.0, 100.0, "a")]
    roster.told(news)
    roster.saw("ivan", "trainee", 100.0 + STEP / 2)
    assert roster.news() == []  # idle times may be a step late; rows are not one per request
    roster.saw("ivan", "trainee", 100.0 + STEP)
    assert roster.news() == [("ivan", "trainee", 100.0, 100.0 + STEP, "a")]


def test_what_the_others_saw_is_merged_and_never_told_back() -> None:
    roster = Roster("a")
    roster.saw("ivan", "trainee", 110.0)
    roster.heard([("ivan", "trainee", 90.0, 101.0, "b"), ("maria", "trainee", 95.0, 99.0, "c")])
    ivan, maria = roster.people["ivan"], roster.people["maria"]
    assert (ivan.first, ivan.last, ivan.instance) == (90.0, 110.0, None)  # seen here last
    assert (maria.first, maria.last, maria.instance) == (95.0, 99.0, "c")
    # ivan's sighting here is a step newer than theirs; maria is not ours to tell
    assert roster.news() == [("ivan", "trainee", 90.0, 110.0, "a")]
    roster.saw("oleg", "trainee", 100.0)
    roster.heard([("oleg", "trainee", 100.0, 103.0, "b")])  # they know a newer sighting
    assert [person[0] for person in roster.news()] == ["ivan"]
    roster.heard([("ivan", "teacher", 90.0, 120.0, "b")])
    assert (ivan.last, ivan.role, ivan.instance) == (120.0, "teacher", "b")  # the latest wins
    assert roster.news() == []
    roster.heard([("ivan", "teacher", 90.0, 130.0, "a")])  # our own sighting, read back
    assert (ivan.last, ivan.instance, roster.news()) == (130.0, None, [])


def test_the_roster_keeps_its_limit_by_dropping_the_longest_idle() -> None:
    roster = Roster("a", limit=2)
    roster.saw("ivan", "trainee", 1.0)
    roster.heard([("maria", "trainee", 2.0, 2.0, "b")])
    roster.saw("oleg", "trainee", 3.0)
    assert sorted(roster.people) == ["maria", "oleg"]
    roster.heard([("pyotr", "trainee", 4.0, 4.0, "b")])
    assert sorted(roster.people) == ["oleg", "pyotr"]


def finding(finding_id: int, trainee: str = "ivan") -> Finding:
    return Finding(finding_id, trainee, datetime(2025, 1, 1, tzinfo=UTC), "confirmed", None, {})


def test_findings_added_elsewhere_take_their_place_and_cleared_ones_go() -> None:
    here = [finding(1), finding(3)]
    assert merged(here, frozenset({1, 2, 3}), [finding(2, "maria")]) == [
        here[0],
        finding(2, "maria"),
        here[1],
    ]
    assert merged(here, frozenset(), []) == []  # cleared on another instance
    assert merged(here, frozenset({4}), [finding(4)]) == [finding(4)]  # cleared, then one more
