"""The checks of the load-testing starter pack (loadtest/), fed hand-made frames: the same
frames to the correlators of the three tools, Locust's (loadtest/locust/correlation.py) in
Python, Artillery's (loadtest/artillery/processor.js) and k6's (loadtest/k6/lib.js, k6's
modules stood in for by tests/support/k6_shim/) on Node. Each must accept a well-formed
exchange, catch each fault the lab can put in one (the bugs of docs/lab-answer-key.md that a
load test meets), and say it in the same words as the other two. And the pack's README names
what is in it and the stand's metrics it compares with. tests/test_loadtest.py runs the
scenarios themselves against a live stand."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .support.timeouts import TIMEOUT
from .test_docs import anchors, links

ROOT = Path(__file__).resolve().parents[1]
LOADTEST = ROOT / "loadtest"
SHIM = ROOT / "tests" / "support" / "k6_shim"  # k6's modules, for k6's lib.js
NODE = ("node", "--experimental-default-type=module", "--import", str(SHIM / "register.mjs"))

_SPEC = importlib.util.spec_from_file_location(
    "loadtest_correlation", LOADTEST / "locust" / "correlation.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
CORRELATION = sys.modules[_SPEC.name] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(CORRELATION)

HELLO = {"type": "system", "channel": "c", "connection_id": "me", "epoch": "e1", "offset": 1}


def frame(kind: str, request_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "request_id": request_id, **fields, "ts": "2026-12-03T00:00:00+00:00"}


def event(request_id: str, action: str) -> dict[str, Any]:
    return frame("event", request_id, name=f"ws.{action}", event_id="x")


def message(request_id: str, offset: int, sender: str, named: str | None = None) -> dict[str, Any]:
    """A publication of channel c by `sender`, whose message names `named` (its own id)."""
    text = json.dumps({"sent_at_ms": 1.0, "request_id": named or request_id})
    fields = {"channel": "c", "message": text, "from": sender, "offset": offset, "epoch": "e1"}
    return frame("message", request_id, **fields)


def echo(request_id: str) -> list[list[Any]]:
    return [["frame", frame("ack", request_id)], ["frame", frame("echo", request_id, data={})]]


# name -> (steps, what the error says; None: no error)
CASES: dict[str, tuple[list[list[Any]], str | None]] = {
    "two requests in flight, their frames interleaved": (
        [
            ["sent", "r1", "echo"],
            ["sent", "r2", "triplet_demo"],
            ["frame", frame("ack", "r1")],
            ["frame", frame("ack", "r2")],
            ["frame", frame("echo", "r1", data={})],
            ["frame", frame("step", "r2", step=1)],
            ["frame", event("r1", "echo")],
            ["frame", frame("step", "r2", step=2)],
            ["frame", event("r2", "triplet_demo")],
        ],
        None,
    ),
    "event_wrong_request_id: the second event claims the first id": (
        [
            ["sent", "r1", "echo"],
            *echo("r1"),
            ["frame", event("r1", "echo")],
            ["sent", "r2", "echo"],
            *echo("r2"),
            ["frame", event("r1", "echo")],
        ],
        "whose frames had all arrived",
    ),
    "ack_after_data": (
        [["sent", "r1", "echo"], ["frame", frame("echo", "r1", data={})]],
        "expected ack",
    ),
    "an error instead of the data": (
        [
            ["sent", "r1", "echo"],
            ["frame", frame("ack", "r1")],
            ["frame", frame("error", "r1", error="internal_error")],
        ],
        "expected echo",
    ),
    "an id never sent": ([["sent", "r1", "echo"], ["frame", frame("ack", "r9")]], "never sent"),
    "the event of another action": (
        [["sent", "r1", "echo"], *echo("r1"), ["frame", event("r1", "broadcast")]],
        "the event of another action",
    ),
    "fan-out: one's own publication and another's, in offset order": (
        [
            ["sent", "r1", "broadcast"],
            ["frame", frame("ack", "r1")],
            ["frame", message("r1", 2, "me")],
            ["frame", message("p-1", 3, "other")],
            ["frame", event("r1", "broadcast")],
        ],
        None,
    ),
    "fan-out: a gap in the offsets": (
        [["frame", message("p-1", 3, "other")]],
        "offset 3 after 1",
    ),
    "fan-out: a publication claims another request's id": (
        [["frame", message("p-1", 2, "other", named="p-0")]],
        "claims another id",
    ),
    "fan-out: another connection's publication claims our id": (
        [["sent", "r1", "broadcast"], ["frame", message("r1", 2, "other")]],
        "another connection's message claims our",
    ),
}


def feed_python(steps: list[list[Any]], channel: str = "c") -> str | None:
    try:
        correlator = CORRELATION.Correlator.after(HELLO, channel)
        for kind, *args in steps:
            if kind == "sent":
                correlator.sent(*args, time.time())
            else:
                correlator.received(args[0], time.time())
    except CORRELATION.CorrelationError as error:
        return f"{error}: {error.detail}"
    return None


def says(error: str | None, expected: str | None) -> bool:
    """An error that says what was expected, or none where none was."""
    return error is None if expected is None else error is not None and expected in error


def test_the_three_tools_checks_agree_on_hand_made_frames() -> None:
    cases = {**CASES, "a hello of another channel": ([], "not the hello of channel")}
    channels = {name: "elsewhere" if name.startswith("a hello") else "c" for name in cases}
    fed = [
        {"channel": channels[name], "hello": HELLO, "steps": steps}
        for name, (steps, _) in cases.items()
    ]
    done = subprocess.run(
        [*NODE, str(ROOT / "tests" / "support" / "correlation_feed.mjs")],
        input=json.dumps(fed),
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    javascript = json.loads(done.stdout)
    wrong = {}
    for (name, (steps, expected)), js in zip(cases.items(), javascript, strict=True):
        got = {"locust": feed_python(steps, channels[name]), **js}
        said = set(got.values())  # the three say it in the same words
        if len(said) != 1 or not says(said.pop(), expected):
            wrong[name] = got
    assert wrong == {}


def test_the_readme_names_every_file_the_stands_metrics_and_links_that_lead_somewhere() -> None:
    readme = LOADTEST / "README.md"
    text = readme.read_text()
    files = [
        path.relative_to(LOADTEST)
        for path in sorted(LOADTEST.rglob("*"))
        if path.is_file() and path != readme and "__pycache__" not in path.parts
    ]
    assert len(files) == 13
    unnamed = [path for path in files if f"`{path.name}`" not in text and f"`{path}`" not in text]
    assert unnamed == []
    metrics = (ROOT / "qakit_trio" / "web" / "metrics.py").read_text()
    for name in (
        "qakit_request_duration_seconds",
        "qakit_ack_latency_seconds",
        "qakit_delivery_latency_seconds",
    ):
        assert f"`{name}" in text, name
        assert f'"{name}"' in metrics, name  # the stand exports it
    for link in links(text):
        if urlsplit(link).scheme:
            continue
        path, _, anchor = link.partition("#")
        target = (readme.parent / path).resolve() if path else readme
        assert target.is_file(), link
        assert not anchor or anchor in anchors(target.read_text()), link
