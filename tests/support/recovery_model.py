"""A seeded run of random publishers, subscribers, disconnects and reconnects with `since`
against a stand, checked against a model of the documented history (docs/protocol.md,
"Channels"): the property test of issue 27 (tests/test_recovery_property.py) runs it in the kit
on the virtual clock and on real sockets on both transport paths.

What it checks, every cycle:
- a subscriber gets each publication of its channels in offset order, each exactly once, for
  as long as its recoveries say `recovered: true` (a frame whose offset is not the next one it
  expects fails the run at once), and each frame is the publication the model recorded;
- `recovered` is true exactly when the model says the history still covers the gap: the same
  epoch, and every publication after `since` still kept (the last QAKIT_HISTORY_SIZE, within
  QAKIT_HISTORY_BYTES counted as the docs say, younger than QAKIT_HISTORY_TTL). The reasons a
  recovery failed are counted, so the run can show it met each of them.

Epochs change when the teacher's blip resets a channel's history, and when a channel that
nobody is subscribed to and that keeps nothing is forgotten (its last subscriber left): the
model follows both.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from sys import getsizeof
from typing import Any, Protocol

import trio

from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import encode
from qakit_trio.ws.history import ENTRY_COST

CHANNELS = ("c0", "c1", "c2")


class Conn(Protocol):
    async def send(self, obj: Any) -> None: ...
    async def receive(self) -> dict[str, Any]: ...  # a frame, or {"close": code} at the end


class Stand(Protocol):
    def connect(self, path: str) -> AbstractAsyncContextManager[Conn]: ...
    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class Limits:
    size: int
    channel_bytes: int
    ttl: float


@dataclass
class Kept:
    offset: int
    at: float
    cost: int
    text: str  # the `message` of the publication


@dataclass
class Channel:
    """The model of one channel's history, trimmed as ws/history.py documents it."""

    generation: int = 0  # counts epochs
    latest: int = 0
    kept: list[Kept] = field(default_factory=list)
    epochs: dict[int, str] = field(default_factory=dict)  # generation -> the stand's string
    dropped: dict[int, str] = field(default_factory=dict)  # offset -> why: size, bytes, ttl

    def trim(self, limits: Limits, now: float) -> None:
        """On a publication: the size and byte limits, then the TTL (and the TTL alone when
        a recovery asks)."""
        while len(self.kept) > limits.size or sum(k.cost for k in self.kept) > limits.channel_bytes:
            why = "size" if len(self.kept) > limits.size else "bytes"
            self.dropped[self.kept.pop(0).offset] = why
        self.expire(limits, now)

    def expire(self, limits: Limits, now: float) -> None:
        while self.kept and self.kept[0].at <= now - limits.ttl:
            self.dropped[self.kept.pop(0).offset] = "ttl"

    def restart(self) -> None:
        self.generation += 1
        self.latest = 0
        self.kept.clear()
        self.dropped.clear()

    def why_not(self, offset: int, generation: int, limits: Limits, now: float) -> str | None:
        """Why a recovery from (offset, generation) must fail, or None if it must succeed."""
        if generation != self.generation:
            return "epoch"
        if offset > self.latest:
            return "beyond"
        self.expire(limits, now)
        first = self.kept[0].offset if self.kept else self.latest + 1
        return None if offset + 1 >= first else self.dropped[offset + 1]


@dataclass
class Position:
    generation: int
    epoch: str
    offset: int


@dataclass
class Subscriber:
    name: str
    channels: tuple[str, ...]
    conn: Conn | None = None
    stop: trio.CancelScope | None = None
    positions: dict[str, Position] = field(default_factory=dict)
    frames: list[dict[str, Any]] = field(default_factory=list)
    grew: trio.Event = field(default_factory=trio.Event)
    closed: int | None = None  # the close seen (1012: a blip), None while connected
    connection_id: str = ""  # its connection's, from the hello

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            await self.grew.wait()


@dataclass
class Run:
    stand: Stand
    limits: Limits
    rng: random.Random
    now: Callable[[], float]
    advance: Callable[[float], Awaitable[None]] | None  # None: no time travel (real sockets)
    channels: dict[str, Channel] = field(default_factory=lambda: {c: Channel() for c in CHANNELS})
    subscribers: list[Subscriber] = field(default_factory=list)
    long_share: float = 0.25  # of publications with a long text (the byte limit's)
    outcomes: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    published: int = 0
    requests: int = 0

    # --- connections ------------------------------------------------------------------

    async def hold(
        self, sub: Subscriber, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """One connection of `sub`, its frames read into `sub.frames`, until it is stopped or
        the stand closes it."""
        with trio.CancelScope() as scope:
            async with self.stand.connect(f"/ws?channel=home-{sub.name}") as conn:
                hello = await conn.receive()
                assert hello["type"] == "system", hello
                sub.conn, sub.stop, sub.closed = conn, scope, None
                sub.connection_id = hello["connection_id"]
                task_status.started()
                while "close" not in (frame := await conn.receive()):
                    self.seen(sub, frame)
                    sub.frames.append(frame)
                    sub.grew.set()
                    sub.grew = trio.Event()
                sub.closed = frame["close"]
        sub.conn = None
        sub.grew.set()
        sub.grew = trio.Event()

    def seen(self, sub: Subscriber, frame: dict[str, Any]) -> None:
        """A publication must be the next one `sub` expects in its channel."""
        if frame.get("type") not in ("broadcast", "message"):
            return
        channel = frame["channel"]
        position = sub.positions[channel]
        assert frame["epoch"] == position.epoch, (sub.name, frame, position)
        assert frame["offset"] == position.offset + 1, (sub.name, frame, position)
        model = self.channels[channel]
        if position.generation == model.generation:  # (a frame of a blipped epoch: no model)
            texts = {k.offset: k.text for k in model.kept}
            if frame["offset"] in texts:
                assert frame["message"] == texts[frame["offset"]], (frame, texts)
        position.offset += 1
        self.delivered += 1

    async def ask(self, sub: Subscriber, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a request, wait for its event (or error): its frames."""
        assert sub.conn is not None
        self.requests += 1
        request_id = f"{sub.name}-{self.requests}"
        start = len(sub.frames)
        await sub.conn.send({**request, "request_id": request_id})

        def answered() -> bool:
            return sub.conn is None or any(
                f.get("request_id") == request_id and f["type"] in ("event", "error")
                for f in sub.frames[start:]
            )

        await sub.until(answered)
        return [f for f in sub.frames[start:] if f.get("request_id") == request_id]

    # --- operations -------------------------------------------------------------------

    async def publish(self, nursery: trio.Nursery) -> None:
        """A publication: over REST (POST /broadcast), or from a connected subscriber to one
        of its channels (the broadcast action, `payload.channel`)."""
        channel = self.rng.choice(CHANNELS)
        text = f"m{self.published}-" + "x" * (300 if self.rng.random() < self.long_share else 8)
        self.published += 1
        senders = [s for s in self.subscribers if s.conn is not None and channel in s.channels]
        online = len(senders)
        model = self.channels[channel]
        model.latest += 1
        if senders and self.rng.random() < 0.5:
            sender = self.rng.choice(senders)
            request_id = f"{sender.name}-{self.requests + 1}"
            frame: dict[str, Any] = {
                "type": "message",
                "channel": channel,
                "message": text,
                "request_id": request_id,
                "from": sender.connection_id,
            }
            replies = await self.ask(
                sender, {"action": "broadcast", "payload": {"message": text, "channel": channel}}
            )
            event = next(f for f in replies if f["type"] == "event")
            assert event["extra"] == {"channel": channel, "delivered": online}, event
        else:
            frame = {"type": "broadcast", "channel": channel, "message": text}
            path = f"/broadcast?channel={channel}&message={text}"
            status, body = await self.stand.request("POST", path)
            assert status == 200, body
            assert body["connections"] == online, (body, online)
        model.kept.append(Kept(model.latest, self.now(), self.cost(frame, model), text))
        model.trim(self.limits, self.now())
        await self.settle()

    def cost(self, frame: dict[str, Any], model: Channel) -> int:
        """A kept publication's cost as ws/history.py counts it: the memory of its text and
        wire bytes (a `ts` has a fixed length) plus ENTRY_COST."""
        epoch = model.epochs.get(model.generation, "e" * 8)
        ts = "2026-12-03T04:30:05.673943+00:00"
        item = Frame.of(encode({**frame, "ts": ts, "offset": model.latest, "epoch": epoch}))
        return getsizeof(item.wire) + getsizeof(item.text) + ENTRY_COST

    async def disconnect(self, sub: Subscriber) -> None:
        assert sub.stop is not None
        sub.stop.cancel()
        await sub.until(lambda: sub.conn is None)
        self.left(sub)

    def left(self, sub: Subscriber) -> None:
        """The model of a channel forgotten when its last subscriber leaves, keeping nothing."""
        for channel in sub.channels:
            if any(s.conn is not None and channel in s.channels for s in self.subscribers):
                continue
            model = self.channels[channel]
            model.expire(self.limits, self.now())
            if not model.kept:
                model.restart()

    async def connect(self, sub: Subscriber, nursery: trio.Nursery) -> None:
        await nursery.start(self.hold, sub)
        for channel in sub.channels:
            await self.subscribe(sub, channel)

    async def subscribe(self, sub: Subscriber, channel: str) -> None:
        model = self.channels[channel]
        position = sub.positions.get(channel)
        request: dict[str, Any] = {"action": "subscribe", "payload": {"channel": channel}}
        expected: str | None = None
        if position is not None:
            request["payload"]["since"] = {"offset": position.offset, "epoch": position.epoch}
            expected = model.why_not(position.offset, position.generation, self.limits, self.now())
        # the frames that follow `subscribed` are checked against the position as they come:
        # set it first (a recovery continues it; else the data frame resets it)
        frames = await self.ask(sub, request)
        data = next(f for f in frames if f["type"] == "subscribed")["data"]
        assert data["channel"] == channel
        known = model.epochs.setdefault(model.generation, data["epoch"])
        assert data["epoch"] == known, (channel, data, model.epochs)
        assert data["offset"] == model.latest, (channel, data, model.latest)
        if position is None:
            assert "recovered" not in data
        else:
            recovered = expected is None
            assert data["recovered"] is recovered, (sub.name, channel, position, expected, data)
            self.outcomes["recovered" if recovered else f"lost: {expected}"] += 1
        if position is None or expected is not None:  # a fresh start: from the channel's now
            sub.positions[channel] = Position(model.generation, data["epoch"], data["offset"])

    async def blip(self, channel: str) -> None:
        closing = [s for s in self.subscribers if channel in s.channels and s.conn is not None]
        status, body = await self.stand.request(
            "POST", "/lab/blip", {"channel": channel, "reset_history": True}
        )
        assert status == 200, body
        assert body["closed"] == len(closing), body
        for sub in closing:
            await sub.until(lambda s=sub: s.conn is None)  # type: ignore[misc]
            assert sub.closed == 1012, sub.closed
        for sub in closing:
            self.left(sub)
        self.channels[channel].restart()
        self.outcomes["blips"] += 1

    async def settle(self) -> None:
        """Every connected subscriber has received what was published so far (a request
        answered on its connection comes after every frame queued before it)."""
        for sub in self.subscribers:
            if sub.conn is not None:
                await self.ask(sub, {"action": "echo"})

    async def cycle(self, nursery: trio.Nursery) -> None:
        roll = self.rng.random()
        offline = [s for s in self.subscribers if s.conn is None]
        online = [s for s in self.subscribers if s.conn is not None]
        if roll < 0.45:
            await self.publish(nursery)
        elif roll < 0.65 and online:
            await self.disconnect(self.rng.choice(online))
        elif roll < 0.90 and offline:
            await self.connect(self.rng.choice(offline), nursery)
        elif roll < 0.97 and self.advance is not None:
            await self.advance(self.rng.uniform(0, self.limits.ttl * 0.6))
        elif roll >= 0.97:
            await self.blip(self.rng.choice(CHANNELS))


async def run_cycles(run: Run, cycles: int, subscribers: int) -> None:
    async with trio.open_nursery() as nursery:
        for n in range(subscribers):
            sub = Subscriber(f"s{n}", tuple(run.rng.sample(CHANNELS, 2)))
            run.subscribers.append(sub)
            await run.connect(sub, nursery)
        for _ in range(cycles):
            await run.cycle(nursery)
        nursery.cancel_scope.cancel()
