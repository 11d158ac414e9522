"""The legacy protocol's wire form, without an event loop: the original's json.dumps text and
its reading of order ids and customers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qakit_trio.wire import legacy


def test_frames_are_python_json_dumps_defaults_in_the_originals_field_order() -> None:
    frame = legacy.result("create_order", {"id": 1, "customer": "Юлия", "status": "created"})
    assert legacy.encode(frame) == (
        '{"type": "result", "action": "create_order", "order": {"id": 1, "customer": '
        '"\\u042e\\u043b\\u0438\\u044f", "status": "created"}}'
    )
    assert legacy.encode(legacy.error("order not found", action="get_order")) == (
        '{"type": "error", "action": "get_order", "error": "order not found"}'
    )
    assert legacy.encode(legacy.error("invalid_json")) == (
        '{"type": "error", "error": "invalid_json"}'
    )
    assert legacy.encode(legacy.unknown_action(None)) == (
        '{"type": "error", "error": "unknown_action", "raw_action": null}'
    )
    assert legacy.encode(legacy.order_event("order_created", 3, "a", "created")) == (
        '{"type": "order_created", "order_id": 3, "customer": "a", "status": "created"}'
    )


@given(st.dictionaries(st.text(), st.integers() | st.text() | st.none() | st.booleans()))
def test_encode_is_json_dumps(message: dict[str, object]) -> None:
    assert legacy.encode(message) == json.dumps(message)


@pytest.mark.parametrize(
    ("value", "order_id"),
    [
        (2, 2),
        ("2", 2),
        (" 2 ", 2),
        (2.9, 2),
        (True, 1),
        ("+7", 7),
        ("-1", -1),
        ("2.5", None),
        ("abc", None),
        ([1], None),
        ({"id": 1}, None),
        (float("inf"), None),
        ("", None),
    ],
)
def test_order_ids_are_read_as_pythons_int(value: object, order_id: int | None) -> None:
    assert legacy.as_order_id(value) == order_id


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Yulia", "Yulia"),
        (123, "123"),
        (1.5, "1.5"),
        (True, "true"),
        ([1], None),
        ({}, None),
    ],
)
def test_customers_are_the_text_postgresql_made_of_them(value: object, text: str | None) -> None:
    assert legacy.customer_text(value) == text


def test_a_refused_status_is_named_as_python_formats_it() -> None:
    assert legacy.transition_refused("created", "flying") == (
        "Cannot change status from 'created' to 'flying'"
    )
    assert legacy.transition_refused("paid", 5) == "Cannot change status from 'paid' to '5'"
    assert legacy.transition_refused("paid", [1]) == "Cannot change status from 'paid' to '[1]'"
