"""The trainee guides (docs/guide/ru, docs/guide/en) cannot rot: every runnable block is run, in
file order, against a live stand with Kafka (one stand per language, so both start from an
empty store). Blocks (docs/guide/README.md):

    ```bash run            exits 0          ```bash run kafka      the same, Kafka's records first
    ```json ws PATH        each line sent on one connection to PATH; every reply matches the
                           AsyncAPI document (conftest.py), none is an error unless `errors`
    ```python pytest       saved as a test file; pytest passes

The guides say 127.0.0.1:8002, :8000 and localhost:9092; the test's own stand and broker are
put in their place (and the test's topic for ws_events)."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.adapters.kafka import KafkaPublisher

from .support.helpers import Server, receive_json, running_server
from .support.kafka_broker import kcat

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide"
ORDER = ["start", "websocket", "rest-and-orders", "kafka-and-logs", "exercises", "glossary"]
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    where: str  # file:line
    kind: str  # bash, json, python
    flags: list[str]
    text: str


def runnable(language: str) -> list[Block]:
    blocks = []
    for name in ORDER:
        path = GUIDE / language / f"{name}.md"
        text = path.read_text()
        for match in FENCE.finditer(text):
            kind, flags = match[1], match[2].split()
            if (kind, flags[:1]) in (("bash", ["run"]), ("json", ["ws"]), ("python", ["pytest"])):
                line = text.count("\n", 0, match.start()) + 1
                blocks.append(Block(f"{path.relative_to(GUIDE)}:{line}", kind, flags,
                                    match[3]))
    return blocks


def test_both_languages_have_every_section_and_the_same_runnable_blocks() -> None:
    for language in ("ru", "en"):
        assert sorted(p.stem for p in (GUIDE / language).glob("*.md")) == sorted(ORDER)
    ru, en = runnable("ru"), runnable("en")
    assert [(b.kind, b.flags) for b in ru] == [(b.kind, b.flags) for b in en]
    assert len(ru) >= 15


def put_in_place(text: str, server: Server, kafka: dict[str, Any]) -> str:
    http = urlsplit(server.http).netloc
    for guide_address in ("127.0.0.1:8002", "127.0.0.1:8000", "localhost:8002",
                          "localhost:8000"):
        text = text.replace(guide_address, http)
    text = text.replace("localhost:9092", kafka["kafka_bootstrap"])
    return text.replace("ws_events", kafka["kafka_ws_topic"])


async def answers(ws: WebSocketConnection, path: str) -> list[dict[str, Any]]:
    """The frames answering one message (read until the protocol's last one)."""
    frames = [await receive_json(ws)]
    if path.startswith("/ws/orders"):
        if frames[0]["type"] == "result" and frames[0]["action"] != "get_order":
            frames.append(await receive_json(ws))  # the order event, to every client
        return frames
    while frames[-1]["type"] not in ("event", "error"):
        frames.append(await receive_json(ws))
    return frames


async def run_ws(block: Block, server: Server) -> None:
    path = block.flags[1]
    async with open_websocket_url(f"{server.ws}{path}") as ws:
        if path.startswith("/ws?") or path == "/ws":
            assert (await receive_json(ws))["type"] == "system"
        for line in block.text.splitlines():
            await ws.send_message(line)
            frames = await answers(ws, path)
            if "errors" not in block.flags:
                assert [f for f in frames if f["type"] == "error"] == [], (block.where, frames)


async def run_bash(block: Block, text: str, env: dict[str, str]) -> None:
    done = await trio.run_process(["bash", "-e", "-c", text], capture_stdout=True,
                                  capture_stderr=True, check=False, env=env)
    assert done.returncode == 0, (block.where, done.stdout.decode()[-2000:],
                                  done.stderr.decode()[-2000:])


async def run_pytest(block: Block, text: str, folder: Path, env: dict[str, str]) -> None:
    (folder / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
    test = folder / f"test_{block.where.replace('/', '_').replace('.md:', '_')}.py"
    test.write_text(text)
    done = await trio.run_process([sys.executable, "-m", "pytest", "-q", "-p",
                                   "no:cacheprovider", test.name], cwd=folder,
                                  capture_stdout=True, capture_stderr=True, check=False, env=env)
    assert done.returncode == 0, (block.where, done.stdout.decode()[-3000:])


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_every_runnable_block_of_the_guide_works(
        language: str, kafka_settings: dict[str, Any], tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(kcat()).parent}:{os.environ['PATH']}"}
    with trio.fail_after(180):
        async with running_server(**kafka_settings) as server:
            kafka = server.app.services.kafka
            assert isinstance(kafka, KafkaPublisher)
            for block in runnable(language):
                text = put_in_place(block.text, server, kafka_settings)
                if block.kind == "json":
                    await run_ws(block, server)
                elif block.kind == "bash":
                    if "kafka" in block.flags:
                        assert await kafka.deliver(())  # what came before is in Kafka now
                    await run_bash(block, text, env)
                else:
                    await run_pytest(block, text, tmp_path, env)
