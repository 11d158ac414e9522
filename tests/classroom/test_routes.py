"""The classroom's routes in the kit (web/classroom.py, qakit_trio.testing): who may call what,
the 422s that name the problem, the trainee's own view that never names a bug they have not
found, the CSV for grading, and what a finding may cost the live stand (413, 429, 503, a replay
over its limit).

A finding's replay runs in a worker thread: a test that waits for one keeps the real clock
(on `autojump_clock` the clock would jump while the thread works)."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing

from qakit_trio.classroom import replay
from qakit_trio.classroom.steps import Evidence, MakeApp, Verdict
from qakit_trio.testing import Stand, open_stand
from qakit_trio.web.classroom import MAX_FINDING_BYTES

from ..support.class_auth import AUTH, TEACHER, bearer, token_for
from ..support.timeouts import TIMEOUT

ECHO = {"conn": "a", "path": "/ws", "send": {"action": "echo", "request_id": "r"}}
DUPLICATE = {"steps": [ECHO], "wrong": {"step": 1, "frame": 4}}  # the echo's second event
ACK = {"steps": [ECHO], "wrong": {"step": 1, "frame": 1}}  # the same on every stand
PAYLOAD = json.dumps(ACK).encode()


async def call(
    stand: Stand, method: str, path: str, token: str | None = TEACHER, body: Any = None
) -> tuple[int, Any]:
    return await stand.request(method, path, json=body, headers=bearer(token))


async def raw(
    stand: Stand, path: str, token: str | None, data: bytes
) -> tuple[int, dict[str, str], str]:
    """A POST with its headers answered (the kit's `request` gives none)."""
    headers = {"Content-Type": "application/json", **bearer(token)}
    response = await stand.app.test_client().post(path, data=data, headers=headers)
    headers = {name.lower(): value for name, value in response.headers.items()}
    return response.status_code, headers, await response.get_data(as_text=True)


def problem(body: Any) -> tuple[list[Any], str]:
    return body["detail"][0]["loc"], body["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("path", "sent", "loc", "says"),
    [
        (
            "/lab/assignments",
            {"assignments": {"ivan": ["nope"]}},
            ["assignments", "ivan", 0],
            "'nope'",
        ),
        (
            "/lab/assignments",
            {"assignments": {"pyotr": []}},
            ["assignments", "pyotr"],
            "no trainee",
        ),
        (
            "/lab/assignments",
            {"assignments": {"teacher": []}},
            ["assignments", "teacher"],
            "teacher",
        ),
        (
            "/lab/assignments",
            {"assignments": {"ivan": ["stale_stats", "stale_stats"]}},
            ["assignments", "ivan", 1],
            "listed twice",
        ),
        ("/lab/assignments/shuffle", {"pool": []}, ["pool"], "the pool is empty"),
        ("/lab/assignments/shuffle", {"pool": ["nope"]}, ["pool", 0], "unknown bug 'nope'"),
        (
            "/lab/assignments/shuffle",
            {"pool": ["stale_stats"], "trainees": ["ivan", "ivan"]},
            ["trainees", 1],
            "listed twice",
        ),
        (
            "/lab/assignments/shuffle",
            {"pool": ["stale_stats"], "trainees": ["pyotr"]},
            ["trainees", 0],
            "no trainee 'pyotr'",
        ),
    ],
)
async def test_a_bad_table_or_deal_is_422_naming_the_problem(
    path: str, sent: dict[str, Any], loc: list[Any], says: str
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            await token_for(stand, "ivan")
            method = "PUT" if path == "/lab/assignments" else "POST"
            kept = {"assignments": {"ivan": ["duplicate_event"]}}
            assert (await call(stand, "PUT", "/lab/assignments", body=kept))[0] == 200
            status, body = await call(stand, method, path, body=sent)
            assert status == 422
            assert problem(body)[0] == ["body", *loc]
            assert says in problem(body)[1]
            assert (await call(stand, "GET", "/lab/assignments"))[1]["assignments"] == {
                "ivan": ["duplicate_event"]
            }  # a refused change changed nothing


async def test_a_table_is_set_dealt_revealed_and_cleared() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            for name in ("maria", "ivan", "olga"):
                await token_for(stand, name)
            pool = ["duplicate_event", "stale_stats", "lost_update"]
            deals = [
                await call(
                    stand, "POST", "/lab/assignments/shuffle", body={"pool": pool, "seed": 5}
                )
                for _ in range(2)
            ]
            assert deals[0] == deals[1]
            status, dealt = deals[0]
            assert (status, dealt["seed"], sorted(dealt["assignments"])) == (
                200,
                5,
                ["ivan", "maria", "olga"],  # everyone who has taken a token
            )
            assert sorted(bug for bugs in dealt["assignments"].values() for bug in bugs) == sorted(
                pool
            )
            unseeded = (await call(stand, "POST", "/lab/assignments/shuffle", body={"pool": pool}))[
                1
            ]
            assert isinstance(unseeded["seed"], int)
            table = {"assignments": {"ivan": ["stale_stats"], "maria": []}}
            assert (await call(stand, "PUT", "/lab/assignments", body=table))[1] == {
                "assignments": {"ivan": ["stale_stats"]},
                "revealed": [],
            }
            assert await call(stand, "POST", "/lab/assignments/ivan/reveal") == (
                200,
                {"name": "ivan", "bugs": ["stale_stats"], "revealed": True},
            )
            assert (await call(stand, "GET", "/lab/assignments"))[1]["revealed"] == ["ivan"]
            assert (await call(stand, "POST", "/lab/assignments/maria/reveal"))[0] == 404
            again = (await call(stand, "PUT", "/lab/assignments", body=table))[1]
            assert again["revealed"] == []  # a new table: nothing revealed yet
            cleared = await call(stand, "DELETE", "/lab/assignments")
            assert cleared == (200, {"assignments": {}, "revealed": []})
            assert stand.app.services.classroom.table == {}


async def test_bugs_per_trainee_need_auth(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand:
        put = await call(stand, "PUT", "/lab/assignments", None, {"assignments": {}})
        dealt = await call(
            stand, "POST", "/lab/assignments/shuffle", None, {"pool": ["lost_update"]}
        )
        for status, body in (put, dealt):
            assert status == 409
            assert "QAKIT_AUTH=on" in body["detail"]
        assert await call(stand, "GET", "/lab/assignments", None) == (
            200,
            {"assignments": {}, "revealed": []},
        )


TEACHERS_ONLY = [
    ("GET", "/lab/assignments"),
    ("PUT", "/lab/assignments"),
    ("DELETE", "/lab/assignments"),
    ("POST", "/lab/assignments/shuffle"),
    ("POST", "/lab/assignments/ivan/reveal"),
    ("GET", "/lab/findings"),
    ("DELETE", "/lab/findings"),
    ("GET", "/lab/findings.csv"),
    ("GET", "/lab/classroom"),
]


async def test_a_trainee_may_not_call_the_teachers_routes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        ivan = await token_for(stand, "ivan")
        table = {"assignments": {"ivan": ["stale_stats"]}}
        assert (await call(stand, "PUT", "/lab/assignments", body=table))[0] == 200
        for method, path in TEACHERS_ONLY:
            body = table if method == "PUT" else {"pool": ["stale_stats"]}
            assert (await call(stand, method, path, ivan, body))[0] == 403, path
            assert (await call(stand, method, path, None, body))[0] == 401, path
        for method, path in (("GET", "/lab/findings/mine"), ("POST", "/lab/findings")):
            assert (await call(stand, method, path, None, ACK))[0] == 401, path
        # nothing the trainee tried changed the table
        assert stand.app.services.classroom.table == {"ivan": ("stale_stats",)}
        assert stand.app.services.classroom.revealed == set()
        assert (await call(stand, "GET", "/lab/classroom"))[0] == 200


async def test_a_trainee_sees_only_their_own_and_no_bug_they_have_not_found() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan, maria = await token_for(stand, "ivan"), await token_for(stand, "maria")
            table = {"assignments": {"ivan": ["duplicate_event", "stale_stats"]}}
            await call(stand, "PUT", "/lab/assignments", body=table)
            before = await call(stand, "GET", "/lab/findings/mine", ivan)
            assert before == (
                200,
                {"name": "ivan", "findings": [], "bugs": [], "assigned": 2, "found": []},
            )
            status, confirmed = await call(stand, "POST", "/lab/findings", ivan, DUPLICATE)
            assert (status, confirmed["status"], confirmed["bug"]) == (
                201,
                "confirmed",
                "duplicate_event",
            )
            status, theirs = await call(stand, "POST", "/lab/findings", maria, DUPLICATE)
            assert (status, theirs["status"], "bug" in theirs) == (201, "not_reproduced", False)
            mine = (await call(stand, "GET", "/lab/findings/mine", ivan))[1]
            assert [f["id"] for f in mine["findings"]] == [confirmed["id"]]
            assert (mine["bugs"], mine["found"], mine["assigned"]) == (
                ["duplicate_event"],
                ["duplicate_event"],
                2,
            )
            for answer in (mine, confirmed, before[1]):
                assert "stale_stats" not in repr(answer)  # not found, not revealed
            hers = (await call(stand, "GET", "/lab/findings/mine", maria))[1]
            assert [f["trainee"] for f in hers["findings"]] == ["maria"]
            assert (hers["bugs"], hers["assigned"]) == ([], 0)
            every = (await call(stand, "GET", "/lab/findings"))[1]["findings"]
            assert [f["trainee"] for f in every] == ["ivan", "maria"]
            await call(stand, "POST", "/lab/assignments/ivan/reveal")
            revealed = (await call(stand, "GET", "/lab/findings/mine", ivan))[1]
            assert revealed["bugs"] == ["duplicate_event", "stale_stats"]
            board = (await call(stand, "GET", "/lab/classroom"))[1]["people"]
            row = next(person for person in board if person["name"] == "ivan")
            assert (row["progress"], row["confirmed"], row["revealed"]) == ("1/2", 1, True)


async def test_the_csv_never_hands_a_spreadsheet_a_formula() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            sent = {**ACK, "expected": '=HYPERLINK("http://evil","x")', "actual": "plain"}
            assert (await call(stand, "POST", "/lab/findings", ivan, sent))[0] == 201
            sent = {**ACK, "expected": "@SUM(A1)", "actual": "-1+2"}
            assert (await call(stand, "POST", "/lab/findings", ivan, sent))[0] == 201
            status, text = await call(stand, "GET", "/lab/findings.csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert status == 200
    assert rows[0] == [
        "id",
        "at",
        "trainee",
        "status",
        "bug",
        "step",
        "target",
        "expected",
        "actual",
    ]
    assert [(row[2], row[3], row[5], row[6]) for row in rows[1:]] == [
        ("ivan", "not_reproduced", "1", "frame 1")
    ] * 2
    assert [(row[7], row[8]) for row in rows[1:]] == [
        ('\'=HYPERLINK("http://evil","x")', "plain"),
        ("'@SUM(A1)", "'-1+2"),
    ]


async def test_an_oversized_finding_is_413_before_it_is_read() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            big = b'{"steps": [], "expected": "' + b"x" * MAX_FINDING_BYTES + b'"}'
            status, _, text = await raw(stand, "/lab/findings", ivan, big)
            assert status == 413
            assert f"larger than {MAX_FINDING_BYTES} bytes" in text
            assert stand.app.services.classroom.findings == []


async def test_findings_past_the_burst_are_429_with_retry_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        ivan, maria = await token_for(stand, "ivan"), await token_for(stand, "maria")
        answers = [await raw(stand, "/lab/findings", ivan, b"{}") for _ in range(6)]
        assert [status for status, _, _ in answers] == [422] * 5 + [429]
        assert answers[-1][1]["retry-after"] == "5"  # one finding every 5 s
        assert (await raw(stand, "/lab/findings", maria, b"{}"))[0] == 422  # her own bucket
        await trio.sleep(int(answers[-1][1]["retry-after"]))  # the wait it was told (virtual)
        assert (await raw(stand, "/lab/findings", ivan, b"{}"))[0] == 422


async def test_findings_past_the_waiting_line_are_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first finding's replay is held (a judge that waits), four wait for their turn; the
    next one is told to come back, and the five are judged once the first lets go."""
    release = threading.Event()

    def held(make_app: MakeApp, evidence: Evidence, bugs: Sequence[str]) -> Verdict:
        release.wait(TIMEOUT)
        return Verdict(False, None, None, None, "held")

    monkeypatch.setattr(replay, "judge", held)  # before the app binds it
    statuses: list[int] = []
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan, maria = await token_for(stand, "ivan"), await token_for(stand, "maria")

            async def finding() -> None:
                statuses.append((await call(stand, "POST", "/lab/findings", ivan, ACK))[0])

            async with trio.open_nursery() as nursery:
                try:  # (the held replays end before the nursery waits for them)
                    for _ in range(5):
                        nursery.start_soon(finding)
                    await trio.testing.wait_all_tasks_blocked()
                    status, headers, text = await raw(stand, "/lab/findings", maria, PAYLOAD)
                    assert (status, headers["retry-after"]) == (503, "2")
                    assert "try again" in text
                    assert statuses == []
                finally:
                    release.set()
            assert statuses == [201] * 5
            assert (await call(stand, "POST", "/lab/findings", maria, ACK))[0] == 201


async def test_a_replay_over_its_limit_is_422_and_the_stand_keeps_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, stand.connect("/ws?channel=room") as ws:
            await ws.receive_json()  # the hello
            monkeypatch.setattr(replay, "REPLAY_SECONDS", 0.0)
            status, body = await call(stand, "POST", "/lab/findings", None, ACK)
            assert status == 422
            assert body["detail"][0]["type"] == "replay_limit"
            assert body["detail"][0]["loc"] == ["body", "steps"]
            assert stand.app.services.classroom.findings == []  # nothing kept
            await ws.send_json({"action": "echo", "request_id": "still"})
            frames = [await ws.receive_json() for _ in range(3)]
            assert [(f["type"], f["request_id"]) for f in frames] == [
                ("ack", "still"),
                ("echo", "still"),
                ("event", "still"),
            ]
            monkeypatch.setattr(replay, "REPLAY_SECONDS", 5.0)
            assert (await call(stand, "POST", "/lab/findings", None, ACK))[0] == 201
            assert (await stand.request("GET", "/health"))[1]["status"] == "ok"
