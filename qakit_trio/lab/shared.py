"""The lab's stand-wide state shared by every instance of a cluster (QAKIT_CLUSTER=kafka): the
bugs switched on for everyone (PUT /lab/bugs) and a teacher's fault rules (PUT | DELETE
/lab/faults). Bugs per trainee and findings are the classroom's (classroom/classroom.py,
`follow`).

    PUT /lab/bugs on instance A -> SharedLab.set_bugs: checked, written to the shared store
        (adapters/shared_state.py, PostgreSQL), then switched here;
    instances B and C           -> their store's next round (every 0.25 s) reads the new version
                                   and switches their own Bugs: within a second everywhere.

What a request reads does not change: the lab stage looks at this instance's Bugs and
FaultRules in memory (lab.py), never at the database. Without cluster mode there is no
SharedLab (`Lab.shared` is None) and the routes switch this instance's objects directly.

Start-up: an instance starts with QAKIT_BUGS (and no fault rules) and takes the shared values
at its first round, before it serves, once a teacher has set any; until then each instance keeps
its own QAKIT_BUGS (the compose stand gives every instance the same).
A fault rule's draws (`probability`) come from one generator per instance, each seeded with the
rules' seed: the same scenario on every instance, each repeating by the order of its own
requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from qakit_trio.lab.bugs import Bugs, check_names
from qakit_trio.lab.fault_rules import FaultRules

log = logging.getLogger(__name__)

BUGS = "lab.bugs"  # the keys in the shared store: a list of bug names
FAULT_RULES = "lab.fault_rules"  # PUT /lab/faults's body as given, or null (none)


class Store(Protocol):
    """What SharedLab needs of the shared store (adapters/shared_state.py SharedState)."""

    instance: str

    def watch(self, key: str, apply: Callable[[Any, str], None]) -> None: ...

    async def put(self, key: str, value: Any) -> None: ...


class SharedLab:
    def __init__(self, store: Store, bugs: Bugs, fault_rules: FaultRules) -> None:
        self._store = store
        self._bugs = bugs
        self._fault_rules = fault_rules
        store.watch(BUGS, self._apply_bugs)
        store.watch(FAULT_RULES, self._apply_fault_rules)

    async def set_bugs(self, names: Iterable[object]) -> None:
        """Exactly these bugs on, on every instance. ValueError (an unknown name) before
        anything is written; StoreError when the database did not take it (nothing changed)."""
        await self._store.put(BUGS, list(check_names(names)))

    async def set_fault_rules(self, spec: object) -> None:
        """New rules on every instance. RuleError (fault_rules.py) before anything is written."""
        FaultRules().replace(spec)  # checked on a scratch copy: the same checks as the real one
        await self._store.put(FAULT_RULES, spec)

    async def clear_fault_rules(self) -> None:
        await self._store.put(FAULT_RULES, None)

    def _apply_bugs(self, value: Any, instance: str) -> None:
        if not isinstance(value, list):
            raise ValueError(f"{BUGS} must be a list of names, not {type(value).__name__}")
        self._bugs.set_enabled(value)  # ValueError: a name this version does not know
        self._said("lab bugs changed", instance, bugs=self._bugs.enabled())

    def _apply_fault_rules(self, value: Any, instance: str) -> None:
        if value is None:
            self._fault_rules.clear()
        else:
            self._fault_rules.replace(value)  # RuleError is a ValueError
        self._said("lab fault rules changed", instance, fault_rules=self._fault_rules.listing())

    def _said(self, message: str, instance: str, **fields: Any) -> None:
        """A change made on another instance is logged here too, as a WARNING like the route's
        own (a stand with defects on is never a surprise in any instance's logs)."""
        if instance != self._store.instance:
            log.warning(
                f"{message} on another instance",
                extra={"fields": {**fields, "instance": instance}},
            )
