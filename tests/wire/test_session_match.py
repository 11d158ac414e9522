"""What a replay may change in a reply, without an event loop: the ignored fields, server
request ids by their number, offsets by their shift, order ids by a consistent renaming, and
byte-for-byte comparison."""

from __future__ import annotations

import json
from typing import Any

from qakit_trio.wire.session_match import (
    DEFAULT_IGNORED,
    IdMap,
    Matcher,
    Rules,
    alignment_key,
    masked,
    server_id,
    show,
)


def frame(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"))


def test_the_defaults_leave_out_times_and_random_ids_at_any_depth() -> None:
    assert DEFAULT_IGNORED == (
        "ts",
        "event_id",
        "connection_id",
        "from",
        "created_at",
        "updated_at",
        "expires_at",
        "epoch",
    )
    matcher = Matcher(Rules())
    recorded = frame(type="order", ts="t1", data={"status": "paid", "created_at": "c1"})
    replayed = frame(type="order", ts="t2", data={"status": "paid", "created_at": "c2"})
    assert matcher.differences(recorded, replayed) == []
    assert matcher.differences(recorded, replayed.replace("paid", "created")) == [
        'data.status: expected "paid", got "created"'
    ]


def test_ignore_takes_names_and_paths() -> None:
    recorded = frame(type="x", data={"status": "a", "n": 1}, status="a")
    replayed = frame(type="x", data={"status": "b", "n": 1}, status="b")
    assert len(Matcher(Rules()).differences(recorded, replayed)) == 2
    assert Matcher(Rules.with_ignored(("status",))).differences(recorded, replayed) == []
    assert Matcher(Rules.with_ignored(("data.status",))).differences(recorded, replayed) == [
        'status: expected "a", got "b"'
    ]
    in_a_list = Rules.with_ignored(("data.items.n",))
    listed = (frame(data={"items": [{"n": 1, "m": 1}]}), frame(data={"items": [{"n": 2, "m": 1}]}))
    assert Matcher(in_a_list).differences(*listed) == []
    assert alignment_key(listed[0], in_a_list) == alignment_key(listed[1], in_a_list)
    assert masked(json.loads(recorded), Rules.with_ignored(("data",))) == {
        "type": "x",
        "status": "a",
    }


def test_every_difference_has_its_path_and_both_values() -> None:
    matcher = Matcher(Rules())
    recorded = frame(type="history", data={"items": [1, "2", True], "extra": None})
    replayed = frame(type="history", data={"items": [1, 2, 1], "more": 3})
    assert matcher.differences(recorded, replayed) == [
        'data.items[1]: expected "2", got 2',  # a number is not its text
        "data.items[2]: expected true, got 1",  # nor a boolean
        "data.extra: expected null, got nothing",
        "data.more: expected nothing, got 3",
    ]
    assert matcher.differences("[1]", "[1, 2]") == ["[1]: expected nothing, got 2"]
    assert matcher.differences("not json", "not json") == []
    assert matcher.differences("not json", "[2]") == ['expected "not json", got [2]']
    assert matcher.differences(b"\x01", b"\x02") == [
        "expected <1 bytes> b'\\x01', got <1 bytes> b'\\x02'"
    ]


def test_a_server_request_id_is_compared_by_its_number() -> None:
    assert server_id("srv-0a1b2c3d4e5f-12") == "srv-*-12"
    assert server_id("r-srv-1-2") == "r-srv-1-2"
    matcher = Matcher(Rules())
    assert matcher.differences(frame(request_id="srv-aaa-1"), frame(request_id="srv-bbb-1")) == []
    assert matcher.differences(frame(request_id="srv-aaa-1"), frame(request_id="srv-aaa-2")) == [
        'request_id: expected "srv-aaa-1", got "srv-aaa-2"'
    ]
    exact = Matcher(Rules(server_ids=False))
    assert exact.differences(frame(request_id="srv-aaa-1"), frame(request_id="srv-bbb-1"))


def test_offsets_may_start_elsewhere_but_must_advance_alike() -> None:
    matcher = Matcher(Rules())
    hello = (
        frame(type="system", channel="room", offset=0),
        frame(type="system", channel="room", offset=5),
    )
    assert matcher.differences(*hello) == []  # the stand has moved on by 5
    assert (
        matcher.differences(
            frame(type="message", channel="room", offset=1),
            frame(type="message", channel="room", offset=6),
        )
        == []
    )
    assert matcher.differences(
        frame(type="message", channel="room", offset=2),
        frame(type="message", channel="room", offset=8),
    ) == ["offset: expected 2 (the replay's offsets of 'room' run +5: 7), got 8"]  # a gap
    nested = (
        frame(type="history", data={"channel": "other", "offset": 3}),
        frame(type="history", data={"channel": "other", "offset": 4}),
    )
    assert matcher.differences(*nested) == []  # each channel its own shift
    assert Matcher(Rules(offsets=False)).differences(*hello) == ["offset: expected 0, got 5"]


def test_an_order_id_stands_for_one_id_throughout() -> None:
    matcher = Matcher(Rules())
    assert matcher.differences(frame(data={"id": 1}), frame(data={"id": 7})) == []
    assert matcher.differences(frame(extra={"order_id": 1}), frame(extra={"order_id": 7})) == []
    assert matcher.differences(frame(data={"id": 1}), frame(data={"id": 8})) == [
        "data.id: expected 1, got 8 (the replay numbered 1 as 7 before)"
    ]
    assert matcher.differences(frame(data={"id": 2}), frame(data={"id": 7})) == [
        "data.id: expected 2, got 7 (7 already stood for 1)"
    ]
    assert matcher.differences(frame(data={"id": 1}), frame(data={"id": "7"})) == [
        'data.id: expected 1, got "7"'
    ]


def test_the_id_map_learns_from_twin_replies_and_rewrites_client_frames() -> None:
    ids = IdMap()
    ids.learn(
        {"type": "order", "data": {"id": 1, "items": [{"id": 2}]}},
        {"data": {"id": 11, "items": [{"id": 12}]}},
    )
    assert ids.forward == {1: 11, 2: 12}
    ids.learn({"data": {"id": 1}}, {"data": {"id": 99}})  # the first pairing stays
    assert ids.forward[1] == 11
    request = '{"action":"change_status","payload":{"id":1,"status":"paid"}}'
    assert json.loads(ids.rewrite(request)) == {
        "action": "change_status",
        "payload": {"id": 11, "status": "paid"},
    }
    untouched = '{"action": "get_order", "payload": {"id": 3}}'
    assert ids.rewrite(untouched) is untouched  # as recorded, byte for byte
    assert ids.rewrite("not json") == "not json"
    assert ids.rewrite(b"\x01") == b"\x01"
    assert IdMap().rewrite(request) is request


def test_byte_for_byte_leaves_nothing_out() -> None:
    matcher = Matcher(Rules.byte_for_byte())
    assert matcher.differences('{"a":1}', '{"a":1}') == []
    assert matcher.differences('{"a":1}', '{"a": 1}') == [
        'the same JSON in other bytes: expected {"a":1}, got {"a": 1}'
    ]
    assert matcher.differences(frame(ts="1"), frame(ts="2")) == ['ts: expected "1", got "2"']
    assert alignment_key('{"a":1}', Rules.byte_for_byte()) != alignment_key(
        '{"a": 1}', Rules.byte_for_byte()
    )


def test_frames_align_by_what_the_rules_keep() -> None:
    rules = Rules()
    assert alignment_key(frame(type="ack", ts="1", request_id="srv-a-1"), rules) == alignment_key(
        frame(type="ack", ts="2", request_id="srv-b-1"), rules
    )
    assert alignment_key(frame(data={"id": 1}, offset=3), rules) == alignment_key(
        frame(data={"id": 9}, offset=4), rules
    )
    assert alignment_key("plain", rules) == repr("plain")


def test_values_are_shown_as_json_cut_short() -> None:
    assert show('{"a": 1}') == '{"a": 1}'
    assert show("text") == '"text"'
    assert show("x" * 300, limit=10) == '"xxxxxxxx…'
