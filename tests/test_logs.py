"""JSON log lines: their format, and which lines one request and one broadcast produce."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
import trio

from qakit_trio import logs
from qakit_trio.logs import FLUSH_BYTES, JsonFormatter, JsonLinesHandler, setup_logging

from .helpers import connected, receive_json, request, running_server


def fields_of(caplog: pytest.LogCaptureFixture, msg: str) -> list[dict[str, Any]]:
    return [dict(r.fields) for r in caplog.records
            if r.getMessage() == msg and hasattr(r, "fields")]


def test_formatter_writes_one_json_object_per_line() -> None:
    record = logging.LogRecord("qakit_trio.x", logging.INFO, __file__, 1, "frame in", None, None)
    record.fields = {"conn": "c1", "channel": "общий", "request_id": 5}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed.items() >= {"level": "INFO", "logger": "qakit_trio.x", "msg": "frame in",
                              "conn": "c1", "channel": "общий", "request_id": 5}.items()
    assert parsed["ts"].endswith("+00:00")


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
        assert datetime.fromisoformat(line.pop("ts")).utcoffset() == timedelta(0)
    assert fast == slow == {"level": "INFO", "logger": "qakit_trio.test_fast_path",
                            "msg": "frame in", "conn": "c1", "request_id": 7}


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
        assert [json.loads(line)["msg"] for line in out.getvalue().splitlines()] == [
            "first", "second", "trouble"]
        for _ in range(FLUSH_BYTES // 50):  # a full buffer writes itself out
            logger.info("x" * 50)
        assert len(out.getvalue().splitlines()) > 3
        handler.flush()
        assert len(out.getvalue().splitlines()) == 3 + FLUSH_BYTES // 50
    finally:
        logger.removeHandler(handler)


async def test_one_line_per_frame_each_with_connection_channel_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(10):
        async with running_server() as server, connected(server, "room") as (ws, hello):
            caplog.clear()
            frames = await request(ws, {"action": "echo", "payload": {"a": 1}, "request_id": "L1"})
    conn = hello["connection_id"]
    ins = [f for f in fields_of(caplog, "frame in") if f["request_id"] == "L1"]
    outs = [f for f in fields_of(caplog, "frame out") if f["request_id"] == "L1"]
    assert [(f["conn"], f["channel"], f["action"]) for f in ins] == [(conn, "room", "echo")]
    assert [(f["conn"], f["channel"], f["type"]) for f in outs] == [
        (conn, "room", "ack"), (conn, "room", "echo"), (conn, "room", "event")]
    events = fields_of(caplog, "event")
    assert [(e["event_id"], e["name"], e["request_id"], e["conn"]) for e in events] == [
        (frames[-1]["event_id"], "ws.echo", "L1", conn)]


async def test_a_broadcast_is_logged_once_with_its_delivered_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(10):
        async with (running_server() as server, connected(server, "room") as (a, _),
                    connected(server, "room") as (b, _), connected(server, "room") as (c, _)):
            caplog.clear()
            await request(a, {"action": "broadcast", "payload": {"message": "m"},
                              "request_id": "B1"})
            for ws in (b, c):
                assert (await receive_json(ws))["request_id"] == "B1"
    broadcasts = fields_of(caplog, "broadcast")
    assert [(f["request_id"], f["delivered"], f["channel"]) for f in broadcasts] == [
        ("B1", 3, "room")]
    # the message frames to the three members are not "frame out" lines of their own
    assert [f["type"] for f in fields_of(caplog, "frame out")] == ["ack", "event"]
