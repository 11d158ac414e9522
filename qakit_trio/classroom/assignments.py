"""Bugs per trainee: the teacher's table, checked, and the deal of a pool of bugs. Pure: no
trio, no quart (tests/classroom/test_assignments.py).

    PUT /lab/assignments {"assignments": {"ivan": ["list_orders_off_by_one"], ...}}
    POST /lab/assignments/shuffle {"pool": [...], "per_trainee": 1, "seed": 42, "trainees": [...]}

A request's bugs are the stand-wide ones plus its user's (lab/lab.py). Every problem is an
`AssignmentError` with its place in the body (`loc`, FastAPI's) and what is wrong, which the
route answers with 422.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qakit_trio.auth.users import RESERVED, check_name
from qakit_trio.lab.bugs import ASSIGNABLE, NAMES

Loc = tuple[str | int, ...]
Table = dict[str, tuple[str, ...]]  # trainee -> their bugs, in the order given
MAX_TRAINEES = 500  # a class is thirty; a table this big is a mistake (or worse)
MAX_SEED = 2**63 - 1


class AssignmentError(ValueError):
    def __init__(self, loc: Loc, message: str, value: object = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.value = value


def check_bugs(raw: object, loc: Loc) -> tuple[str, ...]:
    """A list of bug names, each assignable, none twice."""
    if not isinstance(raw, list):
        raise AssignmentError(loc, "must be a list of bug names", raw)
    seen: list[str] = []
    for index, name in enumerate(raw):
        if not isinstance(name, str) or name not in NAMES:
            raise AssignmentError(
                (*loc, index), f"unknown bug {name!r}; the catalogue: {', '.join(NAMES)}", name
            )
        if name not in ASSIGNABLE:
            raise AssignmentError(
                (*loc, index),
                f"{name} is a bug of several instances: the stand's (PUT /lab/bugs), not one "
                "trainee's (a finding's replay runs one instance)",
                name,
            )
        if name in seen:
            raise AssignmentError((*loc, index), f"{name} is listed twice", name)
        seen.append(name)
    return tuple(seen)


def check_trainee(raw: object, loc: Loc, known: Collection[str]) -> str:
    """A trainee's name: valid, not the teacher's, and known (has taken a token)."""
    try:
        name = check_name(raw)
    except ValueError as error:
        raise AssignmentError(loc, str(error), raw) from None
    if name.casefold() in RESERVED:
        raise AssignmentError(loc, f"{name!r} is the teacher's name", raw)
    if name not in known:
        raise AssignmentError(loc, f"no trainee {name!r} has taken a token on this stand", raw)
    return name


def parse_table(body: Mapping[str, Any], known: Collection[str]) -> Table:
    """PUT /lab/assignments's body: {"assignments": {name: [bug, ...]}}."""
    _only(body, ("assignments",))
    raw = body.get("assignments")
    if not isinstance(raw, dict):
        raise AssignmentError(("assignments",), "must be an object: trainee -> [bug, ...]", raw)
    if len(raw) > MAX_TRAINEES:
        raise AssignmentError(("assignments",), f"at most {MAX_TRAINEES} trainees", None)
    table: Table = {}
    for name, bugs in raw.items():
        trainee = check_trainee(name, ("assignments", name), known)
        table[trainee] = check_bugs(bugs, ("assignments", name))
    return {name: bugs for name, bugs in table.items() if bugs}


@dataclass(frozen=True, slots=True)
class Deal:
    pool: tuple[str, ...]
    per_trainee: int
    seed: int
    trainees: tuple[str, ...]


def parse_deal(body: Mapping[str, Any], known: Collection[str], seed: int) -> Deal:
    """POST /lab/assignments/shuffle's body. `seed`: the one to use when the body has none;
    `trainees` default to everyone known (sorted: the same seed, the same deal)."""
    _only(body, ("pool", "per_trainee", "seed", "trainees"))
    pool = check_bugs(body.get("pool"), ("pool",))
    if not pool:
        raise AssignmentError(("pool",), "the pool is empty: name at least one bug", [])
    per = body.get("per_trainee", 1)
    if isinstance(per, bool) or not isinstance(per, int) or not 1 <= per <= len(pool):
        raise AssignmentError(
            ("per_trainee",), f"per_trainee must be a whole number 1..{len(pool)} (the pool)", per
        )
    given = body.get("seed", seed)
    if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= MAX_SEED:
        raise AssignmentError(("seed",), "seed must be a whole number from 0", given)
    if "trainees" in body:
        raw = body["trainees"]
        if not isinstance(raw, list):
            raise AssignmentError(("trainees",), "must be a list of trainee names", raw)
        trainees: list[str] = []
        for index, name in enumerate(raw):
            trainee = check_trainee(name, ("trainees", index), known)
            if trainee in trainees:
                raise AssignmentError(("trainees", index), f"{trainee} is listed twice", name)
            trainees.append(trainee)
    else:
        trainees = sorted(known)
    if not trainees:
        raise AssignmentError(("trainees",), "no trainee has taken a token yet", [])
    if len(trainees) > MAX_TRAINEES:
        raise AssignmentError(("trainees",), f"at most {MAX_TRAINEES} trainees", None)
    return Deal(pool, per, given, tuple(trainees))


def deal(spec: Deal) -> Table:
    """Bugs from the pool, `per_trainee` each: the pool shuffled (by the seed) and dealt in
    turn, so no two trainees get the same bug until the pool runs out; then a new round of the
    pool, each trainee never getting one bug twice."""
    rng = random.Random(spec.seed)
    deck: list[str] = []
    table: dict[str, list[str]] = {name: [] for name in spec.trainees}
    for _ in range(spec.per_trainee):
        for name in spec.trainees:
            mine = table[name]
            if not deck:
                deck = list(spec.pool)
                rng.shuffle(deck)
            pick = next((bug for bug in deck if bug not in mine), None)
            if pick is None:  # this round's rest are all theirs already: a fresh round
                rest = [bug for bug in spec.pool if bug not in mine]
                deck = rest + [bug for bug in deck if bug not in rest]
                rng.shuffle(deck)
                pick = next(bug for bug in deck if bug not in mine)
            deck.remove(pick)
            mine.append(pick)
    return {name: tuple(bugs) for name, bugs in table.items()}


def listing(table: Mapping[str, Iterable[str]], revealed: Collection[str]) -> dict[str, Any]:
    """GET /lab/assignments's answer."""
    return {
        "assignments": {name: list(bugs) for name, bugs in sorted(table.items())},
        "revealed": sorted(name for name in revealed if name in table),
    }


def _only(body: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in body:
        if key not in keys:
            raise AssignmentError((key,), "Extra inputs are not permitted", body[key])
