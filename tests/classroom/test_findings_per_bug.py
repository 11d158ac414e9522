"""Findings proved by replay, bug by bug (issue 26, "Done when"): for every bug of the catalogue
a recorded finding (scenarios.py) is confirmed and names that bug, alone or next to another
bug; a fabricated one, pointing at a reply the bug does not change, is not reproduced."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qakit_trio.app import twin_factory
from qakit_trio.classroom.replay import judge
from qakit_trio.classroom.steps import normalized, parse_evidence
from qakit_trio.config import Settings
from qakit_trio.lab.bugs import ASSIGNABLE
from qakit_trio.testing import open_stand

from ..support.class_auth import AUTH, CODE, TEACHER, bearer
from ..support.timeouts import TIMEOUT
from .scenarios import SCENARIOS

# The twins with a bug on break the contract on purpose (their frames are not checked).
pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")
EVERY_BUG = pytest.mark.parametrize("bug", sorted(ASSIGNABLE))  # (the cluster's: one twin)

TWIN = twin_factory(Settings())  # the replay twins of a default stand


def partner(bug: str) -> str:
    """A second bug that changes nothing the scenario of `bug` points at."""
    return "missing_order_is_200" if bug != "missing_order_is_200" else "ack_after_data"


@EVERY_BUG
def test_the_recorded_finding_is_confirmed_and_names_its_bug(bug: str) -> None:
    scenario = SCENARIOS[bug]
    verdict = judge(TWIN, parse_evidence(scenario.finding()), [bug])
    assert (verdict.confirmed, verdict.bug) == (True, bug), verdict.detail
    assert normalized(verdict.clean) != normalized(verdict.buggy)


@EVERY_BUG
def test_the_fabricated_finding_is_not_reproduced(bug: str) -> None:
    scenario = SCENARIOS[bug]
    verdict = judge(TWIN, parse_evidence(scenario.finding(scenario.fabricated)), [bug])
    assert (verdict.confirmed, verdict.bug) == (False, None)
    assert verdict.clean is not None  # a reply that exists, the same on both twins
    assert normalized(verdict.clean) == normalized(verdict.buggy)
    assert "is the same on a clean stand" in verdict.detail


@EVERY_BUG
def test_with_two_bugs_the_one_that_changed_the_reply_is_named(bug: str) -> None:
    other = partner(bug)
    scenario = SCENARIOS[bug]
    verdict = judge(TWIN, parse_evidence(scenario.finding()), [other, bug])
    assert (verdict.confirmed, verdict.bug) == (True, bug), verdict.detail
    fabricated = judge(TWIN, parse_evidence(scenario.finding(scenario.fabricated)), [other, bug])
    assert not fabricated.confirmed


def test_the_partner_alone_changes_nothing_the_scenarios_point_at() -> None:
    """(What makes the test above meaningful: the other bug alone is not reproduced.)"""
    for bug in ("ack_after_data", "list_orders_off_by_one"):
        verdict = judge(TWIN, parse_evidence(SCENARIOS[bug].finding()), [partner(bug)])
        assert not verdict.confirmed, bug


async def test_a_trainee_posts_the_recorded_finding_and_it_is_confirmed() -> None:
    """Through the route: a trainee with an assigned bug (auth on) posts the recorded steps:
    201, confirmed, naming the bug; the fabricated pointer: 201, not reproduced."""
    bug = "list_orders_off_by_one"
    scenario = SCENARIOS[bug]
    with trio.fail_after(TIMEOUT):  # real time: the replay runs in a worker thread
        async with open_stand(AUTH) as kit:
            status, given = await kit.request(
                "POST", "/auth/token", {"name": "ivan", "class_code": CODE}
            )
            assert status == 200, given
            token = given["token"]
            status, table = await kit.request(
                "PUT", "/lab/assignments", {"assignments": {"ivan": [bug]}}, bearer(TEACHER)
            )
            assert (status, table["assignments"]) == (200, {"ivan": [bug]})
            answers: list[tuple[int, Any]] = []
            for wrong in (scenario.wrong, scenario.fabricated):
                answers.append(
                    await kit.request(
                        "POST", "/lab/findings", scenario.finding(wrong), bearer(token)
                    )
                )
            mine = await kit.request("GET", "/lab/findings/mine", headers=bearer(token))
    (status, confirmed), (status_2, fabricated) = answers
    assert (status, confirmed["status"], confirmed["bug"], confirmed["trainee"]) == (
        201,
        "confirmed",
        bug,
        "ivan",
    )
    assert confirmed["wrong"] == scenario.wrong
    assert len(confirmed["clean"]["data"]) == 3
    assert len(confirmed["buggy"]["data"]) == 2
    assert (status_2, fabricated["status"], fabricated.get("bug")) == (201, "not_reproduced", None)
    assert mine[0] == 200
    assert [f["status"] for f in mine[1]["findings"]] == ["confirmed", "not_reproduced"]
    assert mine[1]["found"] == [bug]
