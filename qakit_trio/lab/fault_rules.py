"""Server-wide fault rules, for a teacher's scenario: `PUT /lab/faults` with
`{"seed": 7, "rules": [{"match": {"action": "echo", "channel": "room"},
"fault": {"delay_ms": 2000}, "probability": 0.5}]}` makes half the echoes in room late. Which
half depends only on the seed and the order of the requests, so a scenario repeats exactly.

A request's own `fault` field wins over the rules; the first rule that matches a request is
the one drawn for (one draw per matching request).

Every /ws request asks for its rule (when there are any): four dictionary lookups, however many
rules there are (`FaultRules._first`). Their number is bounded all the same, at most MAX_RULES
in a body of at most MAX_BODY_BYTES (web/lab.py), since they are kept and listed. A key that
means nothing here, at any level (the body, a rule, its `match`, its `fault`), is refused with
every such key named: a typo must not silently turn a rule into a different one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from qakit_trio.lab.fault_spec import Fault, parse_fault
from qakit_trio.wire import protocol

SURFACES = ("ws",)  # the envelope protocol on /ws: the one that has request ids to correlate
MAX_RULES = 100  # a scenario has a handful
MAX_BODY_BYTES = 64 * 1024  # 100 full rules are about 20 KiB
# the keys each level may have: the body, a rule, its match, its fault (lab/fault_spec.py)
BODY_KEYS = frozenset({"seed", "rules"})
RULE_KEYS = frozenset({"match", "fault", "probability"})
MATCH_KEYS = frozenset({"action", "channel", "surface"})
FAULT_KEYS = frozenset(field.name for field in fields(Fault))

Loc = list[str | int]  # where in the body, as FastAPI's "loc" after "body"


class RuleError(ValueError):
    """What is wrong with the rules: where (`loc`), and why."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def unknown_keys(spec: object) -> list[tuple[Loc, Any]]:
    """Every key the body has that no level knows, as (where, its value); a level that is
    not an object is left to the checks of `FaultRules.replace`."""
    found: list[tuple[Loc, Any]] = []

    def extra(value: object, known: frozenset[str], loc: Loc) -> None:
        if isinstance(value, dict):
            found.extend(([*loc, key], value[key]) for key in value if key not in known)

    extra(spec, BODY_KEYS, [])
    rules = spec.get("rules") if isinstance(spec, dict) else None
    if isinstance(rules, list):
        for n, rule in enumerate(rules[:MAX_RULES]):
            extra(rule, RULE_KEYS, ["rules", n])
            if isinstance(rule, dict):
                extra(rule.get("match"), MATCH_KEYS, ["rules", n, "match"])
                extra(rule.get("fault"), FAULT_KEYS, ["rules", n, "fault"])
    return found


@dataclass(frozen=True, slots=True)
class Rule:
    action: str | None
    channel: str | None
    fault: Fault
    probability: float
    spec: dict[str, Any]  # as given, for GET


def _rule(n: int, given: object) -> Rule:
    where = f"rules[{n}]"
    if not isinstance(given, dict):
        raise RuleError(["rules", n], f"{where} must be an object")
    match = given.get("match", {})
    if not isinstance(match, dict) or set(match) - MATCH_KEYS:
        raise RuleError(
            ["rules", n, "match"], f"{where}.match may have action, channel and surface"
        )
    for key in ("action", "channel"):
        if match.get(key) is not None and not isinstance(match[key], str):
            raise RuleError(["rules", n, "match", key], f"{where}.match.{key} must be a string")
    if match.get("surface", "ws") not in SURFACES:
        raise RuleError(
            ["rules", n, "match", "surface"],
            f"{where}.match.surface must be one of {', '.join(SURFACES)}",
        )
    probability = given.get("probability", 1)
    if (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not (0 <= probability <= 1)
    ):
        raise RuleError(
            ["rules", n, "probability"], f"{where}.probability must be a number from 0 to 1"
        )
    try:
        fault = parse_fault(given.get("fault"))
    except protocol.ProtocolError as error:
        field = str(error.details.get("field", "fault"))  # "fault.delay_ms"
        raise RuleError(["rules", n, *field.split(".")], f"{where}.{error.message}") from None
    return Rule(match.get("action"), match.get("channel"), fault, float(probability), given)


class FaultRules:
    """The rules in force (none by default) and their seeded generator."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []  # empty: the envelope session does not look further
        self.seed: int | None = None
        self._random = random.Random()
        # (action, channel) as a rule matches them (None: any) -> the first such rule's index:
        # a request finds its first matching rule in four lookups, not a walk of the rules
        self._first: dict[tuple[str | None, str | None], int] = {}

    def replace(self, spec: object) -> None:
        """New rules and seed from `{"seed", "rules"}`; RuleError naming what is wrong (the
        caller checks `unknown_keys` first, to name every one of them)."""
        if not isinstance(spec, dict):
            raise RuleError([], 'the body must be {"seed": int, "rules": [...]}')
        seed = spec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise RuleError(["seed"], "seed must be a whole number")
        rules = spec.get("rules", [])
        if not isinstance(rules, list):
            raise RuleError(["rules"], "rules must be a list")
        if len(rules) > MAX_RULES:
            raise RuleError(["rules"], f"at most {MAX_RULES} rules ({len(rules)} given)")
        checked = [_rule(n, given) for n, given in enumerate(rules)]
        self.rules, self.seed, self._random = checked, seed, random.Random(seed)
        self._first = {}
        for n, rule in enumerate(checked):
            self._first.setdefault((rule.action, rule.channel), n)

    def clear(self) -> None:
        self.rules, self.seed, self._first = [], None, {}

    def listing(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [rule.spec for rule in self.rules]}

    def pick(self, action: object, channel: str) -> Fault | None:
        """The fault for one request, if a rule matches and its draw says so (the first rule,
        in order, whose action and channel are the request's or any)."""
        first = self._first
        found = [first.get((None, None)), first.get((None, channel))]
        if isinstance(action, str):  # a rule's action is a string: no other action matches it
            found += [first.get((action, None)), first.get((action, channel))]
        matching = [n for n in found if n is not None]
        if not matching:
            return None
        rule = self.rules[min(matching)]
        return rule.fault if self._random.random() < rule.probability else None
