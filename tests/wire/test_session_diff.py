"""A replay's replies against the recording, without an event loop: frames aligned per
connection, each difference named by its reply, field, expected and got; the report's text."""

from __future__ import annotations

import json
from typing import Any

from qakit_trio.wire.session_diff import Difference, Report, compare_replies, compare_session
from qakit_trio.wire.session_match import Matcher, Rules
from qakit_trio.wire.sessions import Connection, Frame, Session

ECHO = '{"action":"echo","payload":{},"request_id":"r1"}'


def reply(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "request_id": "r1", "ts": "t", **fields})


HELLO, ACK, DATA = reply("system", request_id=None), reply("ack"), reply("echo", data={"a": 1})
EVENT = reply("event", name="ws.echo", event_id="e1")
RECORDED = [HELLO, ACK, DATA, EVENT]


def kinds(got: list[str]) -> list[tuple[int, str]]:
    return [(d.reply, d.kind) for d in compare_replies(RECORDED, got, Matcher(Rules()))]


def test_the_same_replies_have_no_difference() -> None:
    assert kinds([HELLO, ACK.replace('"t"', '"t2"'), DATA, EVENT.replace("e1", "e2")]) == []


def test_an_extra_frame_is_one_difference_not_a_cascade() -> None:
    # numbered by the recorded reply it came before (past the last: one more)
    assert kinds([HELLO, ACK, DATA, EVENT, EVENT]) == [(5, "unexpected")]
    assert kinds([HELLO, ACK, ACK, DATA, EVENT]) == [(2, "unexpected")]
    (extra,) = compare_replies(RECORDED, [HELLO, ACK, DATA, EVENT, DATA], Matcher(Rules()))
    assert extra == Difference(
        5, "unexpected", f"the replay's reply 5, not in the recording: {DATA}"
    )


def test_a_missing_frame_and_a_moved_one() -> None:
    assert kinds([HELLO, ACK, EVENT]) == [(3, "missing")]
    (moved,) = compare_replies(RECORDED, [HELLO, DATA, ACK, EVENT], Matcher(Rules()))
    assert moved == Difference(3, "moved", f"arrived as reply 2: {DATA}")
    assert kinds([]) == [(1, "missing"), (2, "missing"), (3, "missing"), (4, "missing")]


def test_a_changed_frame_lists_its_fields() -> None:
    changed = reply("echo", data={"a": 2}, extra=True)
    (difference,) = compare_replies(RECORDED, [HELLO, ACK, changed, EVENT], Matcher(Rules()))
    assert difference == Difference(
        3, "changed", "data.a: expected 1, got 2\nextra: expected nothing, got true"
    )


def session(*replies: list[str]) -> Session:
    return Session(
        tuple(
            Connection(
                str(number),
                f"ws://127.0.0.1:8002/ws?channel=c{number}",
                (Frame("send", 1.0, ECHO), *(Frame("receive", 2.0, data) for data in frames)),
            )
            for number, frames in enumerate(replies, 1)
        )
    )


def test_the_report_says_ok_with_its_counts() -> None:
    recorded = session(RECORDED, [HELLO])
    report = compare_session(recorded, {"1": RECORDED, "2": [HELLO]}, Rules())
    assert report.ok
    assert report.render() == "OK 2 connections, 7 frames"


def test_the_report_names_the_connection_the_reply_and_the_field() -> None:
    recorded = session(RECORDED, [HELLO])
    changed = reply("echo", data={"a": 2})
    report = compare_session(
        recorded,
        {"1": [HELLO, ACK, changed, EVENT, EVENT], "2": [HELLO]},
        Rules(),
        notes={"1": ["the stand closed it (1011 internal error) after 5 replies"]},
    )
    assert not report.ok
    assert report.render() == "\n".join(
        [
            "DIFFERENT: 1 of 2 connections, 2 differences",
            "connection 1 (/ws?channel=c1)",
            "  the stand closed it (1011 internal error) after 5 replies",
            "  reply 3: changed: data.a: expected 1, got 2",
            "  reply 5: unexpected:",
            f"    the replay's reply 5, not in the recording: {EVENT}",
        ]
    )


def test_a_note_of_the_whole_replay_fails_it() -> None:
    report = Report(compare_session(session([HELLO]), {"1": [HELLO]}, Rules()).connections, 2)
    assert report.ok
    report.notes = ["the replay did not finish within 1 s (--timeout)"]
    assert not report.ok
    assert report.render() == (
        "the replay did not finish within 1 s (--timeout)\n"
        "DIFFERENT: 0 of 1 connections, 0 differences"
    )


def test_ids_and_offsets_are_learnt_across_the_connections() -> None:
    """Order ids and channel offsets are the stand's: what one connection's replies taught
    holds for the next one's."""
    order = reply("order", data={"id": 1, "offset": 1, "channel": "c"})
    recorded = session([order], [order])
    replayed = reply("order", data={"id": 5, "offset": 3, "channel": "c"})
    assert compare_session(recorded, {"1": [replayed], "2": [replayed]}, Rules()).ok
    other = reply("order", data={"id": 6, "offset": 3, "channel": "c"})
    report = compare_session(recorded, {"1": [replayed], "2": [other]}, Rules())
    assert [d.detail for d in report.connections[1].differences] == [
        "data.id: expected 1, got 6 (the replay numbered 1 as 5 before)"
    ]
