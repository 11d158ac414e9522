"""WebSocket clients of the balanced stand: which instance serves each (HAProxy's X-Served-By
header; the hello does not say), the channel's publications each received in order, its
replies, and everything else it was sent (join, leave, order events).

A client's reader task (`run`, started by `connect`) sorts its frames; the test waits on what it
expects with `wait` (a predicate checked each time something arrives) under its fail_after.
A `Session` is one subscriber across its connections: when one is lost it comes back through
the balancer with `?since=&epoch=` of the last publication it saw.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket_url

from ..support.haproxy import SERVED_BY
from ..support.helpers import receive_json, send_json

Frame = dict[str, Any]
WINDOW = 64  # broadcasts a publisher has in flight (sent, its ws.broadcast event not back yet)
REPLIES = 64  # frames answering the client's own requests, waiting for the test (one at a time)
_names = itertools.count(1)


class Gone(Exception):
    """The client's connection ended while it was publishing."""


@dataclass(frozen=True)
class Publication:
    offset: int
    epoch: str
    message: str


@dataclass(eq=False)
class Client:
    ws: WebSocketConnection
    instance: str  # the server HAProxy gave it (X-Served-By)
    hello: Frame | None  # None on /ws/orders (the legacy protocol has no hello)
    channel: str | None = None  # whose publications it collects
    name: str = field(default_factory=lambda: f"c{next(_names)}")
    publications: list[Publication] = field(default_factory=list)
    sent: int = 0  # broadcasts sent
    acknowledged: list[str] = field(default_factory=list)  # request ids of its broadcasts
    others: list[Frame] = field(default_factory=list)  # join, leave, order events, ...
    close_code: int | None = None
    _window: trio.Semaphore = field(default_factory=lambda: trio.Semaphore(WINDOW))
    _grew: list[trio.Event] = field(default_factory=lambda: [trio.Event()])
    _asked: set[str] = field(default_factory=set)
    _count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._replies_in, self._replies = trio.open_memory_channel[Frame](REPLIES)

    @property
    def connection_id(self) -> str:
        assert self.hello is not None
        return str(self.hello["connection_id"])

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def frames(self, kind: str) -> list[Frame]:
        return [frame for frame in self.others if frame["type"] == kind]

    async def run(self) -> None:
        """Read and sort every frame until the connection ends (the replies' one sender)."""
        async with self._replies_in:
            try:
                while True:
                    self._sort(await receive_json(self.ws))
            except ConnectionClosed as closed:
                self.close_code = 1006 if closed.reason is None else closed.reason.code
            finally:
                for _ in range(WINDOW):  # a publisher waiting for room finds the client gone
                    self._window.release()
                self._wake()

    def _sort(self, frame: Frame) -> None:
        kind, request_id = frame.get("type"), frame.get("request_id")
        assert kind != "error", f"{self.name} on {self.instance}: {frame}"
        if kind in ("message", "broadcast") and "offset" in frame:
            assert frame["channel"] == self.channel, frame
            self.publications.append(Publication(frame["offset"], frame["epoch"], frame["message"]))
        elif kind == "ack":
            pass
        elif kind == "event" and frame["name"] == "ws.broadcast":
            self.acknowledged.append(str(request_id))
            self._window.release()
        elif request_id is not None and request_id in self._asked:
            self._replies_in.send_nowait(frame)  # one request at a time: never full
        else:
            self.others.append(frame)
        self._wake()

    def _wake(self) -> None:
        self._grew[0].set()
        self._grew[0] = trio.Event()

    async def wait(self, done: Callable[[Client], bool]) -> None:
        """Until `done(self)` holds, checked whenever a frame arrives or the connection ends."""
        while not done(self):
            assert not self.closed, f"{self.name} on {self.instance} closed ({self.close_code})"
            await self._grew[0].wait()

    async def wait_closed(self) -> None:
        while not self.closed:
            await self._grew[0].wait()

    async def publish(self, message: str) -> None:
        """Broadcast `message` to the channel (its request_id is the message itself), once
        fewer than WINDOW are in flight; Gone if the connection has ended."""
        await self._window.acquire()
        if self.closed:
            raise Gone(self.name)
        try:
            await send_json(
                self.ws,
                {"action": "broadcast", "request_id": message, "payload": {"message": message}},
            )
        except ConnectionClosed:
            raise Gone(self.name) from None
        self.sent += 1

    async def confirmed(self) -> None:
        """Until every broadcast it sent has its ws.broadcast event (published on the bus)."""
        await self.wait(lambda c: len(c.acknowledged) == c.sent)

    async def request(self, action: str, payload: Frame) -> list[Frame]:
        """One request; the frames answering it after the ack, up to its event."""
        request_id = f"{self.name}-{next(self._count)}"
        self._asked.add(request_id)
        await send_json(self.ws, {"action": action, "request_id": request_id, "payload": payload})
        frames = [await self._replies.receive()]
        while frames[-1]["type"] != "event":
            frames.append(await self._replies.receive())
        return frames

    async def send_legacy(self, message: Frame) -> None:
        await self.ws.send_message(json.dumps(message))


def served_by(ws: WebSocketConnection) -> str:
    headers = {name.decode().lower(): value.decode() for name, value in ws.handshake_headers}
    return headers[SERVED_BY]


async def connect(
    nursery: trio.Nursery, base: str, channel: str, since: Publication | None = None
) -> Client:
    """A /ws client of `channel` through the balancer (`base`: ws://HOST:PORT), recovering
    from `since` when given (?since=&epoch=); its reader runs in `nursery`."""
    path = f"/ws?channel={channel}"
    if since is not None:
        path += f"&since={since.offset}&epoch={since.epoch}"
    ws = await connect_websocket_url(nursery, base + path)
    hello = await receive_json(ws)
    assert hello["type"] == "system", hello
    client = Client(ws, served_by(ws), hello, channel)
    nursery.start_soon(client.run)
    return client


async def connect_legacy(nursery: trio.Nursery, base: str) -> Client:
    """A /ws/orders client (the legacy protocol: no hello) through the balancer."""
    ws = await connect_websocket_url(nursery, base + "/ws/orders")
    client = Client(ws, served_by(ws), None)
    nursery.start_soon(client.run)
    return client


async def spread(
    connect_one: Callable[[], Awaitable[Client]], instances: list[str], each: int
) -> dict[str, list[Client]]:
    """Connect through the balancer until every instance serves `each` of these clients (one
    that lands where there are enough already is closed)."""
    placed: dict[str, list[Client]] = {name: [] for name in instances}
    while any(len(clients) < each for clients in placed.values()):
        client = await connect_one()
        if len(placed[client.instance]) < each:
            placed[client.instance].append(client)
        else:
            await client.ws.aclose()
    return placed


@dataclass(eq=False)
class Session:
    """One subscriber of a channel across its connections, oldest first."""

    connections: list[Client]
    reconnected: trio.Event = field(default_factory=trio.Event)

    @property
    def client(self) -> Client:
        return self.connections[-1]

    @property
    def publications(self) -> list[Publication]:
        return [p for client in self.connections for p in client.publications]

    @property
    def acknowledged(self) -> list[str]:
        return [message for client in self.connections for message in client.acknowledged]

    def since(self) -> Publication:
        """Where it stands: its last publication, or the channel's position at its hello."""
        if seen := self.publications:
            return seen[-1]
        hello = self.connections[0].hello
        assert hello is not None
        return Publication(hello["offset"], hello["epoch"], "")

    async def come_back(self, nursery: trio.Nursery, base: str) -> Client:
        """Once its connection is lost: connect again through the balancer with `since`."""
        lost = self.client
        await lost.wait_closed()
        again = await connect(nursery, base, str(lost.channel), self.since())
        self.connections.append(again)
        self.reconnected.set()
        return again

    async def publish(self, messages: list[str]) -> None:
        """Publish each in turn, and return once the last connection's are confirmed. A
        message whose connection is lost is not sent again (it was published at most once):
        the next goes on the next connection."""
        for message in messages:
            try:
                await self.client.publish(message)
            except Gone:
                await self.reconnected.wait()
        await self.client.confirmed()
