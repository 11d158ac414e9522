"""The orders domain, pure: the state machine, its error texts, validation, event shapes."""

from __future__ import annotations

import pytest

from qakit_trio.domain.orders import (
    MAX_CUSTOMER_LENGTH,
    TRANSITIONS,
    EventType,
    Order,
    OrderEvent,
    Status,
    check_transition,
    parse_status,
    validate_customer,
)
from qakit_trio.errors import InvalidTransition

ALLOWED = {
    ("created", "paid"),
    ("created", "cancelled"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("shipped", "delivered"),
}


@pytest.mark.parametrize("old", list(Status))
@pytest.mark.parametrize("new", list(Status))
def test_every_transition(old: Status, new: Status) -> None:
    if (old.value, new.value) in ALLOWED:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidTransition) as caught:
            check_transition(old, new)
        assert str(caught.value) == f"Cannot change status from '{old}' to '{new}'"


def test_the_table_is_the_documented_machine() -> None:
    assert {
        (old.value, new.value) for old, targets in TRANSITIONS.items() for new in targets
    } == ALLOWED
    assert TRANSITIONS[Status.DELIVERED] == TRANSITIONS[Status.CANCELLED] == frozenset()


def test_a_status_unknown_to_us_in_storage_allows_nothing() -> None:
    with pytest.raises(InvalidTransition, match="Cannot change status from 'weird' to 'paid'"):
        check_transition("weird", Status.PAID)


@pytest.mark.parametrize("value", ["payed", "PAID", "", None, 1, True])
def test_unknown_status_is_a_validation_error(value: object) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        parse_status(value)


def test_known_status_parses() -> None:
    assert parse_status("shipped") is Status.SHIPPED


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "must be a string"),
        (5, "must be a string"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * (MAX_CUSTOMER_LENGTH + 1), "longer than 200"),
    ],
)
def test_invalid_customers(value: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_customer(value)


def test_valid_customers() -> None:
    assert validate_customer("Yulia") == "Yulia"
    assert validate_customer("Ю" * MAX_CUSTOMER_LENGTH) == "Ю" * MAX_CUSTOMER_LENGTH


def test_event_shapes() -> None:
    order = Order(7, "Yulia", "paid", None, None)
    event = OrderEvent("e-1", EventType.STATUS_CHANGED, order, previous_status="created")
    assert event.ws_name == "order.status_changed"
    assert event.extra() == {
        "order_id": 7,
        "customer": "Yulia",
        "status": "paid",
        "previous_status": "created",
    }
    created = OrderEvent("e-2", EventType.CREATED, order)
    assert created.ws_name == "order.created"
    assert "previous_status" not in created.extra()
    assert order.summary() == {"id": 7, "customer": "Yulia", "status": "paid"}
    assert order.to_json()["created_at"] is None
