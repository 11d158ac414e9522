"""The answer key's recorded findings (docs/lab-answer-key.md, "Findings that are confirmed")
are what it says: one per bug of the catalogue, each confirmed naming that bug when replayed
for a trainee who has it, not reproduced for one who has none; and its fabricated example is
not reproduced. The block is replayed as printed, so the page cannot rot."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qakit_trio.app import twin_factory
from qakit_trio.classroom import replay
from qakit_trio.classroom.steps import parse_evidence
from qakit_trio.config import Settings
from qakit_trio.lab.bugs import ASSIGNABLE, CLUSTER_BUGS, NAMES

# the buggy twins break the contract on purpose (their frames are not checked: conftest.py)
pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")
KEY = Path(__file__).resolve().parents[2] / "docs" / "lab-answer-key.md"


twin = twin_factory(Settings())  # the replay twins of a default stand


def recorded(text: str | None = None) -> dict[str, Any]:
    """The findings block of the answer key: bug -> {"steps", "wrong"}."""
    text = KEY.read_text() if text is None else text
    section = text[text.index("## Findings that are confirmed") :]
    block = re.search(r"^```json\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block is not None, "no ```json block in the findings section"
    found: dict[str, Any] = json.loads(block[1])
    return found


def test_the_key_records_a_finding_for_every_assignable_bug() -> None:
    assert sorted(recorded()) == sorted(ASSIGNABLE)
    # the rest are the cluster's, found across instances (tests/cluster/test_cluster_bugs.py)
    assert set(NAMES) - ASSIGNABLE == CLUSTER_BUGS


@pytest.mark.parametrize("bug", sorted(ASSIGNABLE))
def test_each_recorded_finding_is_confirmed_with_its_bug_and_not_without(bug: str) -> None:
    evidence = parse_evidence(recorded()[bug])
    verdict = replay.judge(twin, evidence, (bug,))
    assert (verdict.confirmed, verdict.bug) == (True, bug), verdict.detail
    assert verdict.clean != verdict.buggy
    clean = replay.judge(twin, evidence, ())
    assert (clean.confirmed, clean.bug) == (False, None)


def test_the_fabricated_example_is_not_reproduced() -> None:
    fabricated = {**recorded()["ack_after_data"], "wrong": {"step": 1, "frame": 3}}
    verdict = replay.judge(twin, parse_evidence(fabricated), ("ack_after_data",))
    assert not verdict.confirmed
    assert (
        verdict.detail == "step 1, frame 3 is the same on a clean stand (ts and server ids aside)"
    )
    assert verdict.detail in " ".join(KEY.read_text().split())


def test_a_wrong_pointer_in_the_key_would_be_seen() -> None:
    """The check can fail: the duplicate_event finding pointing at the event itself (frame 3,
    there on both twins) is not confirmed."""
    text = KEY.read_text().replace(
        '"request_id": "r1", "payload": {}}}\n  ], "wrong": {"step": 1, "frame": 4}}',
        '"request_id": "r1", "payload": {}}}\n  ], "wrong": {"step": 1, "frame": 3}}',
    )
    assert text != KEY.read_text()
    evidence = parse_evidence(recorded(text)["duplicate_event"])
    assert not replay.judge(twin, evidence, ("duplicate_event",)).confirmed
