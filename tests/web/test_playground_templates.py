"""The playground's message templates (pages/static/templates.js) against the stand: the
channel actions have theirs, and every /ws template the stand answers as the template means,
sent as the page sends it ({rid} filled), in the page's order, on one connection: a plain
template without an error frame, an `error` one with its error frame; a `fault` one's fault
is one the stand accepts (what each fault does: sessions/test_faults.py). In a browser, the
page filling a `since` from the frames it saw: tests/pages/test_browser.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import trio

from qakit_trio.lab.fault_spec import parse_fault

from ..support.helpers import connected, receive_json, running_server
from ..support.timeouts import TIMEOUT

TEMPLATES_JS = Path(__file__).resolve().parents[2] / "qakit_trio/pages/static/templates.js"
CHANNEL_ACTIONS = {"subscribe", "unsubscribe", "history", "presence"}


def templates() -> dict[str, list[tuple[str, Any]]]:
    """TEMPLATES of templates.js, read as JSON: its object literal with its keys quoted and
    its trailing commas and comments gone (the file is ours and keeps to that much)."""
    source = TEMPLATES_JS.read_text("utf-8")
    literal = source.split("const TEMPLATES = ", 1)[1].split("\n};", 1)[0] + "\n}"
    literal = re.sub(r"^\s*//.*$", "", literal, flags=re.MULTILINE)
    literal = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', literal)
    literal = re.sub(r",(\s*[}\]])", r"\1", literal)
    parsed = json.loads(literal)
    return {path: [(key, value) for key, value in rows] for path, rows in parsed.items()}


def by_action(action: str) -> list[dict[str, Any]]:
    return [
        value
        for _, value in templates()["/ws"]
        if isinstance(value, dict) and value.get("action") == action
    ]


def test_the_channel_actions_have_their_templates() -> None:
    actions = {value.get("action") for _, value in templates()["/ws"] if isinstance(value, dict)}
    assert actions >= CHANNEL_ACTIONS
    subscribes = [value["payload"] for value in by_action("subscribe")]
    assert any(payload.get("join_leave") is True for payload in subscribes)
    [since] = [payload["since"] for payload in subscribes if "since" in payload]
    assert set(since) == {"offset", "epoch"}
    assert any("channel" in value["payload"] for value in by_action("broadcast"))
    faults = [value["fault"] for value in by_action("echo") if "fault" in value]
    assert any("disconnect_after_ms" in fault for fault in faults)


async def answer(ws: Any) -> list[dict[str, Any]]:
    """The frames answering one request: up to its event, or its error frame."""
    frames = [await receive_json(ws)]
    while frames[-1]["type"] not in ("event", "error"):
        frames.append(await receive_json(ws))
    return frames


async def test_every_ws_template_is_answered_by_the_stand_as_it_means() -> None:
    rows = templates()["/ws"]
    for key, value in rows:
        if key.startswith("tpl.fault"):
            parse_fault(value["fault"])  # raises the validation error the stand would send
    sent = [(key, value) for key, value in rows if not key.startswith("tpl.fault")]
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server, "general") as (ws, _):
            answers: dict[str, list[dict[str, Any]]] = {}
            for number, (key, value) in enumerate(sent, 1):
                text = value if isinstance(value, str) else json.dumps(value)
                await ws.send_message(text.replace("{rid}", f"r{number}", 1))
                answers[key] = frames = await answer(ws)
                types = [frame["type"] for frame in frames]
                if key.startswith("tpl.error"):
                    assert types[-1] == "error", (key, frames)
                else:
                    assert "error" not in types, (key, frames)
            assert [f["type"] for f in answers["tpl.subscribe"]] == ["ack", "subscribed", "event"]
            published = answers["tpl.broadcastChannel"][1]
            assert (published["type"], published["channel"], published["offset"]) == (
                "message",
                "news",
                1,
            )
            history = answers["tpl.history"][1]["data"]
            assert [p["offset"] for p in history["publications"]] == [1]
            assert answers["tpl.presence"][1]["data"]["count"] == 1
            assert answers["tpl.unsubscribe"][1]["data"] == {"channel": "news"}
            again = answers["tpl.subscribeSince"][1]["data"]
            # the template's own epoch is no channel's: the page puts the last one seen there
            assert (again["channel"], again["recovered"]) == ("news", False)
