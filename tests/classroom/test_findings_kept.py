"""What the stand keeps of findings, and what they may cost it (web/classroom.py): replies
kept up to MAX_REPLY_CHARS, the board without the replies, the teacher's DELETE, and the
replays' share of the stand's time (classroom/budget.py: 503 past it).

A finding's replay runs in a worker thread: these tests keep the real clock (on
`autojump_clock` the clock would jump while the thread works)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import trio

from qakit_trio.classroom import replay
from qakit_trio.classroom.budget import ReplayBudget
from qakit_trio.classroom.steps import Evidence, MakeApp, Verdict
from qakit_trio.testing import open_stand
from qakit_trio.web import classroom as routes
from qakit_trio.web.classroom import MAX_REPLY_CHARS

from ..support.class_auth import AUTH, token_for
from ..support.timeouts import TIMEOUT
from .test_routes import ACK, DUPLICATE, call

BIG = {"status": 200, "body": [{"id": n, "customer": "x" * 40} for n in range(200)]}


async def test_a_long_reply_is_kept_cut_and_the_board_shows_no_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def judge(make_app: MakeApp, evidence: Evidence, bugs: Sequence[str]) -> Verdict:
        return Verdict(True, "list_orders_off_by_one", BIG, {"status": 200}, "differs")

    monkeypatch.setattr(replay, "judge", judge)  # before the app binds it
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            status, finding = await call(stand, "POST", "/lab/findings", ivan, ACK)
            assert status == 201
            assert finding["buggy"] == {"status": 200}  # short: whole
            kept = finding["clean"]
            assert kept["truncated"] is True
            assert kept["json"] == json.dumps(BIG)[:MAX_REPLY_CHARS]
            mine = (await call(stand, "GET", "/lab/findings/mine", ivan))[1]["findings"]
            assert mine[0]["clean"] == kept
            every = (await call(stand, "GET", "/lab/findings"))[1]["findings"]
            assert every == [{k: v for k, v in finding.items() if k not in ("clean", "buggy")}]
            whole = await call(stand, "GET", "/lab/findings?trainee=ivan")
            assert whole == (200, {"findings": [finding]})
            assert await call(stand, "GET", "/lab/findings?trainee=maria") == (
                200,
                {"findings": []},
            )
            board = (await call(stand, "GET", "/lab/classroom"))[1]["people"]
            row = next(person for person in board if person["name"] == "ivan")
            assert row["findings"] == [
                {
                    "id": finding["id"],
                    "at": finding["at"],
                    "status": "confirmed",
                    "bug": "list_orders_off_by_one",
                    "wrong": {"step": 1, "frame": 1},
                }
            ]
            assert [person["name"] for person in board] == ["ivan"]  # (not the teacher)


async def test_the_teacher_clears_every_finding() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            await call(
                stand,
                "PUT",
                "/lab/assignments",
                body={"assignments": {"ivan": ["duplicate_event"]}},
            )
            assert (await call(stand, "POST", "/lab/findings", ivan, DUPLICATE))[0] == 201
            assert (await call(stand, "DELETE", "/lab/findings", ivan))[0] == 403
            assert len((await call(stand, "GET", "/lab/findings"))[1]["findings"]) == 1
            assert await call(stand, "DELETE", "/lab/findings") == (200, {"findings": []})
            assert (await call(stand, "GET", "/lab/findings"))[1] == {"findings": []}
            mine = (await call(stand, "GET", "/lab/findings/mine", ivan))[1]
            assert (mine["findings"], mine["found"], mine["bugs"]) == ([], [], [])
            assert (await call(stand, "GET", "/lab/findings.csv"))[1].count("\n") == 1  # the head


async def test_replays_past_their_share_of_the_time_are_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replays may take half of any 20 s; a finding past that is told when to come back."""
    replay_budget = ReplayBudget()
    monkeypatch.setattr(routes, "ReplayBudget", lambda: replay_budget)  # before the app makes it
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            now = trio.current_time()
            replay_budget.spend(now, 10.0)  # ten seconds of replay just ended
            status, body = await call(stand, "POST", "/lab/findings", ivan, ACK)
            assert status == 503
            assert "try again" in body["detail"]
            assert stand.app.services.classroom.findings == []
