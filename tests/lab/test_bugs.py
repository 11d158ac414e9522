"""The bug catalogue and its switch, without an event loop."""

from __future__ import annotations

import pytest

from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.lab.bugs import CATALOGUE, NAMES, Bugs, parse_names

REQUIRED = {
    "ack_after_data",
    "event_wrong_request_id",
    "broadcast_leaks_channels",
    "any_transition_allowed",
    "list_orders_off_by_one",
    "duplicate_event",
    "close_on_invalid_json",
    "no_id_request_id",
    "stale_stats",
    "lost_update",
}


def test_the_catalogue_has_the_required_bugs_and_at_least_twelve_on_several_surfaces() -> None:
    assert set(NAMES) >= REQUIRED
    assert len(NAMES) >= 12
    assert len(set(NAMES)) == len(NAMES)
    assert {bug.surface for bug in CATALOGUE} >= {"ws", "legacy", "rest", "domain", "kafka", "logs"}
    assert all(hasattr(Bugs, name) for name in NAMES)  # one attribute each, the seam


def test_every_bug_is_off_by_default_and_set_enabled_replaces_the_set() -> None:
    bugs = Bugs()
    assert bugs.enabled() == []
    assert not any(getattr(bugs, name) for name in NAMES)
    bugs.set_enabled(["stale_stats", "duplicate_event"])
    assert bugs.enabled() == ["duplicate_event", "stale_stats"]  # catalogue order
    bugs.set_enabled(["lost_update"])
    assert bugs.enabled() == ["lost_update"]
    listing = {item["name"]: item for item in bugs.listing()}
    assert listing["lost_update"]["enabled"] is True
    assert listing["stale_stats"] == {
        "name": "stale_stats",
        "enabled": False,
        "surface": "rest",
        "summary": "/stats answers what it counted up to 5 seconds ago",
    }


def test_an_unknown_name_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown bug 'no_such_bug'"):
        Bugs(["no_such_bug"])
    with pytest.raises(ValueError, match="unknown bug 5"):
        Bugs().set_enabled([5])  # type: ignore[list-item]
    assert parse_names(" ack_after_data, stale_stats ,") == ("ack_after_data", "stale_stats")
    assert load_settings({"QAKIT_BUGS": "duplicate_event"}).bugs == ("duplicate_event",)
    with pytest.raises(ConfigError, match="QAKIT_BUGS: unknown bug 'typo'"):
        load_settings({"QAKIT_BUGS": "typo"})
