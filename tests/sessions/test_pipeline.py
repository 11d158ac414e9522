"""One request pipeline for every door (sessions/pipeline.py): a stage added in one place acts
on /ws, /ws in the qa_kit profile, /ws/orders and REST alike; REST is counted like the rest;
with every bug and fault off no lab code runs for a request."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from qakit_trio.domain.order_store import MemoryOrderStore
from qakit_trio.pipeline.request import Next, Request
from qakit_trio.sessions.actions import ActionContext
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.connection import Connection

from ..support.helpers import connected, receive_json, request, running_server
from ..support.timeouts import TIMEOUT

# A tag in every reply, or a test's own action: not frames of the AsyncAPI document.
pytestmark = pytest.mark.breaks_contract("test stages and actions add to the contract")


class Tagged:
    """An outlet wrapper: every reply that is an object gets `"tagged": <door>`."""

    def __init__(self, inner: Any, door: str, seen: list[tuple[str, object]]) -> None:
        self._inner, self._door, self._seen = inner, door, seen

    async def reply(self, frame: Message, text: str | None = None) -> None:
        self._seen.append((self._door, frame.get("type", frame.get("status"))))
        await self._inner.reply({**frame, "tagged": self._door}, None)

    async def share(self, item: Frame) -> int:
        return int(await self._inner.share(item))


def tagging(seen: list[tuple[str, object]]) -> Any:
    async def tag(request: Request, call_next: Next) -> None:
        request.outlet = Tagged(request.outlet, request.door.name, seen)
        await call_next(request)

    return tag


async def test_a_stage_added_in_one_place_acts_on_every_door() -> None:
    seen: list[tuple[str, object]] = []
    with trio.fail_after(TIMEOUT):
        async with running_server(extra_stages=[tagging(seen)]) as server:
            async with connected(server) as (ws, _):
                frames = await request(ws, {"action": "echo", "request_id": "r"})
                assert [f.get("tagged") for f in frames] == ["envelope"] * 3
            async with open_websocket_url(f"{server.ws}/ws/orders") as legacy:
                await legacy.send_message(json.dumps({"action": "ping"}))
                assert json.loads(await legacy.get_message())["tagged"] == "legacy"
            async with httpx.AsyncClient(base_url=server.http) as http:
                created = await http.post("/orders", json={"customer": "a"})
                assert created.status_code == 200
    assert ("rest", 200) in seen
    assert ("legacy", "pong") in seen
    assert ("envelope", "ack") in seen


@pytest.mark.parametrize("stand_profile", ["qa_kit"], indirect=True)
async def test_the_stage_acts_on_the_qa_kit_door_too(stand_profile: str) -> None:
    seen: list[tuple[str, object]] = []
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(extra_stages=[tagging(seen)]) as server,
            open_websocket_url(f"{server.ws}/ws") as ws,
        ):
            await receive_json(ws)  # the original's hello
            await ws.send_message(json.dumps({"action": "echo", "request_id": "q"}))
            frames = [await receive_json(ws) for _ in range(3)]
    assert [f["tagged"] for f in frames] == ["qa_kit"] * 3
    assert [door for door, _ in seen] == ["qa_kit"] * 3


async def test_rest_requests_are_counted_like_the_others() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await http.post("/orders", json={"customer": "a"})
            await http.get("/orders/99")
            await http.get("/stats")
            metrics = (await http.get("/metrics")).text
    assert 'qakit_requests_total{action="create_order",outcome="ok",protocol="rest"} 1.0' in metrics
    assert 'qakit_requests_total{action="get_order",outcome="404",protocol="rest"} 1.0' in metrics
    assert 'qakit_requests_total{action="stats",outcome="ok",protocol="rest"} 1.0' in metrics


async def test_quarts_own_http_errors_keep_their_status() -> None:
    """A body over quart's MAX_CONTENT_LENGTH (16 MiB) is quart's 413, raised inside the
    route's request: still its 413 answer through the pipeline, counted as such."""
    head = (
        "POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {17 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    )
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(head.encode())  # the body never comes: the length says
                answer = b""
                while chunk := await stream.receive_some():
                    answer += chunk
            metrics = (await http.get("/metrics")).text
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b'{"detail":"Request Entity Too Large"}')
    assert 'action="create_order",outcome="413",protocol="rest"' in metrics


@pytest.mark.parametrize("bugs", [(), ("ack_after_data",), ("list_orders_off_by_one",)])
async def test_with_every_bug_off_no_lab_wrapper_is_installed(bugs: tuple[str, ...]) -> None:
    """What an action holds as its outlet, store and events: with every bug off, the
    connection, the service's store and its sink themselves."""
    held: list[tuple[type, type, bool]] = []

    async def look(ctx: ActionContext) -> None:
        held.append((type(ctx.outlet), type(ctx.store), ctx.events is ctx.deps.events))
        await ctx.reply({"type": "looked", "request_id": ctx.request_id})

    with trio.fail_after(TIMEOUT):
        async with (
            running_server(extra_actions={"look": look}, bugs=bugs) as server,
            connected(server) as (ws, _),
        ):
            await request(ws, {"action": "look", "request_id": "l"}, until="looked")
    outlet, store, same_events = held[0]
    if not bugs:
        assert (outlet, store, same_events) == (Connection, MemoryOrderStore, True)
        assert not server.app.services.lab.on
    elif bugs == ("ack_after_data",):
        assert outlet.__name__ == "LateAck"
        assert store is MemoryOrderStore
    else:
        assert outlet is Connection
        assert store.__name__ == "LabStore"
