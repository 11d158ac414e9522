"""The cluster bus's records (wire/bus.py): pure, no event loop."""

from __future__ import annotations

import pytest

from qakit_trio.wire import bus


def test_a_publication_round_trips_with_cyrillic_text() -> None:
    record = bus.publication("a", "room", {"type": "message", "message": "привет"}, "a:1")
    value = bus.encode(record)
    assert "привет".encode() in value  # not escaped: a trainee reads it in Kafka UI
    assert bus.decode(value) == record
    assert "lo" not in record
    assert bus.publication("a", "room", {}, "a:2", local=True)["lo"] is True


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a bus record"),
        (b'{"k": "gossip", "i": "a"}', "not a bus record"),
        (b'{"k": "beat"}', "no instance"),
        (b'{"k": "join", "i": "a"}', "without a channel"),
        (b'{"k": "pub", "i": "a", "c": "room"}', "without a frame"),
        (None, "not JSON"),
    ],
)
def test_what_is_not_ours_is_a_bad_record(value: bytes | None, why: str) -> None:
    with pytest.raises(bus.BadRecord, match=why):
        bus.decode(value)


def test_a_heartbeat_lists_members_and_skips_entries_that_do_not_parse() -> None:
    members = [
        bus.BusMember("c1", "ivan", ("room", "news"), 1.5, "/ws"),
        bus.BusMember("c2", None, ("orders",), 0.0, "/ws/orders"),
    ]
    record = bus.decode(bus.encode(bus.heartbeat("a", "n1", members, 1_700_000_000.1234)))
    assert record["t"] == 1_700_000_000.123
    assert (record["n"], record["lg"], record["cc"]) == (2, 1, {"room": 1, "news": 1})
    assert "more" not in record
    record["m"] += [["broken"], "x", ["c3", None, "not a list", 0, "/ws"]]
    assert bus.members_of(record) == members


def test_a_heartbeat_over_its_budget_lists_fewer_members_and_counts_them_all() -> None:
    members = [bus.BusMember(f"c{n}", None, ("room",) * 1, 0.0, "/ws") for n in range(100)]
    record = bus.heartbeat("a", "n1", members, 0.0, budget=500)
    assert record["more"] is True
    assert 0 < len(record["m"]) < 100
    assert (record["n"], record["cc"]) == (100, {"room": 100})
    assert len(bus.encode(record)) < 1_000


@pytest.mark.parametrize(
    "value",
    [
        b'{"k": "beat", "i": "x", "t": "soon"}',
        b'{"k": "beat", "i": "x", "t": true}',
        b'{"k": "beat", "i": "x", "m": 5}',
        b'{"k": "pub", "i": "x", "c": "a", "f": {}, "p": [1]}',
        b'{"k": "join", "i": "x", "c": "a", "m": {"id": 1}}',
        b'{"k": "ord", "i": "x", "c": "a", "f": {}, "l": 5}',
    ],
)
def test_fields_of_the_wrong_type_make_a_bad_record(value: bytes) -> None:
    with pytest.raises(bus.BadRecord, match="is not"):
        bus.decode(value)


def test_presence_order_and_goodbye_records() -> None:
    assert bus.decode(bus.encode(bus.presence_change("join", "a", "room", "c1", None)))["m"] == "c1"
    order = bus.order_event(
        "a", "orders", {"type": "event"}, '{"type":"order_created"}', "c1", None
    )
    assert bus.decode(bus.encode(order))["l"] == '{"type":"order_created"}'
    assert bus.decode(bus.encode(bus.goodbye("a"))) == {"k": "bye", "i": "a"}
