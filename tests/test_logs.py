"""JSON log lines: their format, and which lines one request and one broadcast produce."""

from __future__ import annotations

import enum
import io
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import trio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qakit_trio import __version__, log_fields, logs
from qakit_trio.log_fields import FIELDS, HEAD, MAX_FIELD_CHARS
from qakit_trio.logs import (
    FLUSH_BYTES,
    MAX_PENDING,
    JsonFormatter,
    JsonLinesHandler,
    setup_logging,
)

from .support.helpers import connected, receive_json, request, running_server
from .support.timeouts import TIMEOUT


def fields_of(caplog: pytest.LogCaptureFixture, msg: str) -> list[dict[str, Any]]:
    return [
        dict(r.fields) for r in caplog.records if r.getMessage() == msg and hasattr(r, "fields")
    ]


def test_formatter_writes_one_json_object_per_line() -> None:
    record = logging.LogRecord("qakit_trio.x", logging.INFO, __file__, 1, "frame in", None, None)
    record.fields = {"conn": "c1", "channel": "общий", "request_id": 5}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (
        parsed.items()
        >= {
            "log.level": "info",
            "log.logger": "qakit_trio.x",
            "message": "frame in",
            "ecs.version": "8.17.0",
            "service.name": "qa-websocket",
            "service.version": __version__,
            "qakit.connection_id": "c1",
            "qakit.channel": "общий",
            "qakit.request_id": "5",  # always a string: the client's number 5 as its JSON text
        }.items()
    )
    assert list(parsed)[:3] == ["@timestamp", "log.level", "message"]  # the ECS logging spec
    assert parsed["@timestamp"].endswith("+00:00")


def test_a_named_node_is_in_every_line_from_then_on() -> None:
    """QAKIT_CLUSTER=kafka: `service.node.name` says which instance wrote the line."""
    record = logging.LogRecord("qakit_trio.x", logging.INFO, __file__, 1, "frame in", None, None)
    formatter = JsonFormatter()
    assert "service.node.name" not in json.loads(formatter.format(record))
    formatter.name_node("node-a")
    assert json.loads(formatter.format(record))["service.node.name"] == "node-a"


def test_info_fast_path_writes_what_logging_would() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.StringIO()
    logger = logging.getLogger("qakit_trio.test_fast_path")
    try:
        setup_logging("INFO", out)
        logs.info(logger, "frame in", conn="c1", request_id=7)  # the direct path
        logger.info("frame in", extra={"fields": {"conn": "c1", "request_id": 7}})  # logging's
        root.setLevel(logging.WARNING)
        logs.info(logger, "below the level: not written", conn="c1")
        logs.flush_logs()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    fast, slow = (json.loads(line) for line in out.getvalue().splitlines())
    for line in (fast, slow):
        assert datetime.fromisoformat(line.pop("@timestamp")).utcoffset() == timedelta(0)
    assert (
        fast
        == slow
        == {
            "log.level": "info",
            "log.logger": "qakit_trio.test_fast_path",
            "message": "frame in",
            "ecs.version": "8.17.0",
            "service.name": "qa-websocket",
            "service.version": __version__,
            "qakit.connection_id": "c1",
            "qakit.request_id": "7",
        }
    )


def test_fields_encoded_once_write_what_the_same_fields_as_keywords_write() -> None:
    """logs.Fields (a connection's conn, channel, user): encoded at its first line, kept for
    the next ones, made again when changed; the lines are the keywords' lines, in their order,
    on the direct path, through logging, and when captured."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.StringIO()
    logger = logging.getLogger("qakit_trio.test_fields")
    about = logs.Fields(conn="c1", channel="room")
    try:
        setup_logging("INFO", out)
        logs.info(logger, "frame out", about, type="ack", request_id="r1")
        logs.info(logger, "frame out", conn="c1", channel="room", type="ack", request_id="r1")
        logs.info(logger, "frame out", about)  # no more fields
        about["user"] = "ann"  # (QAKIT_AUTH=on sets it before the first line; still honoured)
        logs.info(logger, "frame out", about, type="echo")
        logs.info(logger, "frame out", {"conn": "c2"}, type="echo")  # a plain dict: merged
        root.addHandler(other := logging.NullHandler())  # not the only one: logging's path
        assert logs.info(logger, "frame out", about, type="data") is None
        root.removeHandler(other)
        logs.flush_logs()
        with logs.captured_lines() as lines:
            logs.info(logger, "event", about, event_id="e1")
    finally:
        logger.handlers.clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    written = out.getvalue().splitlines()
    assert written[0].split(",", 1)[1] == written[1].split(",", 1)[1]  # all but @timestamp
    members = [
        {k: v for k, v in json.loads(line).items() if k.startswith(("qakit.", "user."))}
        for line in written
    ]
    assert members == [
        {
            "qakit.connection_id": "c1",
            "qakit.channel": "room",
            "qakit.frame.type": "ack",
            "qakit.request_id": "r1",
        },
        {
            "qakit.connection_id": "c1",
            "qakit.channel": "room",
            "qakit.frame.type": "ack",
            "qakit.request_id": "r1",
        },
        {"qakit.connection_id": "c1", "qakit.channel": "room"},
        {
            "qakit.connection_id": "c1",
            "qakit.channel": "room",
            "user.name": "ann",
            "qakit.frame.type": "echo",
        },
        {"qakit.connection_id": "c2", "qakit.frame.type": "echo"},
        {
            "qakit.connection_id": "c1",
            "qakit.channel": "room",
            "user.name": "ann",
            "qakit.frame.type": "data",
        },
    ]
    assert list(json.loads(written[3])) == list(json.loads(written[5]))  # the same key order
    assert lines == [
        (
            "qakit_trio.test_fields",
            "event",
            {"conn": "c1", "channel": "room", "user": "ann", "event_id": "e1"},
        )
    ]


def test_captured_lines_are_kept_never_written() -> None:
    """A replay twin's lines (classroom/replay.py: logs.captured_lines) stay in its own list,
    whatever the level, both the fast path's and logging's; the live log gets none of them."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.StringIO()
    logger = logging.getLogger("qakit_trio.test_captured")
    try:
        setup_logging("WARNING", out)
        with logs.captured_lines() as lines:
            logs.info(logger, "event", conn="c1", event_id="e1")  # below the level, kept
            logger.warning("lab bugs are on", extra={"fields": {"bugs": ["stale_stats"]}})
        logs.info(logger, "after", conn="c2")  # below the level: not written either
        logger.warning("live", extra={"fields": {"conn": "c3"}})
        logs.flush_logs()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert lines == [
        ("qakit_trio.test_captured", "event", {"conn": "c1", "event_id": "e1"}),
        ("qakit_trio.test_captured", "lab bugs are on", {"bugs": ["stale_stats"]}),
    ]
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in written] == ["live"]


def test_lines_are_written_in_batches_and_warnings_at_once() -> None:
    out = io.StringIO()
    handler = JsonLinesHandler(out)
    logger = logging.getLogger("qakit_trio.test_batches")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("first", extra={"fields": {"n": 1}})
        logger.info("second")
        assert out.getvalue() == ""  # buffered
        logger.warning("trouble")  # a warning writes everything out, in order
        assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == [
            "first",
            "second",
            "trouble",
        ]
        for _ in range(FLUSH_BYTES // 50):  # a full buffer writes itself out
            logger.info("x" * 50)
        assert len(out.getvalue().splitlines()) > 3
        handler.flush()
        assert len(out.getvalue().splitlines()) == 3 + FLUSH_BYTES // 50
        assert handler.health() == {
            "written_bytes": len(out.getvalue()),
            "dropped": 0,
            "waiting_bytes": 0,
        }
    finally:
        logger.removeHandler(handler)


def strict_utf8_stream() -> tuple[io.TextIOWrapper, io.BytesIO]:
    raw = io.BytesIO()
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True), raw


def test_a_lone_surrogate_is_escaped_not_fatal_and_the_batch_is_kept() -> None:
    """The defect that took the service down: a lone surrogate in a logged field made the whole
    batch unwritable, and the flusher's exception cancelled every service task."""
    stream, raw = strict_utf8_stream()
    handler = JsonLinesHandler(stream)
    handler.append(handler.json.render(0.0, "INFO", "t", "before", {"n": 1}))
    handler.append(handler.json.render(0.0, "INFO", "t", "frame in", {"action": ["\ud800"]}))
    handler.append(handler.json.render(0.0, "INFO", "t", "after", {"n": 2}))
    handler.flush()
    lines = raw.getvalue().decode("utf-8").splitlines()  # strict: valid UTF-8 throughout
    assert [json.loads(line)["message"] for line in lines] == ["before", "frame in", "after"]
    assert "\\ud800" in lines[1]
    assert handler.health()["dropped"] == 0


def test_a_stuck_stdout_pipe_never_blocks_logging_and_drops_are_counted() -> None:
    """A pipe nobody reads (stdout piped into a stuck program): every call returns at once;
    what does not fit is dropped and counted; once the pipe drains, the rest comes out whole,
    in order."""
    read_end, write_end = os.pipe()
    stream = open(write_end, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        handler = JsonLinesHandler(stream)
        line_size = len(
            handler.json.render(0.0, "WARNING", "t", "line", {"size": 0, "pad": "p" * 4000})
        )
        lines = 2 * MAX_PENDING // line_size  # far more than the pipe and the buffer hold
        started = time.monotonic()
        for n in range(lines):
            handler.append(
                handler.json.render(0.0, "WARNING", "t", "line", {"size": n, "pad": "p" * 4000}),
                urgent=True,
            )
        assert time.monotonic() - started < 5  # nothing waited for the pipe
        health = handler.health()
        assert health["dropped"] > 0
        assert 0 < health["waiting_bytes"] <= MAX_PENDING
        received = bytearray()
        os.set_blocking(read_end, False)

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(read_end, 1 << 20)
                except BlockingIOError:
                    return
                received.extend(chunk)

        while handler.health()["waiting_bytes"]:
            drain()
            handler.hand_off()  # what the flusher does every tick
        drain()
        written = [json.loads(line)["qakit.frame.size"] for line in received.decode().splitlines()]
        assert written == sorted(written)  # what was kept is whole and in order
        assert len(written) + handler.health()["dropped"] == lines
    finally:
        stream.close()
        os.close(read_end)


def test_long_fields_are_cut_and_unencodable_ones_never_raise() -> None:
    formatter = JsonFormatter()
    huge_id = "r" * 900_000
    line = formatter.render(0.0, "INFO", "t", "frame in", {"request_id": huge_id, "n": 1})
    parsed = json.loads(line)
    assert len(line) < MAX_FIELD_CHARS + 500
    assert parsed["qakit.request_id"].startswith("r" * MAX_FIELD_CHARS)
    assert parsed["qakit.request_id"].endswith("(900000 characters, cut)")
    assert parsed["qakit.n"] == "1"  # a field nobody declared: a string
    cycle: list[object] = []
    cycle.append(cycle)
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    for bad in (cycle, deep):
        parsed = json.loads(formatter.render(0.0, "INFO", "t", "x", {"extra": bad, "size": 2}))
        assert isinstance(parsed["qakit.extra"], str)
        assert parsed["qakit.frame.size"] == 2


def not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON: Elasticsearch refuses the line")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(sorted(FIELDS)) | st.text(), JSON_VALUES | st.binary(), max_size=6
    ),
    msg=st.text(),
)
def test_any_fields_make_one_valid_json_line_in_valid_utf8(
    fields: dict[str, Any], msg: str
) -> None:
    stream, raw = strict_utf8_stream()
    handler = JsonLinesHandler(stream)
    handler.append(handler.json.render(0.0, "INFO", "t", msg, fields))
    handler.flush()
    lines = raw.getvalue().decode("utf-8").split("\n")
    assert len(lines) == 2  # exactly one line
    assert lines[-1] == ""
    parsed = json.loads(lines[0], parse_constant=not_json)  # NaN, Infinity: not JSON
    assert (parsed["log.level"], parsed["log.logger"], parsed["message"]) == ("info", "t", msg)
    assert set(parsed) >= {"@timestamp", "log.level", "log.logger", "message"}
    declared = {name for name, _ in FIELDS.values()}
    assert all(
        key in HEAD or key.startswith("qakit.") or key.removesuffix("_text") in declared
        for key in parsed
    )


def test_a_field_cannot_hide_the_lines_own_keys() -> None:
    """Found by the property above: a field named `level` used to replace the line's level.
    Now every field that is not declared goes under `qakit.`."""
    stream, raw = strict_utf8_stream()
    handler = JsonLinesHandler(stream)
    handler.append(
        handler.json.render(
            0.0, "INFO", "t", "m", {"log.level": "x", "message": "y", "@timestamp": 1}
        )
    )
    handler.flush()
    parsed = json.loads(raw.getvalue().decode())
    assert (parsed["log.level"], parsed["message"]) == ("info", "m")
    assert parsed["@timestamp"] == "1970-01-01T00:00:00.000000+00:00"
    assert (parsed["qakit.log.level"], parsed["qakit.message"]) == ("x", "y")
    assert parsed["qakit.@timestamp"] == "1"


async def test_one_line_per_frame_each_with_connection_channel_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server, "room") as (ws, hello):
            caplog.clear()
            frames = await request(ws, {"action": "echo", "payload": {"a": 1}, "request_id": "L1"})
    conn = hello["connection_id"]
    ins = [f for f in fields_of(caplog, "frame in") if f["request_id"] == "L1"]
    outs = [f for f in fields_of(caplog, "frame out") if f["request_id"] == "L1"]
    assert [(f["conn"], f["channel"], f["action"]) for f in ins] == [(conn, "room", "echo")]
    assert [(f["conn"], f["channel"], f["type"]) for f in outs] == [
        (conn, "room", "ack"),
        (conn, "room", "echo"),
        (conn, "room", "event"),
    ]
    events = fields_of(caplog, "event")
    assert [(e["event_id"], e["event_action"], e["request_id"], e["conn"]) for e in events] == [
        (frames[-1]["event_id"], "ws.echo", "L1", conn)
    ]


async def test_a_broadcast_is_logged_once_with_its_delivered_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "room") as (a, _),
            connected(server, "room") as (b, _),
            connected(server, "room") as (c, _),
        ):
            caplog.clear()
            await request(
                a, {"action": "broadcast", "payload": {"message": "m"}, "request_id": "B1"}
            )
            for ws in (b, c):
                assert (await receive_json(ws))["request_id"] == "B1"
    broadcasts = fields_of(caplog, "broadcast")
    assert [(f["request_id"], f["delivered"], f["channel"]) for f in broadcasts] == [
        ("B1", 3, "room")
    ]
    # the message frames to the three members are not "frame out" lines of their own
    assert [f["type"] for f in fields_of(caplog, "frame out")] == ["ack", "event"]


async def test_payloads_are_in_the_frame_and_broadcast_lines_as_strings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guide's section on logs: a trainee finds their message text in the log."""
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient() as http,
            connected(server, "room") as (ws, _),
        ):
            caplog.clear()
            await request(ws, {"action": "echo", "payload": {"text": "привет"}, "request_id": "P1"})
            await http.post(
                f"{server.http}/broadcast", params={"message": "hi all", "channel": "room"}
            )
            assert (await receive_json(ws))["message"] == "hi all"
    frame_in = next(f for f in fields_of(caplog, "frame in") if f["request_id"] == "P1")
    assert json.loads(frame_in["payload"]) == {
        "action": "echo",
        "payload": {"text": "привет"},
        "request_id": "P1",
    }
    assert frame_in["truncated"] is False
    outs = {f["type"]: f for f in fields_of(caplog, "frame out") if f["request_id"] == "P1"}
    assert json.loads(outs["echo"]["payload"])["data"] == {"text": "привет"}
    rest = next(f for f in fields_of(caplog, "broadcast") if f["source"] == "rest")
    assert isinstance(rest["payload"], str)
    assert json.loads(rest["payload"])["message"] == "hi all"


def test_payloads_are_cut_at_the_limit_in_bytes_and_can_be_turned_off() -> None:
    assert log_fields.payload_fields("abc", 2048) == {"payload": "abc", "truncated": False}
    assert log_fields.payload_fields("abcdef", 4) == {"payload": "abcd", "truncated": True}
    # Cyrillic letters are 2 bytes: 5 bytes hold two of them, never half of one
    assert log_fields.payload_fields("ЮлияЮлия", 5) == {"payload": "Юл", "truncated": True}
    assert log_fields.payload_fields("Юлия", 8) == {"payload": "Юлия", "truncated": False}
    assert log_fields.payload_fields(b"\xff\x01", 100) == {
        "payload": "\ufffd\x01",
        "truncated": False,
    }
    assert log_fields.payload_fields("abc", 0) == {}


async def test_payload_max_applies_to_the_lines_of_a_running_stand(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(log_payload_max=16) as server,
            connected(server, "room") as (ws, _),
        ):
            await request(ws, {"action": "echo", "payload": {"pad": "x" * 100}, "request_id": "T1"})
        async with running_server(log_payload_max=0) as server, connected(server) as (ws, _):
            await request(ws, {"action": "echo", "request_id": "T2"})
    cut = next(f for f in fields_of(caplog, "frame in") if f["request_id"] == "T1")
    assert (cut["payload"], cut["truncated"]) == ('{"action": "echo', True)
    off = next(f for f in fields_of(caplog, "frame in") if f["request_id"] == "T2")
    assert "payload" not in off
    assert "truncated" not in off


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_fields_are_cut_only_past_the_limit_of_the_whole_fields(extra: int) -> None:
    from qakit_trio.log_format import MAX_FIELDS_CHARS

    prefix = '"error.message":""'  # the field's key and quotes: what the value adds to
    value = "x" * (MAX_FIELDS_CHARS - len(prefix) + extra)
    line = json.loads(JsonFormatter().render(0.0, "INFO", "x", "m", {"error": value}))
    assert (line["error.message"] == value) is (extra <= 0)  # at the limit: whole


LINE_KEYS = ("type", "request_id", "size", "payload", "truncated", "extra", "not declared")


class Code(enum.IntEnum):  # an int subclass (a close code)
    GOING_AWAY = 1001


LINE_VALUES = JSON_VALUES | st.text(max_size=9000) | st.sampled_from([Code.GOING_AWAY, True])


@settings(max_examples=300, deadline=None)
@given(
    values=st.tuples(*(LINE_VALUES for _ in LINE_KEYS)),
    about=st.dictionaries(
        st.sampled_from(["conn", "channel", "user", "type"]), st.text(), max_size=4
    ),
    secret=st.sampled_from(["", "s3cret"]),
)
# found by the property: a key in both, None on the line (info's keyword None wins: absent)
@example(values=(None, "", "", "p", Code.GOING_AWAY, "", ""), about={"type": "t"}, secret="")
def test_a_line_writes_what_info_writes_with_the_same_fields(
    values: tuple[object, ...], about: dict[str, str], secret: str
) -> None:
    """logs.Line (frame in, frame out, event: issue 30) against logs.info with the same fields
    as keywords: the same JSON, key for key in the same order, whatever the values (None:
    absent; another type: placed as info places it; long: cut as info cuts it)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.StringIO()
    logger = logging.getLogger("qakit_trio.test_line")
    line = logs.Line(logger, "frame out", LINE_KEYS)
    saved_hiding = dict(log_fields._hiding)
    try:
        if secret:  # QAKIT_AUTH=on: hidden wherever it is, the preset included
            log_fields.hide([secret])
            about = {**about, "user": f"ann {secret}"}
        setup_logging("INFO", out)
        fields = logs.Fields(about)
        line.info(fields, *values)  # the first: its head is encoded by render
        line.info(fields, *values)  # the next: render_values
        logs.info(logger, "frame out", dict(about), **dict(zip(LINE_KEYS, values, strict=True)))
        logs.flush_logs()
    finally:
        log_fields._hiding.clear()
        log_fields._hiding.update(saved_hiding)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    if secret:
        assert secret not in out.getvalue()
    first, second, generic = out.getvalue().rstrip("\n").split("\n")  # (not U+0085's lines)
    decoded = [json.loads(text) for text in (first, second, generic)]
    for each in decoded:
        each.pop("@timestamp")
    assert decoded[0] == decoded[1] == decoded[2]
    assert list(decoded[1]) == list(decoded[2])  # the same key order
    assert second.split(",", 1)[1] == generic.split(",", 1)[1]  # byte for byte, but the time


def test_a_line_goes_the_generic_way_when_captured_or_not_ours_alone() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.StringIO()
    logger = logging.getLogger("qakit_trio.test_line_paths")
    line = logs.Line(logger, "event", ("event_id", "extra"))
    about = logs.Fields(conn="c1")
    try:
        setup_logging("INFO", out)
        with logs.captured_lines() as lines:
            assert line.info(about, "e1", None) is None
        root.addHandler(other := logging.NullHandler())  # another handler: logging's path
        assert line.info(about, "e2", {"n": 1}) is None
        root.removeHandler(other)
        written = line.info({"conn": "c3"}, "e3", None)  # a plain dict: the generic path
        root.setLevel(logging.WARNING)
        assert line.info(about, "e4", None) is None  # below the level
        logs.flush_logs()
    finally:
        logger.handlers.clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert lines == [("qakit_trio.test_line_paths", "event", {"conn": "c1", "event_id": "e1"})]
    out_lines = [json.loads(text) for text in out.getvalue().splitlines()]
    assert [(x["qakit.connection_id"], x["event.id"]) for x in out_lines] == [
        ("c1", "e2"),
        ("c3", "e3"),
    ]
    assert written is not None
    assert json.loads(written)["event.id"] == "e3"


def test_fields_made_again_on_any_change_and_never_written_twice_or_uncut() -> None:
    """logs.Fields (review of issue 30): a key given again wins once (as {**about, **fields}
    did), every mutator makes the JSON again, and the fields' limit counts them too."""
    formatter = JsonFormatter()

    def members(about: dict[str, object], **fields: object) -> dict[str, object]:
        line = json.loads(formatter.render(0.0, "INFO", "t", "m", fields, about))
        return {k: v for k, v in line.items() if k.startswith("qakit.")}

    about = logs.Fields(conn="c1", channel="room")
    assert members(about, channel="other") == {
        "qakit.connection_id": "c1",
        "qakit.channel": "other",
    }
    line = formatter.render(0.0, "INFO", "t", "m", {"channel": "other"}, about)
    assert line.count('"qakit.channel"') == 1
    changes: list[Callable[[logs.Fields], object]] = [
        lambda f: f.update(conn="c2"),
        lambda f: f.pop("channel"),
        lambda f: f.setdefault("user", "ann"),
        lambda f: f.__delitem__("conn"),
        lambda f: f.__ior__({"conn": "c3"}),
        lambda f: f.clear(),
    ]
    for change in changes:
        before = dict(about)
        change(about)
        assert about != before  # (each changes something)
        assert members(about) == members(dict(about)), (before, dict(about))
    long = logs.Fields(conn="c" * 6000)
    cut = json.loads(formatter.render(0.0, "INFO", "t", "m", {"payload": "p" * 3000}, long))
    assert len(cut["qakit.connection_id"]) < 6000  # cut, as one set of fields
    assert len(cut["qakit.frame.payload"]) < 3000
