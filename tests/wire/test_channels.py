"""wire/channels.py: the subscription requests' fields and the URL's since, checked without an
event loop."""

from __future__ import annotations

from typing import Any

import pytest

from qakit_trio.errors import ErrorCode, ProtocolError
from qakit_trio.wire import channels
from qakit_trio.wire.channels import Since


@pytest.mark.parametrize(
    ("since", "field"),
    [
        ([], "since"),
        ({"epoch": "e"}, "since.offset"),
        ({"offset": -1, "epoch": "e"}, "since.offset"),
        ({"offset": True, "epoch": "e"}, "since.offset"),
        ({"offset": 1.5, "epoch": "e"}, "since.offset"),
        ({"offset": "1", "epoch": "e"}, "since.offset"),
        ({"offset": 1}, "since.epoch"),
        ({"offset": 1, "epoch": ""}, "since.epoch"),
        ({"offset": 1, "epoch": 7}, "since.epoch"),
        ({"offset": 1, "epoch": "x" * 65}, "since.epoch"),
    ],
)
def test_a_bad_since_names_its_field(since: Any, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        channels.parse_since(since)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR
    assert caught.value.details == {"field": field}


def test_a_good_since_and_none() -> None:
    assert channels.parse_since({"offset": 0, "epoch": "abc"}) == Since(0, "abc")
    assert channels.parse_since(None) is None


@pytest.mark.parametrize("value", [None, 5, "", "a b", "x" * 65, "tab\there"])
def test_a_bad_channel_is_a_validation_error_on_channel(value: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        channels.require_channel({"channel": value})
    assert caught.value.details == {"field": "channel"}


def test_optional_channel_defaults_and_flags_are_booleans() -> None:
    assert channels.optional_channel({}, "general") == "general"
    assert channels.optional_channel({"channel": "room"}, "general") == "room"
    assert channels.parse_flag({}, "join_leave") is False
    assert channels.parse_flag({"join_leave": True}, "join_leave") is True
    with pytest.raises(ProtocolError):
        channels.parse_flag({"join_leave": "yes"}, "join_leave")


@pytest.mark.parametrize(
    ("since", "epoch", "expected"),
    [
        (None, None, (None, None)),
        ("5", "abc", (Since(5, "abc"), None)),
        ("0", "abc", (Since(0, "abc"), None)),
    ],
)
def test_the_urls_since_and_epoch(since: Any, epoch: Any, expected: Any) -> None:
    assert channels.since_from_query(since, epoch) == expected


@pytest.mark.parametrize(
    ("since", "epoch"),
    [
        ("5", None),
        (None, "abc"),
        ("-1", "abc"),
        ("abc", "abc"),
        ("٣", "abc"),
        ("5", ""),
        ("1" * 19, "abc"),
    ],
)
def test_a_bad_url_since_says_why(since: Any, epoch: Any) -> None:
    position, wrong = channels.since_from_query(since, epoch)
    assert position is None
    assert wrong


def test_frames_of_positions_and_presence_changes() -> None:
    assert channels.position("a", Since(3, "e")) == {"channel": "a", "epoch": "e", "offset": 3}
    assert channels.position("a", Since(3, "e"), False)["recovered"] is False
    join = channels.presence_change("join", "a", "c1", None)
    assert join.keys() == {"type", "channel", "connection_id", "ts"}
    assert channels.presence_change("leave", "a", "c1", "ivan")["user"] == "ivan"
