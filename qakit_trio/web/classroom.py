"""The classroom's routes (classroom/): bugs per trainee, findings proved by replay, the board.

    GET | PUT | DELETE /lab/assignments       teacher  {"assignments": {name: [bug]}, "revealed"}
    POST /lab/assignments/shuffle             teacher  deal bugs from a pool (assignments.py)
    POST /lab/assignments/NAME/reveal         teacher  show NAME their bugs on /me
    POST /lab/findings                        anyone signed in: a finding, judged by replay
    GET  /lab/findings/mine                   its author: their findings, what /me shows
    GET  /lab/findings | /lab/findings.csv    teacher  every finding (CSV: for grading)
    DELETE /lab/findings                      teacher  every finding gone (a new class)
    GET  /lab/classroom                       teacher  the board's data (/classroom): one row
                                                       per trainee, with the instance they are on
                                                       (QAKIT_CLUSTER=kafka: every instance's)

Assignments need QAKIT_AUTH=on (without names there is no one to give a bug to: 409). Findings
work either way (QAKIT_AUTH=off: everyone is one anonymous trainee with the stand-wide bugs).

What a finding costs the others: its body is at most MAX_FINDING_BYTES (413), its steps are
checked before anything runs (422), each author may send FINDINGS_RATE (429 with
Retry-After), replays run one at a time in a worker thread with a wall-clock limit (422 when a
replay is over it), at most MAX_WAITING findings wait for theirs, and replays take at most half
of any 20 seconds (classroom/budget.py; both 503 with Retry-After). A finding keeps each of its
two replies up to MAX_REPLY_CHARS of JSON.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import trio
from quart import Response, g, request
from quart_trio import QuartTrio

from qakit_trio import logs
from qakit_trio.auth.limits import Limiter, RateLimit
from qakit_trio.auth.users import User
from qakit_trio.classroom.assignments import AssignmentError, deal, listing, parse_deal, parse_table
from qakit_trio.classroom.budget import ReplayBudget
from qakit_trio.classroom.steps import (
    MAX_WAITING,
    Evidence,
    ReplayTooLong,
    StepError,
    Verdict,
    parse_evidence,
)
from qakit_trio.errors import StoreError
from qakit_trio.services import Services
from qakit_trio.web import bodies, http_errors
from qakit_trio.web.http_errors import HttpError

log = logging.getLogger(__name__)

Judge = Callable[[Evidence, Sequence[str]], Verdict]  # replay.judge with the app's factory
MAX_FINDING_BYTES = 256 * 1024  # 200 steps of about a kilobyte each, with room
FINDINGS_RATE = RateLimit(rate=0.2, burst=5)  # per author: 5 at once, then one every 5 s
MAX_TABLE_BYTES = 64 * 1024  # a table or a deal: 500 trainees of a few bugs each
MAX_REPLY_CHARS = 4 * 1024  # of each reply a finding keeps (200 of them per trainee)
CSV_FIELDS = ("id", "at", "trainee", "status", "bug", "step", "target", "expected", "actual")


def register_classroom(app: QuartTrio, services: Services, judge: Judge) -> None:
    classroom = services.classroom
    auth = services.identities.on
    limiter = Limiter(FINDINGS_RATE)
    replays = trio.CapacityLimiter(1)  # one replay at a time: it holds the GIL while it runs
    budget = ReplayBudget()

    def user() -> User | None:
        found: User | None = g.get("user")
        return found

    def needs_teacher() -> None:
        reader = user()
        if auth and (reader is None or not reader.is_teacher):
            raise HttpError(403, {"detail": "every finding is the teacher's"})

    def needs_auth() -> None:
        if not auth:
            raise HttpError(
                409, {"detail": "bugs per trainee need QAKIT_AUTH=on: trainees have no names"}
            )

    @app.get("/lab/assignments")
    async def get_assignments() -> dict[str, Any]:
        return listing(classroom.table, classroom.revealed)

    @app.put("/lab/assignments")
    async def put_assignments() -> dict[str, Any]:
        needs_auth()
        body = await bodies.json_object(max_bytes=MAX_TABLE_BYTES)
        table = _checked(lambda: parse_table(body, classroom.trainees()))
        with saving():
            await classroom.assign(table)
        log.warning("lab assignments changed", extra={"fields": {"trainees": len(table)}})
        return listing(classroom.table, classroom.revealed)

    @app.delete("/lab/assignments")
    async def clear_assignments() -> dict[str, Any]:
        with saving():
            await classroom.assign({})
        log.warning("lab assignments cleared")
        return listing(classroom.table, classroom.revealed)

    @app.post("/lab/assignments/shuffle")
    async def shuffle() -> dict[str, Any]:
        needs_auth()
        body = await bodies.json_object(max_bytes=MAX_TABLE_BYTES)
        spec = _checked(lambda: parse_deal(body, classroom.trainees(), secrets.randbits(31)))
        table = deal(spec)
        with saving():
            await classroom.assign(table)
        log.warning(
            "lab assignments dealt",
            extra={"fields": {"trainees": len(table), "seed": spec.seed}},
        )
        return {**listing(classroom.table, classroom.revealed), "seed": spec.seed}

    @app.post("/lab/assignments/<name>/reveal")
    async def reveal(name: str) -> dict[str, Any]:
        with saving():
            revealed = await classroom.reveal(name)
        if not revealed:
            raise HttpError(404, {"detail": f"{name!r} has no bugs to reveal"})
        return {"name": name, "bugs": list(classroom.table[name]), "revealed": True}

    @app.post("/lab/findings")
    async def post_finding() -> tuple[dict[str, Any], int]:
        author = user()
        key = f"user:{author.name}" if author is not None else f"anonymous:{request.remote_addr}"
        allowed = limiter.take(key, trio.current_time())
        if not allowed.allowed:
            retry = str(max(1, math.ceil(allowed.retry_after)))
            raise HttpError(429, {"detail": "too many findings: wait"}, {"Retry-After": retry})
        name = None if author is None else author.name
        if (full := classroom.room_for(name)) is not None:
            raise HttpError(409, {"detail": full})
        body = await bodies.json_object(max_bytes=MAX_FINDING_BYTES)
        try:
            evidence = parse_evidence(body)
        except StepError as error:
            raise http_errors.invalid(
                http_errors.refused_value(["body", *error.loc], None, str(error))
            ) from None
        busy = {"detail": "other findings are being replayed: try again"}
        if replays.statistics().tasks_waiting >= MAX_WAITING:
            raise HttpError(503, busy, {"Retry-After": "2"})
        if wait := budget.retry_after(trio.current_time()):
            raise HttpError(503, busy, {"Retry-After": str(wait)})
        bugs = services.lab.bug_names(name)
        try:
            async with replays:
                started = trio.current_time()
                try:  # (a thread cannot be cancelled: a cancel waits for it, REPLAY_SECONDS)
                    verdict = await trio.to_thread.run_sync(judge, evidence, bugs)
                finally:
                    ended = trio.current_time()
                    budget.spend(ended, ended - started)
        except ReplayTooLong:
            raise http_errors.invalid(
                http_errors.problem(
                    "replay_limit",
                    ["body", "steps"],
                    "the replay took longer than the stand allows: send fewer steps",
                    None,
                )
            ) from None
        status = "confirmed" if verdict.confirmed else "not_reproduced"
        finding_body = {
            "wrong": evidence.wrong.as_json(),
            "expected": evidence.expected,
            "actual": evidence.actual,
            "clean": _kept(verdict.clean),
            "buggy": _kept(verdict.buggy),
            "detail": verdict.detail,
            "steps": len(evidence.steps),
        }
        with saving():
            finding = await classroom.add_finding(name, status, verdict.bug, finding_body)
        logs.info(
            log,
            "finding judged",
            user=name,
            finding_id=finding.id,
            verdict=status,
            bug=verdict.bug,
        )
        return finding.as_json(), 201

    @app.get("/lab/findings/mine")
    async def my_findings() -> dict[str, Any]:
        author = user()
        name = None if author is None else author.name
        shown = [] if name is None else classroom.shown_to(name)
        return {
            "name": name,
            "findings": [finding.as_json() for finding in classroom.mine(name)],
            "bugs": shown,  # never a bug they have not found, until the teacher reveals them
            "assigned": 0 if name is None else len(classroom.table.get(name, ())),
            "found": [] if name is None else classroom.found(name),
        }

    @app.get("/lab/findings")
    async def all_findings() -> dict[str, Any]:
        """Every finding without its two replies (20,000 of them could be 160 MB), or, with
        `?trainee=NAME`, NAME's whole."""
        needs_teacher()
        trainee = request.args.get("trainee")
        if trainee is not None:
            return {"findings": [finding.as_json() for finding in classroom.mine(trainee)]}
        return {"findings": [finding.without_replies() for finding in classroom.findings]}

    @app.delete("/lab/findings")
    async def clear_findings() -> dict[str, Any]:
        needs_teacher()
        with saving():
            await classroom.clear_findings()
        log.warning("lab findings cleared")
        return {"findings": []}

    @app.get("/lab/findings.csv")
    async def findings_csv() -> Response:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for finding in classroom.findings:
            wrong = finding.body.get("wrong", {})
            target = next((key for key in wrong if key != "step"), "")
            row = [
                finding.id,
                finding.at.isoformat(),
                finding.trainee or "",
                finding.status,
                finding.bug or "",
                wrong.get("step", ""),
                f"{target} {wrong.get(target, '')}".strip(),
                finding.body.get("expected", ""),
                finding.body.get("actual", ""),
            ]
            writer.writerow([_cell(value) for value in row])
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
        )

    @app.get("/lab/classroom")
    async def board() -> dict[str, Any]:
        here = services.settings.instance_id
        now = trio.current_time()
        connections = [
            (member.user, now - member.last_heard, here)
            for hub in (services.hub, services.legacy_hub)
            for member in hub.members()
            if member.user is not None
        ]
        if services.cluster is not None:  # the other live instances' (their last heartbeat)
            connections += [
                (member.user, member.idle_s, member.instance)
                for member in services.cluster.remote_members()
                if member.user is not None
            ]
        return {
            "auth": auth,
            "instance": here,
            "stand_bugs": services.bugs.enabled(),
            "tables": classroom.tables.health(),
            "people": classroom.board(connections, services.identities.wall(), here),
        }


@contextmanager
def saving() -> Iterator[None]:
    """A change of the classroom's tables: one the database did not take is a 503 (its text
    says when the outcome is not known)."""
    try:
        yield
    except StoreError as error:
        raise HttpError(503, {"detail": f"not saved: {error}"}, {"Retry-After": "2"}) from None


def _kept(reply: Any) -> Any:
    """A reply as a finding keeps it: whole, or its first MAX_REPLY_CHARS of JSON."""
    text = json.dumps(reply, ensure_ascii=False)
    if len(text) <= MAX_REPLY_CHARS:
        return reply
    return {"truncated": True, "json": text[:MAX_REPLY_CHARS]}


def _checked(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except AssignmentError as error:
        raise http_errors.invalid(
            http_errors.refused_value(["body", *error.loc], error.value, str(error))
        ) from None


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
