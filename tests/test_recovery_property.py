"""The property of issue 27: random publishers and subscribers, random disconnects and
reconnects with `since`, seeded; every subscriber that got `recovered: true` saw every
publication of its channels exactly once, in offset order, and `recovered: false` came exactly
when the gap exceeded the history (size, bytes, TTL) or the epoch changed
(tests/support/recovery_model.py has the model). 1,000 cycles in the kit on the virtual clock;
a shorter run on real sockets on both transport paths (the system tier)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from qakit_trio.testing import Stand, StandClient, StandClosed, open_stand

from .support import helpers
from .support.recovery_model import Conn, Limits, Run, run_cycles

LIMITS = Limits(size=6, channel_bytes=4_000, ttl=20.0)
SETTINGS = {
    "QAKIT_HISTORY_SIZE": str(LIMITS.size),
    "QAKIT_HISTORY_BYTES": str(LIMITS.channel_bytes),
    "QAKIT_HISTORY_TTL": str(LIMITS.ttl),
    "QAKIT_PING_INTERVAL": "0",  # the virtual clock jumps: no keepalive verdicts meanwhile
}
REASONS = {"recovered", "lost: size", "lost: bytes", "lost: ttl", "lost: epoch", "blips"}


class KitConn:
    def __init__(self, client: StandClient) -> None:
        self._client = client

    async def send(self, obj: Any) -> None:
        await self._client.send_json(obj)

    async def receive(self) -> dict[str, Any]:
        try:
            frame: dict[str, Any] = await self._client.receive_json()
        except StandClosed as closed:
            return {"close": closed.code}
        return frame


class KitStand:
    def __init__(self, stand: Stand) -> None:
        self._stand = stand

    @asynccontextmanager
    async def connect(self, path: str) -> AsyncIterator[Conn]:
        async with self._stand.connect(path) as client:
            yield KitConn(client)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self._stand.request(method, path, json=body)


@pytest.mark.parametrize("seed", [27])
async def test_recovery_in_the_kit_on_the_virtual_clock(autojump_clock: Any, seed: int) -> None:
    with trio.fail_after(3_600):  # virtual seconds: the TTL jumps add up
        async with open_stand(SETTINGS) as stand:
            run = Run(KitStand(stand), LIMITS, random.Random(seed), trio.current_time, trio.sleep)
            await run_cycles(run, cycles=1_000, subscribers=6)
    assert set(run.outcomes) == REASONS, run.outcomes  # every way a recovery goes, met
    assert run.delivered > 1_000, run.delivered


class SocketConn:
    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws

    async def send(self, obj: Any) -> None:
        await self._ws.send_message(json.dumps(obj))

    async def receive(self) -> dict[str, Any]:
        try:
            frame: dict[str, Any] = json.loads(await self._ws.get_message())
        except ConnectionClosed as closed:
            return {"close": None if closed.reason is None else closed.reason.code}
        return frame


class SocketStand:
    def __init__(self, server: helpers.Server, http: httpx.AsyncClient) -> None:
        self._server, self._http = server, http

    @asynccontextmanager
    async def connect(self, path: str) -> AsyncIterator[Conn]:
        async with open_websocket_url(f"{self._server.ws}{path}") as ws:
            yield SocketConn(ws)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        answer = await self._http.request(method, f"{self._server.http}{path}", json=body)
        return answer.status_code, answer.json()


@pytest.mark.system
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
async def test_recovery_on_real_sockets(fast_path: bool) -> None:
    with trio.fail_after(120):
        async with (
            helpers.running_server(
                fast_path=fast_path,
                history_size=LIMITS.size,
                history_bytes=LIMITS.channel_bytes,
                history_ttl=300.0,
            ) as server,
            httpx.AsyncClient() as http,
        ):
            limits = replace(LIMITS, ttl=300.0)  # real time does not jump: no TTL here
            run = Run(SocketStand(server, http), limits, random.Random(3), trio.current_time, None)
            run.long_share = 0.3
            await run_cycles(run, cycles=600, subscribers=4)
    assert REASONS - {"lost: ttl"} <= set(run.outcomes), run.outcomes
