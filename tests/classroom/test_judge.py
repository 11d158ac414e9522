"""How the replay names a finding's bug (classroom/replay.py `judge`), on fake twins: the
naming logic alone, without a stand."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from qakit_trio.app import twin_factory
from qakit_trio.classroom import replay
from qakit_trio.classroom.replay import Replies
from qakit_trio.classroom.steps import MakeApp, Step, parse_evidence, parse_steps
from qakit_trio.config import load_settings

EVIDENCE = parse_evidence(
    {"steps": [{"http": "GET", "path": "/stats"}], "wrong": {"step": 1, "frame": 1}}
)


def no_app(settings: object, kafka: object) -> None:
    raise AssertionError("a fake twin builds no app")


def fake_twins(monkeypatch: pytest.MonkeyPatch, changed_by: set[frozenset[str]]) -> None:
    """A twin's reply to step 1 is "wrong" when its set of bugs holds one of `changed_by`."""

    def run_twin(
        make_app: MakeApp, steps: Sequence[Step], bugs: Sequence[str], deadline: float
    ) -> Replies:
        replies = Replies.of(len(steps))
        wrong = any(needed <= set(bugs) for needed in changed_by)
        replies.frames[0].append({"status": 200, "body": "wrong" if wrong else "right"})
        return replies

    monkeypatch.setattr(replay, "run_twin", run_twin)


def test_one_bug_that_changes_the_reply_alone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_twins(monkeypatch, {frozenset({"stale_stats"})})
    verdict = replay.judge(no_app, EVIDENCE, ["duplicate_event", "stale_stats", "lost_update"])
    assert verdict.confirmed
    assert verdict.bug == "stale_stats"


def test_bugs_that_change_it_only_together_are_named_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two of the trainee's three bugs change the reply together: those two are named, and the
    third, which the finding does not prove, is not (it would tell the trainee its name)."""
    fake_twins(monkeypatch, {frozenset({"stale_stats", "lost_update"})})
    verdict = replay.judge(no_app, EVIDENCE, ["duplicate_event", "stale_stats", "lost_update"])
    assert verdict.confirmed
    assert verdict.bug == "stale_stats+lost_update"


def test_a_reply_no_bug_changes_is_not_reproduced(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_twins(monkeypatch, set())
    verdict = replay.judge(no_app, EVIDENCE, ["duplicate_event"])
    assert not verdict.confirmed
    assert verdict.bug is None
    assert verdict.clean == verdict.buggy == {"status": 200, "body": "right"}


def test_a_reply_that_differs_on_every_replay_proves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply that is not the same on two clean replays (e.g. a wall-clock time) would
    "confirm" any finding and name the trainee's bug: it is not_reproduced instead."""
    runs = iter(range(100))

    def run_twin(
        make_app: MakeApp, steps: Sequence[Step], bugs: Sequence[str], deadline: float
    ) -> Replies:
        replies = Replies.of(len(steps))
        replies.frames[0].append({"status": 200, "body": {"uptime": next(runs)}})
        return replies

    monkeypatch.setattr(replay, "run_twin", run_twin)
    verdict = replay.judge(no_app, EVIDENCE, ["stale_stats"])
    assert not verdict.confirmed
    assert verdict.bug is None
    assert replay.UNSTABLE in verdict.detail


def test_a_twin_is_the_live_stand_s_settings_without_its_outside_world() -> None:
    """The twins answer as the stand the trainee used (its profile, its default channel), with
    no database, Kafka or identities of its own."""
    steps = parse_steps(
        [{"conn": "a", "path": "/ws", "send": {"action": "echo", "request_id": "r"}}]
    )
    live = load_settings(
        {
            "QAKIT_PROFILE": "qa_kit",
            "WS_DEFAULT_CHANNEL": "lobby",
            "QAKIT_AUTH": "on",
            "QAKIT_TEACHER_TOKEN": "t" * 16,
            "QAKIT_CLASS_CODE": "abcd",
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        }
    )
    replies = replay.run_twin(twin_factory(live), steps, (), time.monotonic() + 5)
    event = replies.frames[0][-1]
    assert event["type"] == "event"
    assert "event_id" not in event  # the qa_kit profile's event frame (the original's)
    assert [record["key"] for record in replies.records[0]] == ["lobby"]  # kept, not sent
