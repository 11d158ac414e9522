"""The pages' session files (pages/static/sessions.js), run in Node without a browser: the
playground's recording and the inspector's rows as HAR 1.2 (valid against the HAR schema,
tests/support/har.py) and JSON lines, the same files the stand writes for the same session
(qakit_trio/wire/session_har.py, session_jsonl.py) and reads back frame for frame. (In
Chromium, saved from the pages and set against DevTools' own frames:
tests/pages/test_session_export.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from qakit_trio.wire.session_har import read_har, write_har
from qakit_trio.wire.session_jsonl import read_jsonl, write_jsonl
from qakit_trio.wire.sessions import Connection, Frame, Session

from ..support.har import har_errors
from ..support.timeouts import TIMEOUT

SESSIONS_JS = Path(__file__).resolve().parents[2] / "qakit_trio/pages/static/sessions.js"
JSONL_KEYS = ("conn", "url", "direction", "time", "request_id", "opcode", "data")
START = 1_700_000_000.0
VERSION = "9.9.9"


def node(body: str, given: Any = None) -> Any:
    """Run `body` in Node with `Sessions` (sessions.js) and `given` (JSON) defined; the JSON
    of what it returns."""
    binary = shutil.which("node")
    if binary is None:
        raise RuntimeError("this test needs Node.js (apt-get install nodejs)")
    script = (
        f"const Sessions = require({json.dumps(str(SESSIONS_JS))});\n"
        "const given = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        f"const result = (() => {{ {body} }})();\n"
        "process.stdout.write(JSON.stringify(result));\n"
    )
    done = subprocess.run(
        [binary, "-e", script],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# A playground session on a clock that ticks a quarter second a reading (exact in binary, so
# both languages' arithmetic gives the same times): two connections, one still open; a frame
# with a numeric request_id, one that is not JSON, one binary.
RECORD = """
let tick = given.start;
const recorder = new Sessions.Recorder(() => (tick += 0.25));
const one = recorder.open("ws://127.0.0.1:8000/ws?channel=general&token=SECRET");
recorder.record(one, "receive", '{"type":"hello","connection_id":"c1"}');
recorder.record(one, "send", '{"action":"echo","request_id":"r1","payload":{"x":1}}');
recorder.record(one, "receive", '{"type":"ack","request_id":"r1"}');
const two = recorder.open("ws://127.0.0.1:8000/ws/echo");
recorder.record(two, "send", "not json");
recorder.record(two, "receive", new Uint8Array([0, 1, 2, 255]));
recorder.record(one, "send", '{"action":"echo","request_id":7}');
recorder.close(two);
"""


def recorded() -> Session:
    """RECORD, as wire/sessions.py holds it."""

    def at(n: int) -> float:
        return START + 0.25 * n

    url = "ws://127.0.0.1:8000/ws?channel=general"  # the token left out
    one = (
        Frame("receive", at(2), '{"type":"hello","connection_id":"c1"}'),
        Frame("send", at(3), '{"action":"echo","request_id":"r1","payload":{"x":1}}'),
        Frame("receive", at(4), '{"type":"ack","request_id":"r1"}'),
        Frame("send", at(8), '{"action":"echo","request_id":7}'),
    )
    two = (Frame("send", at(6), "not json"), Frame("receive", at(7), b"\x00\x01\x02\xff"))
    return Session(
        (
            Connection("1", url, one, started=at(1)),
            Connection("2", "ws://127.0.0.1:8000/ws/echo", two, started=at(5)),
        )
    )


def test_a_playground_recording_is_the_har_and_jsonl_the_stand_writes_and_reads() -> None:
    files = node(
        RECORD + "return [Sessions.toHar(recorder.session(), given.version),"
        " Sessions.toJsonl(recorder.session()), recorder.count];",
        {"start": START, "version": VERSION},
    )
    har, jsonl, count = files
    expected = recorded()
    assert count == expected.frame_count() == 6
    document = json.loads(har)
    assert har_errors(document) == []
    assert document == json.loads(write_har(expected, VERSION))  # field for field
    assert read_har(har, "s.har") == expected
    [first, *_] = document["log"]["entries"]
    assert first["_resourceType"] == "websocket"
    assert first["response"]["status"] == 101
    assert first["_webSocketMessages"][1] == {
        "type": "send",
        "time": START + 0.75,
        "opcode": 1,
        "data": '{"action":"echo","request_id":"r1","payload":{"x":1}}',
    }
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert lines == [json.loads(line) for line in write_jsonl(expected).splitlines()]
    for line in lines:  # in the reader's order of fields, request_id and opcode when they apply
        assert tuple(line) == tuple(key for key in JSONL_KEYS if key in line)
    assert [line.get("request_id") for line in lines] == [None, "r1", "r1", None, None, 7]
    assert [line.get("opcode") for line in lines] == [None, None, None, None, 2, None]
    assert read_jsonl(jsonl, "s.jsonl") == unstarted(expected)  # JSON lines have no start


def unstarted(session: Session) -> Session:
    """`session` as JSON lines keep it: no connection's start (its first frame's time)."""
    return Session(tuple(Connection(c.name, c.url, c.frames) for c in session.connections))


def test_clearing_keeps_the_open_connection_and_a_full_recording_stops() -> None:
    state = node(
        RECORD + "recorder.clear();"
        "recorder.record(one, 'send', 'after');"
        "const small = new Sessions.Recorder(() => 1, 2);"
        "const conn = small.open('ws://h/ws');"
        "const kept = ['a', 'b', 'c'].map((text) => small.record(conn, 'send', text));"
        "return {names: recorder.connections.map((c) => c.name), count: recorder.count,"
        " frames: one.frames.map((f) => f.data), full: recorder.full,"
        " small: [kept, small.count, small.full]};",
        {"start": START},
    )
    assert state == {
        "names": ["1"],  # the closed one is gone, the open one goes on
        "count": 1,
        "frames": ["after"],
        "full": False,
        "small": [[True, True, False], 2, True],
    }


def row(direction: str, conn: str | None, text: str, ts: str, **fields: Any) -> dict[str, Any]:
    """A frame row as /ws/_inspect sends it (wire/inspect.py)."""
    return {
        "dir": direction,
        "hub": "/ws",
        "channel": "general",
        "conn": conn,
        "ts": ts,
        "text": text,
        "truncated": False,
        "binary": False,
        "delivered": None,
        **fields,
    }


def test_the_inspectors_rows_become_one_connection_each() -> None:
    ts = "2024-05-01T12:00:00.{:06d}+00:00".format
    everything: dict[str, str] = {}
    alone = {"conn": "A"}
    kept = [
        {"row": row("in", "A", '{"action":"echo","request_id":"r1"}', ts(1)), "watch": everything},
        {"row": row("out", "A", '{"type":"ack","request_id":"r1"}', ts(2)), "watch": everything},
        {"row": row("out", "B", "to B", ts(3), channel="news"), "watch": everything},
        {"row": row("publish", None, "to all", ts(4), delivered=2), "watch": everything},
        {"row": row("publish", None, "to A", ts(5), delivered=3), "watch": alone},
        {"row": row("publish", None, "nobody", ts(6), delivered=0), "watch": alone},
        {"row": row("publish", None, "A's own", ts(7), delivered=1), "watch": alone},
        {"row": row("out", "A", "A's own", ts(8)), "watch": alone},
        {"row": row("publish", None, "elsewhere", ts(9), channel="x", delivered=1), "watch": alone},
        {"row": row("out", "A", "x" * 10, ts(10), truncated=True), "watch": alone},
        {"row": row("out", "A", "é", ts(11), binary=True), "watch": alone},
    ]
    known = {"A": {"hub": "/ws", "channel": "general", "channels": ["general"], "all": True}}
    har, jsonl, seconds = node(
        "const session = Sessions.fromInspector(given.kept, 'ws://h:1', new Map("
        "Object.entries(given.known)));"
        "return [Sessions.toHar(session), Sessions.toJsonl(session),"
        " Sessions.epochSeconds('2024-05-01T12:00:00.123456+00:00')];",
        {"kept": kept, "known": known},
    )
    assert abs(seconds - 1_714_564_800.123456) < 1e-6
    document = json.loads(har)
    assert har_errors(document) == []
    session = read_har(har, "i.har")
    assert unstarted(session) == read_jsonl(jsonl, "i.jsonl")  # the same frames either way
    frames = {c.name: [(f.direction, f.data) for f in c.frames] for c in session.connections}
    assert frames == {
        "A": [
            ("send", '{"action":"echo","request_id":"r1"}'),
            ("receive", '{"type":"ack","request_id":"r1"}'),
            ("receive", "to A"),  # published while A was watched alone, delivered
            ("receive", "A's own"),  # once: its own copy, not the publication too
            ("receive", "x" * 10),
            ("receive", "é".encode()),
        ],
        "B": [("receive", "to B")],
    }
    assert [c.url for c in session.connections] == [
        "ws://h:1/ws?channel=general",
        "ws://h:1/ws?channel=news",
    ]
    [a, _] = session.connections
    assert [round(f.time - 1_714_564_800, 6) for f in a.frames] == [
        1e-6,
        2e-6,
        5e-6,
        8e-6,
        10e-6,
        11e-6,
    ]
    messages = document["log"]["entries"][0]["_webSocketMessages"]
    assert [m.get("_truncated", False) for m in messages] == [False] * 4 + [True, False]
    assert ['"truncated":true' in line for line in jsonl.splitlines()].count(True) == 1


def test_request_ids_and_file_names() -> None:
    ids, name = node(
        "return [given.map((text) => Sessions.requestIdOf(text)),"
        " Sessions.fileName('playground', 'har', new Date(2025, 0, 2, 3, 4, 5))];",
        ['{"request_id":"r1"}', '{"request_id":3}', '{"request_id":null}', "[1]", "{", "x"],
    )
    assert ids == ["r1", 3, None, None, None, None]
    assert name == "qakit-playground-20250102-030405.har"
