"""The other instances as the bus tells them (cluster/members.py): pure, the time given."""

from __future__ import annotations

from qakit_trio.cluster.members import DEAD_AFTER, RemoteView
from qakit_trio.wire.bus import BusMember


def member(conn: str, *channels: str, user: str | None = None, path: str = "/ws") -> BusMember:
    return BusMember(conn, user, channels, 0.0, path)


def test_a_heartbeat_then_joins_and_leaves_keep_the_view() -> None:
    view = RemoteView(heartbeat=1.0)
    view.beat("b", "n", [member("c1", "room", user="ivan"), member("c2", path="/ws/orders")], 0.0)
    assert view.clients("room") == [{"connection_id": "c1", "user": "ivan"}]
    view.join("b", "room", "c3", None, 0.1)
    assert view.count("room") == 2
    view.leave("b", "room", "c1")
    assert view.clients("room") == [{"connection_id": "c3"}]
    stats = view.instances(0.5)["b"]
    assert stats["connections"] == 3
    assert stats["legacy_orders_connections"] == 1
    assert stats["channels"] == {"room": 1}
    assert stats["heard_s_ago"] == 0.5


def test_the_next_heartbeat_replaces_what_joins_and_leaves_said() -> None:
    view = RemoteView(heartbeat=1.0)
    view.beat("b", "n", [member("c1", "room")], 0.0)
    assert view.join("b", "room", "ghost", None, 0.5)  # its leave was lost
    departures, arrivals = view.beat("b", "n", [member("c1", "room"), member("c4", "room")], 1.0)
    assert view.clients("room") == [{"connection_id": "c1"}, {"connection_id": "c4"}]
    assert departures == [("ghost", None, "room")]  # the watchers are told now
    assert arrivals == [("c4", None, "room")]


def test_a_restart_under_the_same_id_is_a_new_process_its_old_members_leave() -> None:
    view = RemoteView(heartbeat=1.0)
    view.beat("b", "first", [member("c1", "room")], 0.0)
    departures, arrivals = view.beat("b", "second", [member("c9", "room")], 0.5)
    assert departures == [("c1", None, "room")]
    assert arrivals == [("c9", None, "room")]


def test_a_partial_heartbeat_tells_no_departure_of_a_member_it_does_not_list() -> None:
    view = RemoteView(heartbeat=1.0)
    view.beat("b", "n", [member("c1", "room"), member("c2", "room")], 0.0)
    departures, _ = view.beat(
        "b", "n", [member("c1", "room")], 1.0, counts={"room": 2}, partial=True
    )
    assert departures == []
    assert view.count("room") == 2  # the heartbeat's count, not the list's


def test_a_join_of_an_instance_not_heard_yet_counts_and_its_heartbeat_adopts_it() -> None:
    view = RemoteView(heartbeat=1.0)
    assert view.join("new", "room", "c1", None, 5.0)  # (its first heartbeat is on the way)
    assert view.count("room") == 1
    departures, arrivals = view.beat("new", "n1", [member("c1", "room")], 5.2)
    assert (departures, arrivals) == ([], [])  # the same member: nothing to tell
    assert view.dead(5.2 + 3.01) == ["new"]


def test_an_instance_not_heard_for_three_heartbeats_is_dead_and_its_members_leave() -> None:
    view = RemoteView(heartbeat=0.5)
    view.beat(
        "b", "n", [member("c1", "room", "news"), member("c2", "orders", path="/ws/orders")], 0.0
    )
    view.beat("c", "n", [member("c3", "room")], 1.4)
    assert view.dead(0.5 * DEAD_AFTER) == []
    assert view.dead(0.5 * DEAD_AFTER + 0.01) == ["b"]
    gone = view.drop("b")
    assert sorted(gone) == [("c1", None, "news"), ("c1", None, "room")]  # not the legacy one
    assert view.clients("room") == [{"connection_id": "c3"}]
    assert view.channel_counts() == {"room": 1}
    assert [m.instance for m in view.members()] == ["c"]
    assert view.drop("b") == []
