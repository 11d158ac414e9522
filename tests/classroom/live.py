"""A step runner for the scripted class (test_class.py): plays a finding's steps (scenarios.py)
as one signed-in trainee against a LIVE stand, the kit's (testing.py) or a real socket's, and
collects each step's replies the way the replay does (classroom/replay.py): a WebSocket step's
replies are what its connection received until its next step, an HTTP step's is {"status",
"body"}, a close is {"close": code}; `event` log lines and Kafka records go to the step after
which they were made.

Unlike a twin, a live stand is shared: the order ids a run meets are not 1, 2, ... The runner
shifts the scenario's ids by the orders that existed before the run (`base`; runs are played
one after the other), and `view` shifts them back, so that two trainees' replies compare.
Channels too: every run starts the channels' history again (offsets from 1, no ghosts in
presence), puts the live channel's epoch (from a hello) where a `since` names one of ours,
and `view` blanks epochs.

When a step has been played: its WebSocket requests have been answered (an `event` or `error`
frame, or a close) and then the stand has gone quiet (`trio.testing.wait_all_tasks_blocked`;
on a real socket, the stand runs in this trio run, its frames cross the loopback). A step with
`wait_ms: 0` is not waited for: the next one races it (lost_update).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from qakit_trio import logs
from qakit_trio.classroom.replay import KeptRecords, Replies
from qakit_trio.classroom.steps import (
    OUR_EPOCH,
    HttpStep,
    Step,
    WsStep,
    normalized,
    parse_steps,
)
from qakit_trio.testing import Stand, StandClient, StandClosed

from .scenarios import Scenario

ENDS = frozenset({"event", "error", "result"})  # the frame that ends a request's replies
SHIFTED = 1_000  # ids up to this are the run's own orders (99999 and 0 stay missing)
# what differs between two trainees' runs by nature: their connections (blanked), their names
# (left out: a replay twin has no identities)
PERSONAL = frozenset({"conn", "from", "epoch"})
IDENTITY = frozenset({"user", "role", "from_user"})
SERVER_ID = re.compile(r"^srv-[0-9a-f]+-(\d+)$")


class Client(Protocol):
    async def send(self, text: str) -> None: ...
    async def receive(self) -> Any: ...  # a frame (JSON), or {"close": code} at the end


class Live(Protocol):
    """A running stand as a trainee's clients see it."""

    records: KeptRecords
    lines: logs.Captured

    async def request(self, method: str, path: str, body: Any, token: str) -> tuple[int, Any]: ...
    def connect(self, path: str, token: str) -> AbstractAsyncContextManager[Client]: ...
    async def orders(self) -> int: ...  # how many orders the stand holds
    def fresh_channels(self) -> None: ...  # every channel's history started again, no ghosts


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _KitClient:
    def __init__(self, client: StandClient) -> None:
        self._client = client

    async def send(self, text: str) -> None:
        await self._client.send_text(text)

    async def receive(self) -> Any:
        try:
            return json.loads(await self._client.receive())
        except StandClosed as closed:
            return {"close": closed.code}


@dataclass
class KitLive:
    stand: Stand
    records: KeptRecords
    lines: logs.Captured

    async def request(self, method: str, path: str, body: Any, token: str) -> tuple[int, Any]:
        return await self.stand.request(method, path, json=body, headers=bearer(token))

    @asynccontextmanager
    async def connect(self, path: str, token: str) -> AsyncIterator[Client]:
        async with self.stand.connect(path, bearer(token)) as client:
            yield _KitClient(client)

    async def orders(self) -> int:
        return len(await self.stand.app.services.store.list())

    def fresh_channels(self) -> None:
        fresh(self.stand.app.services.hub)


class _SocketClient:
    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        await self._ws.send_message(text)

    async def receive(self) -> Any:
        try:
            return json.loads(await self._ws.get_message())
        except ConnectionClosed as closed:
            return {"close": None if closed.reason is None else closed.reason.code}


@dataclass
class SocketLive:
    http: httpx.AsyncClient
    ws_url: str  # ws://127.0.0.1:PORT
    app: Any
    records: KeptRecords
    lines: logs.Captured

    async def request(self, method: str, path: str, body: Any, token: str) -> tuple[int, Any]:
        answer = await self.http.request(method, path, json=body, headers=bearer(token))
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, answer.text

    @asynccontextmanager
    async def connect(self, path: str, token: str) -> AsyncIterator[Client]:
        header = [(b"Authorization", f"Bearer {token}".encode())]
        async with open_websocket_url(f"{self.ws_url}{path}", extra_headers=header) as ws:
            yield _SocketClient(ws)

    async def orders(self) -> int:
        return len(await self.app.services.store.list())

    def fresh_channels(self) -> None:
        fresh(self.app.services.hub)


def fresh(hub: Any) -> None:
    hub.history.reset()
    hub.presence.forget_ghosts()


@dataclass
class Played:
    """A run's replies (as a twin's: classroom/replay.py Replies) and its id shift."""

    replies: Replies
    base: int

    def pick(self, scenario: Scenario, wrong: dict[str, int] | None = None) -> Any:
        """The reply `wrong` (the scenario's by default) points at, viewed: see `view`."""
        return view(self.replies.pick(scenario.evidence(wrong).wrong), self.base)


@dataclass
class _Run:
    replies: Replies
    current: dict[str, int] = field(default_factory=dict)
    answered: dict[str, trio.Event] = field(default_factory=dict)
    epochs: dict[str, str] = field(default_factory=dict)  # channel -> its epoch, from hellos
    done: bool = False  # every step played: what comes now is not a reply


async def play(
    live: Live, scenario: Scenario, token: str, settle: Callable[[], Awaitable[None]]
) -> Played:
    """Play the scenario's steps as the trainee whose `token` it is."""
    steps = parse_steps(scenario.steps)
    base = await live.orders()
    live.fresh_channels()
    run = _Run(Replies.of(len(steps)))
    async with trio.open_nursery() as readers:
        async with AsyncExitStack() as exits:  # the connections, closed before the readers
            await _steps(live, steps, run, exits, readers, base, token, settle)
            run.done = True  # leaving closes the connections: not a reply of the stand's
        readers.cancel_scope.cancel()
    return Played(run.replies, base)


async def _steps(
    live: Live,
    steps: tuple[Step, ...],
    run: _Run,
    exits: AsyncExitStack,
    readers: trio.Nursery,
    base: int,
    token: str,
    settle: Callable[[], Awaitable[None]],
) -> None:
    clients: dict[str, Client] = {}
    for index, step in enumerate(steps):
        marks = (len(live.lines), len(live.records.records))
        if isinstance(step, HttpStep):
            path, body = shift_path(step.path, base), shift(step.body, base)
            status, answer = await live.request(step.method, path, body, token)
            run.replies.frames[index].append({"status": status, "body": answer})
        else:
            await _send(live, exits, readers, clients, run, index, step, base, token)
        if step.wait_ms:
            for answered in list(run.answered.values()):
                await answered.wait()
        await settle()
        _attribute(live, run.replies, index, marks)


async def _send(
    live: Live,
    exits: AsyncExitStack,
    readers: trio.Nursery,
    clients: dict[str, Client],
    run: _Run,
    index: int,
    step: WsStep,
    base: int,
    token: str,
) -> None:
    client = clients.get(step.conn)
    if client is None:
        client = clients[step.conn] = await exits.enter_async_context(
            live.connect(step.path, token)
        )
        if not step.path.startswith("/ws/orders"):  # (the legacy door says no hello)
            hello = await client.receive()  # not a reply
            assert hello.get("type") == "system", hello
            if "epoch" in hello:
                run.epochs[hello["channel"]] = hello["epoch"]
        readers.start_soon(_read, client, step.conn, run)
    run.current[step.conn] = index
    run.answered[step.conn] = trio.Event()
    text = step.text
    with contextlib.suppress(ValueError):  # not JSON: sent as it is
        text = json.dumps(live_epoch(shift(json.loads(text), base), run), ensure_ascii=False)
    await client.send(text)


async def _read(client: Client, conn: str, run: _Run) -> None:
    while True:
        frame = await client.receive()
        if run.done:
            return
        run.replies.frames[run.current[conn]].append(frame)
        if "close" in frame or frame.get("type") in ENDS:
            run.answered[conn].set()
        if "close" in frame:
            return


def _attribute(live: Live, replies: Replies, step: int, marks: tuple[int, int]) -> None:
    for _logger, message, fields in live.lines[marks[0] :]:
        if message == "event":
            replies.logs[step].append(dict(fields))
    for record in live.records.records[marks[1] :]:
        replies.records[step].append(
            {"topic": record.topic, "key": record.key.decode(), "value": json.loads(record.value)}
        )


def shift(value: Any, base: int) -> Any:
    """The scenario's order ids (`id`, `order_id`: 1..SHIFTED) as this run's."""
    if isinstance(value, dict):
        return {
            key: item + base
            if key in ("id", "order_id") and _is_id(item, SHIFTED)
            else shift(item, base)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [shift(item, base) for item in value]
    return value


def live_epoch(sent: Any, run: _Run) -> Any:
    """A `since` that names one of our epochs, with the live channel's in its place."""
    payload = sent.get("payload") if isinstance(sent, dict) else None
    if not isinstance(payload, dict):
        return sent
    since = payload.get("since")
    if isinstance(since, dict) and OUR_EPOCH.match(str(since.get("epoch"))):
        since["epoch"] = run.epochs[payload["channel"]]
    return sent


def shift_path(path: str, base: int) -> str:
    match = re.match(r"^/orders/(\d+)(.*)$", path)
    if match is None or not 1 <= int(match[1]) <= SHIFTED:
        return path
    return f"/orders/{int(match[1]) + base}{match[2]}"


def _is_id(value: object, top: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= top


def view(value: Any, base: int) -> Any:
    """A reply as two trainees' runs can compare it: normalized (steps.py), the run's order ids
    shifted back, its connections blanked, its user's name left out, a server's request id
    without its connection."""
    return normalized(_unshift(value, base))


def _unshift(value: Any, base: int) -> Any:
    if isinstance(value, dict):
        viewed: dict[str, Any] = {}
        for key, item in value.items():
            if key in IDENTITY:
                continue
            if key in PERSONAL and item is not None:
                viewed[key] = "…"
            elif key in ("id", "order_id") and _is_id(item, base + SHIFTED) and item > base:
                viewed[key] = item - base
            elif key == "request_id" and isinstance(item, str) and SERVER_ID.match(item):
                viewed[key] = SERVER_ID.sub(r"srv-…-\1", item)
            else:
                viewed[key] = _unshift(item, base)
        return viewed
    if isinstance(value, list):
        return [_unshift(item, base) for item in value]
    return value
