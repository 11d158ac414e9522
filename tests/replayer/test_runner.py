"""The replayer on a live stand (hypercorn on a free port): a session recorded by talking to
the stand, saved as HAR and as JSON lines, replays green against the same stand; against a
stand with a lab bug on it fails, and the diff names the changed reply; a deterministic stand
replays byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from qakit_trio.replayer.runner import Options, ReplayError, replay
from qakit_trio.wire import stamps
from qakit_trio.wire.session_diff import Difference, Report
from qakit_trio.wire.session_har import read_har, write_har
from qakit_trio.wire.session_jsonl import read_jsonl, write_jsonl
from qakit_trio.wire.session_match import Rules
from qakit_trio.wire.sessions import Connection, Frame, Session

from ..support.helpers import running_server
from ..support.recorder import Recorder

ROOM = "/ws?channel=replay-room"


async def record(base: str) -> Session:
    """Two connections in one channel: echo, a triplet without request_id (a server id), an
    order created, paid and read back (its id the stand's), invalid JSON, a binary frame, a
    broadcast the other connection gets, and that one's echo after it."""
    recorder = Recorder(base)
    async with recorder.connect(ROOM) as first, recorder.connect(ROOM) as second:
        await first.request({"action": "echo", "payload": {"text": "hi"}, "request_id": "r1"})
        await first.request({"action": "triplet_demo"})
        created = await first.request(
            {"action": "create_order", "payload": {"customer": "Yulia"}, "request_id": "c1"}
        )
        order_id = created[1]["data"]["id"]
        change: dict[str, Any] = {"id": order_id, "status": "paid"}
        await first.request({"action": "change_status", "payload": change, "request_id": "c2"})
        await first.request({"action": "get_order", "payload": {"id": order_id}})
        await first.request("not json")
        await first.request(b"\x00\x01binary")
        broadcast = {"action": "broadcast", "payload": {"message": "hi all"}, "request_id": "b1"}
        assert [f["type"] for f in await first.request(broadcast)] == [
            "ack",
            "message",
            "event",
        ]
        assert (await second.receive())["type"] == "message"
        await second.request({"action": "echo", "payload": {"n": 2}, "request_id": "r2"})
    return recorder.session()


async def test_a_recorded_session_replays_green_on_the_same_stand(tmp_path: Path) -> None:
    """Its second run meets another connection id, new order ids (sent back in place of the
    recorded ones), channel offsets further on: the same replies by the rules."""
    with trio.fail_after(30):
        async with running_server() as server:
            session = await record(server.ws)
            har, jsonl = tmp_path / "s.har", tmp_path / "s.jsonl"
            har.write_text(write_har(session))
            jsonl.write_text(write_jsonl(session))
            kept = [(c.name, c.url, c.frames) for c in session.connections]
            for read in (read_har(har.read_text()), read_jsonl(jsonl.read_text())):
                assert [(c.name, c.url, c.frames) for c in read.connections] == kept
            for saved in (read_har(har.read_text()), read_jsonl(jsonl.read_text())):
                report = await replay(saved, Options(server.ws))
                assert report.ok, report.render()
                assert report.render() == "OK 2 connections, 36 frames"


def first_difference(report: Report) -> tuple[str, Difference]:
    for connection in report.connections:
        if connection.differences:
            return connection.connection.name, connection.differences[0]
    raise AssertionError("no difference")


@pytest.mark.parametrize(
    ("bug", "reply", "kind", "shows"),
    [
        pytest.param(*case, id=case[0])
        for case in [
            (
                "duplicate_event",
                4,
                "unexpected",
                '{"type":"event","name":"ws.echo","request_id":"r1"',
            ),
            ("ack_after_data", 3, "moved", '{"type":"echo","request_id":"r1"'),  # swapped
            ("event_wrong_request_id", 8, "changed", 'request_id: expected "srv-'),
            ("offset_gap", 21, "changed", "offset: expected 1, got 2"),
        ]
    ],
)
async def test_a_lab_bug_shows_as_a_diff_naming_the_changed_reply(
    bug: str, reply: int, kind: str, shows: str
) -> None:
    with trio.fail_after(30):
        async with running_server() as server:
            session = await record(server.ws)
        async with running_server(bugs=(bug,)) as buggy:
            report = await replay(session, Options(buggy.ws))
    assert not report.ok
    conn, difference = first_difference(report)
    assert (conn, difference.reply, difference.kind) == ("1", reply, kind), report.render()
    assert shows in difference.detail
    text = report.render()
    assert text.startswith("DIFFERENT: ")
    assert "\nconnection 1 (/ws?channel=replay-room)\n" in text
    assert f"  reply {reply}: {kind}" in text


async def test_a_stand_that_closes_the_connection_is_named_and_the_rest_missing() -> None:
    with trio.fail_after(30):
        async with running_server() as server:
            session = await record(server.ws)
        async with running_server(bugs=("close_on_invalid_json",)) as buggy:
            report = await replay(session, Options(buggy.ws, grace=0.2))
    first = report.connections[0]
    assert any(note.startswith("the stand closed it (1000") for note in first.notes), first.notes
    assert [d.kind for d in first.differences] == ["missing"] * 5  # invalid JSON's error on
    assert "the stand closed it (1000" in report.render()


async def test_a_deterministic_stand_replays_byte_for_byte() -> None:
    """QAKIT_DETERMINISTIC=42: a session recorded on a fresh stand replays on another fresh
    one with nothing left out of the comparison; a third with another seed differs."""
    try:
        with trio.fail_after(30):
            async with running_server(deterministic=42) as server:
                session = await record(server.ws)
            async with running_server(deterministic=42) as again:
                report = await replay(session, Options(again.ws, Rules.byte_for_byte()))
            assert report.ok, report.render()
            async with running_server(deterministic=43) as other:
                report = await replay(session, Options(other.ws, Rules.byte_for_byte()))
            assert not report.ok
            assert 'connection_id: expected "' in report.render()
            assert report.connections[0].differences[0].reply == 1  # the hello
    finally:
        stamps.set_deterministic(None)


async def test_a_refused_connection_is_a_difference_and_an_unreachable_stand_an_error() -> None:
    hello = Frame("receive", 1.0, '{"type":"system","channel":"a b"}')
    session = Session((Connection("1", "ws://recorded:1/ws?channel=a%20b", (hello,)),))
    with trio.fail_after(30):
        async with running_server() as server:
            report = await replay(session, Options(server.ws))
            port = server.port
        assert report.connections[0].notes == [
            f"the stand refused the connection to ws://127.0.0.1:{port}/ws?channel=a%20b: HTTP 400"
        ]
        assert [(d.reply, d.kind) for d in report.connections[0].differences] == [(1, "missing")]
        with pytest.raises(ReplayError, match=f"cannot connect to ws://127.0.0.1:{port}/ws"):
            await replay(session, Options(f"ws://127.0.0.1:{port}"))


async def test_pace_keeps_the_recorded_gaps_and_the_timeout_ends_a_replay() -> None:
    echo = '{"action":"echo","payload":{},"request_id":"p"}'
    frames = tuple(
        Frame(direction, at, echo) for at in (100.0, 100.4) for direction in ("send", "receive")
    )
    session = Session((Connection("1", "ws://recorded:1/ws/echo", frames, started=100.0),))
    with trio.fail_after(30):
        async with running_server() as server:
            started = trio.current_time()
            report = await replay(session, Options(server.ws, pace=True))
            assert trio.current_time() - started >= 0.4
            assert report.ok, report.render()
            started = trio.current_time()
            report = await replay(session, Options(server.ws, pace=True, timeout=0.2))
            assert trio.current_time() - started < 0.4
    assert report.notes == ["the replay did not finish within 0.2 s (--timeout)"]
    assert report.render().startswith("the replay did not finish within 0.2 s (--timeout)\n")
