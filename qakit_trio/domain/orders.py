"""The orders domain: an order, its status state machine, and the event a change produces.

Pure: no trio, no quart, no database. Stores (order_store.py, postgres.py) call
`check_transition` inside whatever makes the change atomic, and build the `OrderEvent` that
every door (REST, /ws, /ws/orders) and every place (WS clients, the log, Kafka) shows with the
same `event_id`.

    created ──▶ paid ──▶ shipped ──▶ delivered
       │          │
       └──────────┴──▶ cancelled            (delivered and cancelled are final)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from qakit_trio.errors import InvalidTransition

MAX_CUSTOMER_LENGTH = 200


class Status(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.PAID, Status.CANCELLED}),
    Status.PAID: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.SHIPPED: frozenset({Status.DELIVERED}),
    Status.DELIVERED: frozenset(),
    Status.CANCELLED: frozenset(),
}

_STATUS_VALUES = frozenset(status.value for status in Status)

# The REST verbs of the original stand: POST /orders/{id}/<verb>
VERBS: dict[str, Status] = {
    "pay": Status.PAID,
    "ship": Status.SHIPPED,
    "deliver": Status.DELIVERED,
    "cancel": Status.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class ChangeRules:
    """How a store makes a status change. The default, STRICT, is the contract: the transition
    checked, the order read and written atomically (a row lock on PostgreSQL). Only the lab's
    store wrapper (lab/store.py) asks for less, to plant a defect trainees can find:
    `check=False` accepts any transition; `race_window` > 0 reads without the lock and waits
    that many seconds before writing, so two concurrent changes both succeed (a lost update)."""

    check: bool = True
    race_window: float = 0.0


STRICT = ChangeRules()


def check_transition(old: str, new: Status) -> None:
    """Raise InvalidTransition unless `old` -> `new` is allowed. `old` comes from storage and
    may be any text (an existing QA Kit database), which allows nothing."""
    allowed = TRANSITIONS[Status(old)] if old in _STATUS_VALUES else frozenset()
    if new not in allowed:
        raise InvalidTransition(old, new)


def parse_status(value: object) -> Status:
    """The Status named by `value`; ValueError with a sentence if there is none."""
    if isinstance(value, str) and value in _STATUS_VALUES:
        return Status(value)
    raise ValueError(f"unknown status {value!r}; one of: {', '.join(Status)}")


# Control characters (NUL among them: PostgreSQL cannot store it in text) and lone surrogates
# (not Unicode: nothing can encode them) are refused in a name, the same in every store.
_NOT_IN_A_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def validate_customer(value: object) -> str:
    """A customer name: a non-empty string (not only spaces) of at most 200 characters, with
    no control characters."""
    if not isinstance(value, str):
        raise ValueError("customer must be a string")
    if not value.strip():
        raise ValueError("customer must not be empty")
    if len(value) > MAX_CUSTOMER_LENGTH:
        raise ValueError(f"customer is longer than {MAX_CUSTOMER_LENGTH} characters")
    bad = _NOT_IN_A_NAME.search(value)
    if bad is not None:
        raise ValueError(
            f"customer must not contain control characters (found U+{ord(bad.group()):04X})"
        )
    return value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    customer: str
    status: str  # a Status, or whatever an existing database holds
    created_at: datetime | None
    updated_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer": self.customer,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }

    def summary(self) -> dict[str, Any]:
        """The legacy protocol's shape of an order (docs/protocol.md: the legacy protocol)."""
        return {"id": self.id, "customer": self.customer, "status": self.status}


class EventType(StrEnum):
    CREATED = "order_created"
    STATUS_CHANGED = "order_status_changed"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One change to one order, with the id it keeps everywhere it is shown."""

    event_id: str
    type: EventType
    order: Order
    previous_status: str | None = None  # for status changes

    @property
    def ws_name(self) -> str:
        """The name of the event frame on /ws."""
        return "order.created" if self.type is EventType.CREATED else "order.status_changed"

    def extra(self) -> dict[str, Any]:
        """The `extra` of the /ws event frame."""
        extra: dict[str, Any] = {
            "order_id": self.order.id,
            "customer": self.order.customer,
            "status": self.order.status,
        }
        if self.previous_status is not None:
            extra["previous_status"] = self.previous_status
        return extra
