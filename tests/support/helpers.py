"""Shared test helpers: a real hypercorn server on 127.0.0.1:0, and WebSocket client helpers."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from qakit_trio.app import QakitApp, create_app
from qakit_trio.config import Settings
from qakit_trio.pipeline.request import Stage
from qakit_trio.server import serve
from qakit_trio.sessions.actions import Action

# Pings off unless a test is about pings: trio-websocket can crash answering a ping while it
# is closing (trio-websocket issue 184: https://github.com/python-trio/trio-websocket/issues/184).
TEST_SETTINGS = Settings(ping_interval=0)
# The path in-process servers take unless a test says otherwise: conftest.py runs the
# end-to-end modules once per path (QAKIT_FAST_PATH=1 and =0).
# the headers of a WebSocket upgrade sent as a plain HTTP request (to see a refusal's 400)
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
PATH = {"fast": True}
# The profile (QAKIT_PROFILE) in-process servers take unless a test says otherwise.
PROFILE = {"name": "qakit"}


@dataclass(frozen=True)
class Server:
    http: str  # http://127.0.0.1:PORT
    app: QakitApp
    stop: trio.Event  # set it to start the graceful shutdown

    @property
    def ws(self) -> str:
        return self.http.replace("http://", "ws://")

    @property
    def port(self) -> int:
        port = urlsplit(self.http).port
        assert port is not None
        return port


@asynccontextmanager
async def running_server(
    extra_actions: dict[str, Action] | None = None,
    extra_stages: Sequence[Stage] = (),
    **overrides: Any,
) -> AsyncIterator[Server]:
    """Serve the app with hypercorn on a free port; shut it down gracefully on exit."""
    settings = replace(
        TEST_SETTINGS, **{"fast_path": PATH["fast"], "profile": PROFILE["name"], **overrides}
    )
    app = create_app(settings, extra_actions=extra_actions, extra_stages=extra_stages)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, settings, ["127.0.0.1:0"], stop.wait, app)
        yield Server(urls[0], app, stop)
        stop.set()


async def receive_json(ws: WebSocketConnection) -> dict[str, Any]:
    message = await ws.get_message()
    assert isinstance(message, str)
    frame = json.loads(message)
    assert isinstance(frame, dict)
    return frame


async def send_json(ws: WebSocketConnection, frame: object) -> None:
    await ws.send_message(json.dumps(frame))


@asynccontextmanager
async def connected(
    server: Server, channel: str | None = None, **options: Any
) -> AsyncIterator[tuple[WebSocketConnection, dict[str, Any]]]:
    """A client on /ws (optionally ?channel=...), with the hello frame already read."""
    query = "" if channel is None else f"?channel={channel}"
    async with open_websocket_url(f"{server.ws}/ws{query}", **options) as ws:
        hello = await receive_json(ws)
        assert hello["type"] == "system"
        yield ws, hello


async def request(
    ws: WebSocketConnection, frame: dict[str, Any], until: str = "event"
) -> list[dict[str, Any]]:
    """Send one request and collect the frames answering it, up to the first of type `until`."""
    await send_json(ws, frame)
    frames = [await receive_json(ws)]
    while frames[-1]["type"] != until:
        frames.append(await receive_json(ws))
    return frames


@dataclass
class ServerProcess:
    """A server started as its own process; its output is drained into `lines` all along."""

    process: trio.Process
    urls: list[str]
    lines: list[str]
    _grew: list[trio.Event]  # [an event set when lines are added (then replaced)]

    async def wait_for_lines(self, done: Callable[[list[str]], bool]) -> None:
        """Wait until `done(lines)` holds (checked after each batch of new lines)."""
        while not done(self.lines):
            await self._grew[0].wait()

    @property
    def ws(self) -> str:
        return self.urls[0].replace("http://", "ws://")


@asynccontextmanager
async def server_process(
    args: list[str], env: dict[str, str], binds: int = 1
) -> AsyncIterator[ServerProcess]:
    """Start `args`, wait until it logs `binds` "Running on http://..." lines, yield it.

    Whatever happens, the process is killed and reaped on exit.
    """
    process = await trio.lowlevel.open_process(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "QAKIT_FAST_PATH": "1" if PATH["fast"] else "0",
            **env,
        },
    )
    assert process.stdout is not None
    lines: list[str] = []
    grew = [trio.Event()]
    url_send, url_receive = trio.open_memory_channel[str](binds)

    async def drain(stdout: trio.abc.ReceiveStream) -> None:
        pending = b""
        async with url_send:  # closed at the end of the output: a stand that exits early
            async for chunk in stdout:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace")
                    lines.append(line)
                    match = re.search(r"Running on (http://[0-9.]+:[0-9]+)", line)
                    if match:
                        url_send.send_nowait(match[1])
                grew[0].set()
                grew[0] = trio.Event()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, process.stdout)
            try:
                urls = [await url_receive.receive() for _ in range(binds)]
            except trio.EndOfChannel:
                raise AssertionError(
                    f"{args} ended before serving (exit {await process.wait()}):"
                    "\n" + "\n".join(lines[-30:])
                ) from None
            yield ServerProcess(process, urls, lines, grew)
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


@dataclass(frozen=True)
class Closed:
    messages: list[str | bytes]  # what arrived before the close frame
    code: int
    reason: str | None


async def read_until_closed(ws: WebSocketConnection) -> Closed:
    """Read everything until the server closes the connection."""
    messages: list[str | bytes] = []
    while True:
        try:
            messages.append(await ws.get_message())
        except ConnectionClosed as closed:
            if closed.reason is None:
                return Closed(messages, 1006, None)
            return Closed(messages, closed.reason.code, closed.reason.reason)
