"""Record a session by talking to a stand: every frame a test sends and reads, with its time,
as a wire.sessions.Session (what the playground or DevTools would save)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.wire.sessions import Connection, Direction, Frame, Session


@dataclass
class Recorded:
    name: str
    url: str
    ws: WebSocketConnection
    frames: list[Frame] = field(default_factory=list)
    started: float = 0.0

    def note(self, direction: Direction, data: str | bytes) -> None:
        self.frames.append(Frame(direction, time.time(), data))

    async def send(self, data: str | bytes | dict[str, Any]) -> None:
        text = json.dumps(data) if isinstance(data, dict) else data
        self.note("send", text)
        await self.ws.send_message(text)

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.get_message()
        self.note("receive", message)
        value = json.loads(message)
        assert isinstance(value, dict)
        return value

    async def request(self, frame: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        """Send, then read up to the event (or the error) answering it."""
        await self.send(frame)
        replies = [await self.receive()]
        while replies[-1]["type"] not in ("event", "error"):
            replies.append(await self.receive())
        return replies


@dataclass
class Recorder:
    base: str  # ws://127.0.0.1:PORT
    connections: list[Recorded] = field(default_factory=list)

    @asynccontextmanager
    async def connect(self, path: str) -> AsyncIterator[Recorded]:
        """A recorded connection to `path` (its hello already read)."""
        url = f"{self.base}{path}"
        started = time.time()
        async with open_websocket_url(url) as ws:
            recorded = Recorded(str(len(self.connections) + 1), url, ws, started=started)
            self.connections.append(recorded)
            await recorded.receive()
            yield recorded

    def session(self) -> Session:
        return Session(
            tuple(Connection(c.name, c.url, tuple(c.frames), c.started) for c in self.connections)
        )
