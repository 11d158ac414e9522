"""A finding's evidence, checked: the steps a trainee's clients sent, and the reply they say is
wrong (POST /lab/findings). Pure: no trio, no quart, tested without an event loop.

    {"steps": [
        {"conn": "a", "path": "/ws?channel=x", "send": {"action": "echo", ...}},
        {"conn": "a", "text": "{not json"},                 the frame's text as it was sent
        {"http": "POST", "path": "/orders", "json": {"customer": "ivan"}},
        {"conn": "b", "path": "/ws/orders", "send": {...}, "wait_ms": 0}
     ],
     "wrong": {"step": 4, "frame": 2},      the 2nd reply to the 4th step (both from 1), or
              {"step": 4, "log": 1}         the 1st `event` log line the 4th step caused, or
              {"step": 4, "record": 1}      the 1st Kafka record it caused
     "expected": "...", "actual": "..."}

A WebSocket step names its connection (`conn`); the first step of a connection gives its path
(a later one may repeat it). A step's replies are what its connection received after it was
sent, until the next step on that connection; an HTTP step's one reply is its answer,
{"status", "body"}; a connection the stand closed shows {"close": code}.
`wait_ms` (default WAIT_MS) is how long the replay lets pass, on its own clock, before the next
step: 0 sends the next step at once (two requests racing each other).

Every problem is a `StepError` with the place it is at (`loc`, FastAPI's) and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_STEPS = 200
MAX_CONNS = 16  # connections one finding may open
MAX_SEND_CHARS = 16 * 1024  # one frame or JSON body, encoded
MAX_WAIT_MS = 10_000
WAIT_MS = 1_000  # between steps by default: longer than anything the stand holds back (the
# lost_update window is 0.5 s), shorter than stale_stats's 5 s
MAX_TEXT = 1_000  # `expected` and `actual`
WS_PATHS = ("/ws", "/ws/orders")
HTTP_METHODS = ("GET", "POST")
# the REST routes a finding may call: the orders, /stats, /broadcast (no /lab, /auth; no
# /health either: its task times and log counters are the process's, not the twin's)
HTTP_PATH = re.compile(r"^/(orders(/[^/?#]{1,40}(/[a-z_]{1,20})?)?|stats|broadcast)$")
SECRET_PARAMETERS = frozenset({"token", "class_code"})  # left out: a twin has no identities
# Fields that differ between two runs by nature (times, ids the server makes): compared by
# presence, never by value.
IGNORED = frozenset({"ts", "event_id", "connection_id", "created_at", "updated_at"})
TARGETS = ("frame", "log", "record")
REPLAY_SECONDS = 5.0  # wall time for all the replays of one finding (replay.py)
MAX_WAITING = 4  # findings waiting for their replay; more: "busy, retry" (503)

Loc = tuple[str | int, ...]
# what builds a twin (replay.py cannot import app.py): `make_app(overrides, kafka)`, the live
# stand's settings with `overrides` (its bugs, its seed) and a Kafka that keeps its records
MakeApp = Callable[[dict[str, Any], Any], Any]


class ReplayTooLong(Exception):
    """The replays of one finding took longer than REPLAY_SECONDS (replay.py)."""


class StepError(ValueError):
    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True, slots=True)
class WsStep:
    conn: str
    path: str  # the connection's path and query, `token` left out
    text: str  # what is sent
    wait_ms: int


@dataclass(frozen=True, slots=True)
class HttpStep:
    method: str
    path: str
    body: Any  # JSON (None: no body)
    wait_ms: int


Step = WsStep | HttpStep


@dataclass(frozen=True, slots=True)
class Wrong:
    step: int  # from 1
    target: str  # frame, log or record
    index: int  # from 1

    def as_json(self) -> dict[str, int]:
        return {"step": self.step, self.target: self.index}


@dataclass(frozen=True, slots=True)
class Evidence:
    steps: tuple[Step, ...]
    wrong: Wrong
    expected: str
    actual: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the replay found (replay.py): `confirmed` when the pointed reply differs."""

    confirmed: bool
    bug: str | None  # confirmed: the trainee's bug that changed the reply
    clean: Any  # the pointed reply on the clean twin (None: it has none)
    buggy: Any  # and on the twin with the trainee's bugs
    detail: str  # why, in a sentence


def parse_evidence(body: dict[str, Any]) -> Evidence:
    """The finding's body, checked; StepError for the first problem."""
    for key in body:
        if key not in ("steps", "wrong", "expected", "actual"):
            raise StepError((key,), "Extra inputs are not permitted")
    steps = parse_steps(body.get("steps"))
    wrong = _wrong(body.get("wrong"), len(steps))
    return Evidence(steps, wrong, _text(body, "expected"), _text(body, "actual"))


def parse_steps(raw: object) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise StepError(("steps",), "steps must be a list of steps")
    if not 1 <= len(raw) <= MAX_STEPS:
        raise StepError(("steps",), f"steps must hold 1 to {MAX_STEPS} steps, not {len(raw)}")
    paths: dict[str, str] = {}
    steps: list[Step] = []
    for index, item in enumerate(raw):
        loc: Loc = ("steps", index)
        if not isinstance(item, dict):
            raise StepError(loc, "a step must be an object")
        steps.append(_ws_step(item, loc, paths) if "conn" in item else _http_step(item, loc))
    return tuple(steps)


def _wait(item: dict[str, Any], loc: Loc) -> int:
    wait = item.get("wait_ms", WAIT_MS)
    if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= MAX_WAIT_MS:
        raise StepError((*loc, "wait_ms"), f"wait_ms must be a whole number 0..{MAX_WAIT_MS}")
    return wait


def _ws_step(item: dict[str, Any], loc: Loc, paths: dict[str, str]) -> WsStep:
    _only(item, loc, ("conn", "path", "send", "text", "wait_ms"))
    conn = item["conn"]
    if not isinstance(conn, str) or not 1 <= len(conn) <= 32:
        raise StepError((*loc, "conn"), "conn must be a name of 1 to 32 characters")
    path = paths.get(conn)
    if "path" in item:
        given = _ws_path(item["path"], (*loc, "path"))
        if path is not None and given != path:
            raise StepError((*loc, "path"), f"connection {conn!r} was opened on {path}")
        path = given
    if path is None:
        raise StepError((*loc, "path"), f"the first step of connection {conn!r} needs its path")
    if conn not in paths and len(paths) >= MAX_CONNS:
        raise StepError((*loc, "conn"), f"at most {MAX_CONNS} connections")
    paths[conn] = path
    if ("send" in item) == ("text" in item):
        raise StepError(loc, "a WebSocket step has one of send (JSON) or text")
    if "text" in item:
        text = item["text"]
        if not isinstance(text, str):
            raise StepError((*loc, "text"), "text must be a string")
    else:
        text = json.dumps(item["send"], ensure_ascii=False)
    if len(text) > MAX_SEND_CHARS:
        raise StepError(loc, f"a frame of at most {MAX_SEND_CHARS} characters")
    return WsStep(conn, path, text, _wait(item, loc))


def _ws_path(raw: object, loc: Loc) -> str:
    if not isinstance(raw, str) or len(raw) > 512:
        raise StepError(loc, "path must be a string")
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or parts.path not in WS_PATHS:
        raise StepError(loc, f"a WebSocket path is one of {', '.join(WS_PATHS)} (and a query)")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in SECRET_PARAMETERS]
    return parts.path + (f"?{urlencode(query)}" if query else "")


def _http_step(item: dict[str, Any], loc: Loc) -> HttpStep:
    _only(item, loc, ("http", "path", "json", "wait_ms"))
    method = item.get("http")
    if method not in HTTP_METHODS:
        raise StepError(
            (*loc, "http"),
            "a step is a WebSocket frame (conn) or a REST call "
            f"(http: {' or '.join(HTTP_METHODS)})",
        )
    raw = item.get("path")
    if not isinstance(raw, str) or len(raw) > 512:
        raise StepError((*loc, "path"), "path must be a string")
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or HTTP_PATH.match(parts.path) is None:
        raise StepError((*loc, "path"), "a REST step calls /orders..., /stats or /broadcast")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in SECRET_PARAMETERS]
    path = parts.path + (f"?{urlencode(query)}" if query else "")
    body = item.get("json")
    if body is not None and len(json.dumps(body)) > MAX_SEND_CHARS:
        raise StepError((*loc, "json"), f"a body of at most {MAX_SEND_CHARS} characters")
    return HttpStep(str(method), path, body, _wait(item, loc))


def _only(item: dict[str, Any], loc: Loc, keys: tuple[str, ...]) -> None:
    for key in item:
        if key not in keys:
            raise StepError((*loc, key), "Extra inputs are not permitted")


def _wrong(raw: object, steps: int) -> Wrong:
    if not isinstance(raw, dict):
        raise StepError(("wrong",), 'wrong must be {"step": N, "frame": M} (or "log", "record")')
    _only(raw, ("wrong",), ("step", *TARGETS))
    targets = [key for key in TARGETS if key in raw]
    if "step" not in raw or len(targets) != 1:
        raise StepError(("wrong",), 'wrong must be {"step": N, "frame": M} (or "log", "record")')
    values = {}
    for key, limit in (("step", steps), (targets[0], 10_000)):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise StepError(("wrong", key), f"{key} must be a whole number 1..{limit}")
        values[key] = value
    return Wrong(values["step"], targets[0], values[targets[0]])


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise StepError((key,), f"{key} must be a text of at most {MAX_TEXT} characters")
    return value


def normalized(value: Any) -> Any:
    """`value` with the fields that differ by nature (IGNORED) kept but blanked, at any depth."""
    if isinstance(value, dict):
        return {
            key: "…" if key in IGNORED and item is not None else normalized(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


OUR_EPOCH = re.compile(r"^[0-9a-f]{8}$")  # an epoch as the stand makes them (wire/stamps.py)


def named_epochs(steps: tuple[Step, ...], default_channel: str) -> dict[str, str]:
    """channel -> the epoch the steps' recoveries name for it (a `since` of subscribe or
    history, the URL's ?epoch=), when it is one of ours: a replay twin starts those channels
    at those epochs, as the trainee met them (replay.py). Any other epoch stays foreign."""
    named: dict[str, str] = {}
    for step in steps:
        if not isinstance(step, WsStep):
            continue
        query = dict(parse_qsl(urlsplit(step.path).query))
        if OUR_EPOCH.match(query.get("epoch", "")):
            named.setdefault(query.get("channel") or default_channel, query["epoch"])
        try:
            sent = json.loads(step.text)
        except ValueError:
            continue
        payload = sent.get("payload") if isinstance(sent, dict) else None
        since = payload.get("since") if isinstance(payload, dict) else None
        channel = payload.get("channel") if isinstance(payload, dict) else None
        epoch = since.get("epoch") if isinstance(since, dict) else None
        if isinstance(channel, str) and isinstance(epoch, str) and OUR_EPOCH.match(epoch):
            named.setdefault(channel, epoch)
    return named
