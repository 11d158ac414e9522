"""A finding's evidence, checked (classroom/steps.py), without an event loop: what a good body
becomes, every limit and every refusal with its place in the body (`loc`), the secrets left out
of the paths, and the fields compared by presence only (`normalized`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from qakit_trio.classroom.steps import (
    MAX_CONNS,
    MAX_SEND_CHARS,
    MAX_STEPS,
    MAX_TEXT,
    MAX_WAIT_MS,
    WAIT_MS,
    Evidence,
    HttpStep,
    Loc,
    StepError,
    Wrong,
    WsStep,
    normalized,
    parse_evidence,
)

ECHO = {"conn": "a", "path": "/ws?channel=x", "send": {"action": "echo"}}


def body(*steps: object, **rest: Any) -> dict[str, Any]:
    return {"steps": list(steps), "wrong": {"step": 1, "frame": 1}, **rest}


def refused(raw: dict[str, Any]) -> StepError:
    with pytest.raises(StepError) as caught:
        parse_evidence(raw)
    return caught.value


def test_a_good_finding_becomes_its_steps() -> None:
    evidence = parse_evidence(
        {
            "steps": [
                {"conn": "a", "path": "/ws?channel=x", "send": {"action": "echo", "n": "ж"}},
                {"conn": "a", "text": "{not json", "wait_ms": 0},
                {"http": "POST", "path": "/orders", "json": {"customer": "ivan"}},
                {"conn": "b", "path": "/ws/orders", "send": {"action": "ping"}, "wait_ms": 250},
                {"conn": "a", "path": "/ws?channel=x", "text": "again"},  # the same path: fine
                {"http": "GET", "path": "/orders/1/history"},
            ],
            "wrong": {"step": 4, "log": 2},
            "expected": "одно событие / one event",
            "actual": "два",
        }
    )
    assert evidence == Evidence(
        (
            WsStep("a", "/ws?channel=x", '{"action": "echo", "n": "ж"}', WAIT_MS),
            WsStep("a", "/ws?channel=x", "{not json", 0),
            HttpStep("POST", "/orders", {"customer": "ivan"}, WAIT_MS),
            WsStep("b", "/ws/orders", '{"action": "ping"}', 250),
            WsStep("a", "/ws?channel=x", "again", WAIT_MS),
            HttpStep("GET", "/orders/1/history", None, WAIT_MS),
        ),
        Wrong(4, "log", 2),
        "одно событие / one event",
        "два",
    )
    assert evidence.wrong.as_json() == {"step": 4, "log": 2}
    assert parse_evidence(body(ECHO)).expected == ""  # expected and actual may be left out


def test_tokens_and_class_codes_are_left_out_of_the_paths() -> None:
    evidence = parse_evidence(
        body(
            {"conn": "a", "path": "/ws?token=eyJ.secret&channel=x", "send": {}},
            {"conn": "b", "path": "/ws/orders?token=eyJ.secret", "send": {}},
            {"http": "GET", "path": "/orders?class_code=lesson-7&limit=3&token=t"},
        )
    )
    assert [step.path for step in evidence.steps] == [
        "/ws?channel=x",
        "/ws/orders",
        "/orders?limit=3",
    ]
    assert "secret" not in repr(evidence)
    # the connection's path is compared without its token: a later step may repeat it
    again = body(
        {"conn": "a", "path": "/ws?channel=x&token=one", "send": {}},
        {"conn": "a", "path": "/ws?channel=x&token=two", "send": {}},
    )
    assert len(parse_evidence(again).steps) == 2


def test_the_limits_themselves_are_allowed() -> None:
    many: list[dict[str, Any]] = [
        {"conn": f"c{n}", "path": "/ws", "send": {}} for n in range(MAX_CONNS)
    ]
    many += [{"conn": "c0", "send": {}, "wait_ms": MAX_WAIT_MS}] * (MAX_STEPS - MAX_CONNS)
    evidence = parse_evidence(
        {
            "steps": many,
            "wrong": {"step": MAX_STEPS, "record": 10_000},
            "expected": "x" * MAX_TEXT,
        }
    )
    assert len(evidence.steps) == MAX_STEPS
    assert len({step.conn for step in evidence.steps if isinstance(step, WsStep)}) == MAX_CONNS
    longest = "x" * MAX_SEND_CHARS
    assert parse_evidence(body({"conn": "a", "path": "/ws", "text": longest})).steps
    assert parse_evidence(body({"conn": "a", "path": "/ws", "text": "", "wait_ms": 0})).steps


def conns(count: int) -> list[dict[str, Any]]:
    return [{"conn": f"c{n}", "path": "/ws", "send": {}} for n in range(count)]


@pytest.mark.parametrize(
    ("raw", "loc", "says"),
    [
        ({"steps": "all of them", "wrong": {}}, ("steps",), "must be a list"),
        ({"wrong": {"step": 1, "frame": 1}}, ("steps",), "must be a list"),
        (body(), ("steps",), "1 to 200 steps, not 0"),
        ({"steps": [ECHO] * (MAX_STEPS + 1)}, ("steps",), f"not {MAX_STEPS + 1}"),
        (body(ECHO, "echo"), ("steps", 1), "a step must be an object"),
        (body(ECHO, extra=1), ("extra",), "Extra inputs are not permitted"),
        (body({**ECHO, "headers": {}}), ("steps", 0, "headers"), "Extra inputs"),
        ({"steps": conns(MAX_CONNS + 1)}, ("steps", MAX_CONNS, "conn"), "at most 16"),
        (body({**ECHO, "conn": ""}), ("steps", 0, "conn"), "1 to 32 characters"),
        (body({**ECHO, "conn": "c" * 33}), ("steps", 0, "conn"), "1 to 32 characters"),
        (body({**ECHO, "conn": 1}), ("steps", 0, "conn"), "1 to 32 characters"),
        (body({"conn": "a", "send": {}}), ("steps", 0, "path"), "needs its path"),
        (
            body(ECHO, {"conn": "a", "path": "/ws/orders", "send": {}}),
            ("steps", 1, "path"),
            "was opened on /ws?channel=x",
        ),
        (body({**ECHO, "path": "/lab/bugs"}), ("steps", 0, "path"), "one of /ws, /ws/orders"),
        (body({**ECHO, "path": "ws://evil/ws"}), ("steps", 0, "path"), "one of /ws"),
        (body({**ECHO, "path": 7}), ("steps", 0, "path"), "must be a string"),
        (body({**ECHO, "path": "/ws?" + "x" * 600}), ("steps", 0, "path"), "must be a string"),
        (body({**ECHO, "text": "t"}), ("steps", 0), "one of send (JSON) or text"),
        (body({"conn": "a", "path": "/ws"}), ("steps", 0), "one of send (JSON) or text"),
        (body({"conn": "a", "path": "/ws", "text": 1}), ("steps", 0, "text"), "a string"),
        (
            body({"conn": "a", "path": "/ws", "text": "x" * (MAX_SEND_CHARS + 1)}),
            ("steps", 0),
            "at most 16384 characters",
        ),
        (
            body({"conn": "a", "path": "/ws", "send": {"x": "x" * MAX_SEND_CHARS}}),
            ("steps", 0),
            "at most 16384 characters",
        ),
        (body({**ECHO, "wait_ms": -1}), ("steps", 0, "wait_ms"), "0..10000"),
        (body({**ECHO, "wait_ms": MAX_WAIT_MS + 1}), ("steps", 0, "wait_ms"), "0..10000"),
        (body({**ECHO, "wait_ms": True}), ("steps", 0, "wait_ms"), "0..10000"),
        (body({**ECHO, "wait_ms": 0.5}), ("steps", 0, "wait_ms"), "0..10000"),
        (body({"http": "GET", "path": "/stats", "wait_ms": "1"}), ("steps", 0, "wait_ms"), "0.."),
        (body({"http": "DELETE", "path": "/orders"}), ("steps", 0, "http"), "GET or POST"),
        (body({"path": "/orders"}), ("steps", 0, "http"), "a WebSocket frame (conn)"),
        (body({"http": "GET", "path": "/lab/bugs"}), ("steps", 0, "path"), "/stats or /broadcast"),
        (body({"http": "GET", "path": "/health"}), ("steps", 0, "path"), "/stats or /broadcast"),
        (body({"http": "POST", "path": "/auth/token"}), ("steps", 0, "path"), "a REST step"),
        (body({"http": "GET", "path": "/lab/findings"}), ("steps", 0, "path"), "a REST step"),
        (body({"http": "GET", "path": "//evil/orders"}), ("steps", 0, "path"), "a REST step"),
        (body({"http": "GET", "path": "http://h/stats"}), ("steps", 0, "path"), "a REST step"),
        (body({"http": "GET", "path": "/orders/1/x/y"}), ("steps", 0, "path"), "a REST step"),
        (body({"http": "GET"}), ("steps", 0, "path"), "must be a string"),
        (body({"http": "GET", "path": "/stats", "body": {}}), ("steps", 0, "body"), "Extra"),
        (
            body({"http": "POST", "path": "/orders", "json": {"c": "x" * MAX_SEND_CHARS}}),
            ("steps", 0, "json"),
            "at most 16384 characters",
        ),
        ({"steps": [ECHO]}, ("wrong",), 'wrong must be {"step": N'),
        ({"steps": [ECHO], "wrong": [1, 1]}, ("wrong",), 'wrong must be {"step": N'),
        ({"steps": [ECHO], "wrong": {"frame": 1}}, ("wrong",), "wrong must be"),
        ({"steps": [ECHO], "wrong": {"step": 1}}, ("wrong",), "wrong must be"),
        ({"steps": [ECHO], "wrong": {"step": 1, "frame": 1, "log": 1}}, ("wrong",), "must"),
        ({"steps": [ECHO], "wrong": {"step": 1, "line": 1}}, ("wrong", "line"), "Extra"),
        ({"steps": [ECHO], "wrong": {"step": 0, "frame": 1}}, ("wrong", "step"), "1..1"),
        ({"steps": [ECHO], "wrong": {"step": 2, "frame": 1}}, ("wrong", "step"), "1..1"),
        ({"steps": [ECHO], "wrong": {"step": True, "frame": 1}}, ("wrong", "step"), "1..1"),
        ({"steps": [ECHO], "wrong": {"step": 1, "frame": 0}}, ("wrong", "frame"), "1..10000"),
        ({"steps": [ECHO], "wrong": {"step": 1, "log": 10_001}}, ("wrong", "log"), "1..10000"),
        ({"steps": [ECHO], "wrong": {"step": 1, "record": "1"}}, ("wrong", "record"), "1.."),
        (body(ECHO, expected=["x"]), ("expected",), "at most 1000 characters"),
        (body(ECHO, actual="x" * (MAX_TEXT + 1)), ("actual",), "at most 1000 characters"),
    ],
)
def test_a_bad_finding_names_its_problem(raw: dict[str, Any], loc: Loc, says: str) -> None:
    error = refused(raw)
    assert error.loc == loc
    assert says in str(error)


def test_normalized_blanks_what_differs_by_nature_at_any_depth() -> None:
    frame = {
        "type": "event",
        "ts": "2026-01-01T00:00:00Z",
        "event_id": "e-1",
        "connection_id": None,  # absent stays absent: compared by presence
        "data": [{"created_at": "t1", "updated_at": "t2", "id": 7}, "ts"],
        "extra": {"nested": {"event_id": "e-2", "request_id": "r"}},
    }
    kept = copy.deepcopy(frame)
    assert normalized(frame) == {
        "type": "event",
        "ts": "…",
        "event_id": "…",
        "connection_id": None,
        "data": [{"created_at": "…", "updated_at": "…", "id": 7}, "ts"],
        "extra": {"nested": {"event_id": "…", "request_id": "r"}},
    }
    assert frame == kept  # a copy: the reply shown to the trainee keeps its values
    other = {**frame, "ts": "2027-05-05T00:00:00Z", "event_id": "e-9"}
    assert normalized(other) == normalized(frame)
    assert normalized({**frame, "request_id": "r2"}) != normalized(frame)  # not ignored
    assert normalized({**frame, "event_id": None}) != normalized(frame)  # a missing id shows
    assert normalized([1, "x", None]) == [1, "x", None]
    assert normalized(None) is None
