"""How connections end: client closes, limits, failures, slow consumers, stalled handshakes."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from qakit_trio.sessions.actions import ActionContext

from ..support import wsraw
from ..support.helpers import (
    Closed,
    Server,
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
    send_json,
)
from ..support.timeouts import TIMEOUT


async def stats(server: Server) -> dict[str, object]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.http}/stats")
        assert response.status_code == 200
        body = response.json()
        assert isinstance(body, dict)
        return body


def expected(channels: dict[str, int], legacy: int = 0) -> dict[str, object]:
    return {
        "channels": channels,
        "total_connections": sum(channels.values()) + legacy,
        "legacy_orders_connections": legacy,
    }


async def test_stats_are_exact_right_after_connects_and_disconnects() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            assert await stats(server) == expected({})
            async with (
                connected(server, "room"),
                connected(server, "lobby"),
                connected(server, "room") as (b, _),
            ):
                assert await stats(server) == expected({"room": 2, "lobby": 1})
                await b.aclose()
                # the close handshake has completed: the server has already counted it
                assert await stats(server) == expected({"room": 1, "lobby": 1})
            assert await stats(server) == expected({})


@pytest.mark.fast_path_only("stock hypercorn reports every client close as 1006 (hypercorn#127)")
async def test_client_close_code_is_seen_and_echoed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qakit_trio.ws.connection")
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, hello):
            await ws.aclose(code=4321, reason="bye now")
            assert ws.closed is not None
            assert ws.closed.code == 4321  # the server answered with the client's own code
    closed = [
        r
        for r in caplog.records
        if r.getMessage() == "client closed" and r.fields["conn"] == hello["connection_id"]  # type: ignore[attr-defined]
    ]
    assert [
        (r.fields["close_code"], r.fields["close_reason"])  # type: ignore[attr-defined]
        for r in closed
    ] == [(4321, "bye now")]


async def test_oversized_frame_closes_with_1009() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(max_message_size=1000) as server, connected(server) as (ws, _):
            assert await request(ws, {"action": "echo", "payload": {"t": "x" * 900}})
            await ws.send_message(json.dumps({"action": "echo", "payload": {"t": "x" * 1000}}))
            assert (await read_until_closed(ws)).code == 1009


async def boom(ctx: ActionContext) -> None:
    raise RuntimeError("a bug in an action")


async def test_handler_failure_closes_1011_and_others_are_unaffected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(extra_actions={"boom": boom}) as server,
            connected(server) as (victim, _),
            connected(server) as (other, _),
        ):
            await send_json(victim, {"action": "boom", "request_id": "b1"})
            ack, error = await receive_json(victim), await receive_json(victim)
            assert ack["type"] == "ack"
            assert (error["error"], error["request_id"]) == ("internal_error", "b1")
            assert await read_until_closed(victim) == Closed([], 1011, "internal error")
            assert [f["type"] for f in await request(other, {"action": "echo"})] == [
                "ack",
                "echo",
                "event",
            ]
    assert any(r.getMessage() == "action failed" and r.exc_info for r in caplog.records)


async def open_slow_client(server: Server, nursery: trio.Nursery) -> WebSocketConnection:
    """A trio-websocket client with a tiny receive window; it reads only when told to."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", server.port))
    return await wrap_client_stream(
        nursery, trio.SocketStream(sock), "127.0.0.1", "/ws?channel=room"
    )


async def test_slow_consumer_is_evicted_while_a_fast_one_keeps_receiving() -> None:
    """The publisher is slowed while the stuck client's outbox is congested (flow control),
    the stuck client is evicted once it has made no progress for the slow-consumer timeout,
    and the fast client gets every broadcast, in order, all along."""
    big = "x" * 60_000
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(
                outbox_size=8, close_timeout=20, shutdown_timeout=25, slow_consumer_timeout=1
            ) as server,
            trio.open_nursery() as nursery,
        ):
            slow = await open_slow_client(server, nursery)
            assert (await receive_json(slow))["type"] == "system"
            async with connected(server, "room") as (fast, _):
                sent = 0
                while True:  # broadcast until the slow client no longer counts
                    sent += 1
                    frames = await request(
                        fast,
                        {
                            "action": "broadcast",
                            "request_id": sent,
                            "payload": {"message": f"{sent}:{big}"},
                        },
                    )
                    assert frames[1]["message"] == f"{sent}:{big}"  # fast: every one, in order
                    if frames[2]["extra"]["delivered"] == 1:
                        break
                assert await stats(server) == expected({"room": 1})
                # the slow client reads again: what was already on its way, then 4008
                closed = await read_until_closed(slow)
                assert (closed.code, closed.reason) == (4008, "slow consumer: no progress")
                received = [json.loads(m)["message"] for m in closed.messages]
                assert received == [f"{n}:{big}" for n in range(1, len(received) + 1)]
                assert len(received) < sent


async def test_unanswered_close_drops_the_tcp_connection() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(close_timeout=0.5) as server:
            raw = await wsraw.open_raw(server.port, "/ws")
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            server.app.services.hub.close_all(4000, "test asks everyone to leave")
            opcode, payload = await raw.read_frame()
            assert (opcode, wsraw.close_code(payload)) == (wsraw.CLOSE, 4000)
            # never answer the close: the server gives up after close_timeout
            await raw.read_until_eof()
            assert await stats(server) == expected({})
