"""The compact encoder made once (wire/compact_json.py) writes what the stdlib's writes."""

from __future__ import annotations

import datetime
import json
import math

import pytest

from qakit_trio.wire.compact_json import compact_encoder

VALUES: list[object] = [
    {"type": "ack", "request_id": "e", "ts": "2026-12-03T10:14:58.949714+00:00"},
    {"nested": [1, 2.5, None, True, False, {"k": "привет, мир"}], "emoji": "😀", "": ""},
    'a string "quoted" \\ and\ncontrol \x01',
    [],
    {},
    12345678901234567890,
    1e-7,
    math.inf,
    -math.inf,
    {"nan": math.nan},
    {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_same_text_as_the_stdlib(value: object) -> None:
    stdlib = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    assert compact_encoder()(value) == stdlib.encode(value)


def test_default_is_used_for_what_json_cannot_encode() -> None:
    value = {"when": datetime.date(2026, 12, 3), "set": {1}}
    expected = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
    assert compact_encoder(default=str)(value) == expected.encode(value)
    with pytest.raises(TypeError):
        compact_encoder()(value)


def test_a_cycle_is_an_error_and_the_encoder_keeps_working_after_it() -> None:
    encode = compact_encoder()
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises((RecursionError, ValueError)):
        encode(cycle)
    assert encode({"after": [1, 2]}) == '{"after":[1,2]}'
