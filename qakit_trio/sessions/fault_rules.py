"""Server-wide fault rules, for a teacher's scenario: `PUT /lab/faults` with
`{"seed": 7, "rules": [{"match": {"action": "echo", "channel": "room"},
"fault": {"delay_ms": 2000}, "probability": 0.5}]}` makes half the echoes in room late. Which
half depends only on the seed and the order of the requests, so a scenario repeats exactly.

A request's own `fault` field wins over the rules; the first rule that matches a request is
the one drawn for (one draw per matching request).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from qakit_trio.wire import protocol
from qakit_trio.wire.faults import Fault, parse_fault

SURFACES = ("ws",)  # the envelope protocol on /ws: the one that has request ids to correlate


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
        raise ValueError(f"{where} must be an object")
    match = given.get("match", {})
    if not isinstance(match, dict) or set(match) - {"action", "channel", "surface"}:
        raise ValueError(f"{where}.match may have action, channel and surface")
    for key in ("action", "channel"):
        if match.get(key) is not None and not isinstance(match[key], str):
            raise ValueError(f"{where}.match.{key} must be a string")
    if match.get("surface", "ws") not in SURFACES:
        raise ValueError(f"{where}.match.surface must be one of {', '.join(SURFACES)}")
    probability = given.get("probability", 1)
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not (
            0 <= probability <= 1):
        raise ValueError(f"{where}.probability must be a number from 0 to 1")
    try:
        fault = parse_fault(given.get("fault"))
    except protocol.ProtocolError as error:
        raise ValueError(f"{where}.{error.message}") from None
    return Rule(match.get("action"), match.get("channel"), fault, float(probability), given)


class FaultRules:
    """The rules in force (none by default) and their seeded generator."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []  # empty: the envelope session does not look further
        self.seed: int | None = None
        self._random = random.Random()

    def replace(self, spec: object) -> None:
        """New rules and seed from `{"seed", "rules"}`; ValueError naming what is wrong."""
        if not isinstance(spec, dict):
            raise ValueError('the body must be {"seed": int, "rules": [...]}')
        seed = spec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be a whole number")
        rules = spec.get("rules", [])
        if not isinstance(rules, list):
            raise ValueError("rules must be a list")
        checked = [_rule(n, given) for n, given in enumerate(rules)]
        self.rules, self.seed, self._random = checked, seed, random.Random(seed)

    def clear(self) -> None:
        self.rules, self.seed = [], None

    def listing(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [rule.spec for rule in self.rules]}

    def pick(self, action: object, channel: str) -> Fault | None:
        """The fault for one request, if a rule matches and its draw says so."""
        for rule in self.rules:
            if rule.action not in (None, action) or rule.channel not in (None, channel):
                continue
            return rule.fault if self._random.random() < rule.probability else None
        return None
