"""The replay's steps, from the recording alone, without an event loop: their order across
connections, what each waits for, their recorded times; the replay's URLs; replies paired with
their recorded twins."""

from __future__ import annotations

import pytest

from qakit_trio.replayer.plan import Step, Twins, plan, replay_url, reply_key
from qakit_trio.wire.sessions import Connection, Direction, Frame, Session

URL = "ws://recorded:8002/ws?channel=room"


def conn(
    name: str, *frames: tuple[Direction, float, str], started: float | None = None
) -> Connection:
    return Connection(name, URL, tuple(Frame(d, t, data) for d, t, data in frames), started)


def test_steps_follow_the_recording_and_wait_for_what_came_before() -> None:
    """A sends and waits for its replies; B, open all along, gets A's broadcast and then
    sends: B's send waits for that broadcast, A's close for B's reply too."""
    session = Session(
        (
            conn(
                "A",
                ("receive", 10.0, "hello"),
                ("send", 11.0, "broadcast"),
                ("receive", 11.1, "ack"),
                ("receive", 11.2, "message"),
                ("receive", 13.0, "late"),
                started=9.5,
            ),
            conn(
                "B",
                ("receive", 10.5, "hello"),
                ("receive", 11.3, "message"),
                ("send", 12.0, "echo"),
                ("receive", 12.1, "echo back"),
            ),
        )
    )
    steps = plan(session).steps
    assert [(s.kind, s.conn, s.needs) for s in steps] == [
        ("open", "A", {}),
        ("open", "B", {"A": 1}),  # (it opened at its first frame: after A's hello)
        ("send", "A", {"A": 1, "B": 1}),
        ("send", "B", {"A": 3, "B": 2}),
        ("close", "B", {"A": 3, "B": 3}),
        ("close", "A", {"A": 4, "B": 3}),
    ]
    assert [s.index for s in steps] == list(range(6))
    assert [round(s.at, 3) for s in steps] == [0.0, 1.0, 1.5, 2.5, 2.6, 3.5]
    assert [round(s.gap, 3) for s in steps] == [0.0, 1.0, 0.5, 1.0, 0.1, 0.9]
    assert steps[2].data == "broadcast"
    assert plan(session).of("B") == [steps[1], steps[3], steps[4]]


def test_a_burst_of_sends_waits_for_nothing_it_did_not_wait_for() -> None:
    session = Session(
        (
            conn(
                "A",
                ("receive", 1.0, "hello"),
                ("send", 2.0, "one"),
                ("send", 2.0, "two"),
                ("send", 2.001, "three"),
                ("receive", 2.1, "reply one"),
            ),
        )
    )
    sends = [s for s in plan(session).steps if s.kind == "send"]
    assert [(s.data, s.needs) for s in sends] == [
        ("one", {"A": 1}),
        ("two", {"A": 1}),
        ("three", {"A": 1}),
    ]


def test_a_connection_s_frames_keep_their_order_if_the_clock_went_back() -> None:
    session = Session(
        (conn("A", ("receive", 5.0, "hello"), ("send", 4.0, "x"), ("receive", 4.5, "y")),)
    )
    steps = plan(session).steps
    assert [(s.kind, s.needs, s.at) for s in steps] == [
        ("open", {}, 0.0),
        ("send", {"A": 1}, 0.0),
        ("close", {"A": 2}, 0.0),
    ]


def test_an_empty_connection_is_opened_and_closed() -> None:
    steps = plan(Session((conn("A", started=3.0),))).steps
    assert steps == (Step(0, "open", "A", 0.0, 0.0, {}), Step(1, "close", "A", 0.0, 0.0, {}))


@pytest.mark.parametrize(
    ("recorded", "base", "replayed"),
    [
        (URL, "ws://127.0.0.1:9000", "ws://127.0.0.1:9000/ws?channel=room"),
        ("wss://stand.example/ws/echo", "ws://localhost:8002/", "ws://localhost:8002/ws/echo"),
        ("ws://h:1", "wss://other:443", "wss://other:443/"),
        ("ws://h:1/ws?channel=a%20b&since=3", "ws://x:2", "ws://x:2/ws?channel=a%20b&since=3"),
    ],
)
def test_the_replay_url_keeps_the_path_and_query(recorded: str, base: str, replayed: str) -> None:
    assert replay_url(recorded, base) == replayed


def test_a_replayed_reply_finds_its_recorded_twin_by_type_and_request_id() -> None:
    assert reply_key({"type": "ack", "request_id": "srv-abc-3"}) == ("ack", "srv-*-3")
    assert reply_key([1]) is None
    twins = Twins.of(
        [
            '{"type":"order","request_id":"c1","data":{"id":1}}',
            '{"type":"order","request_id":"c1","data":{"id":2}}',
            '{"type":"order","request_id":"srv-aaa-1","data":{"id":3}}',
            '{"type":"system"}',  # no request_id: no twin
            "not json",
        ]
    )
    assert twins.twin({"type": "order", "request_id": "c1"}) == {
        "type": "order",
        "request_id": "c1",
        "data": {"id": 1},
    }
    assert twins.twin({"type": "order", "request_id": "c1"})["data"] == {"id": 2}
    assert twins.twin({"type": "order", "request_id": "c1"}) is None  # each handed out once
    assert twins.twin({"type": "order", "request_id": "srv-bbb-1"})["data"] == {"id": 3}
    assert twins.twin({"type": "system"}) is None
    assert twins.twin("text") is None
