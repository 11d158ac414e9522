"""/ws/echo, the raw echo endpoint the Autobahn testsuite runs against."""

from __future__ import annotations

import trio
from trio_websocket import open_websocket_url

from ..support.helpers import read_until_closed, running_server

TIMEOUT = 10


async def test_text_and_binary_come_back_unchanged() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, open_websocket_url(f"{server.ws}/ws/echo") as ws:
            for message in ("", "hi", "привет" * 30_000, b"", b"\x00\xff" * 40_000):
                await ws.send_message(message)
                assert await ws.get_message() == message
            await ws.aclose(code=4100, reason="done")
            assert ws.closed is not None
            assert ws.closed.code == 4100


async def test_oversized_message_closes_with_1009() -> None:
    with trio.fail_after(TIMEOUT):
        async with (running_server(max_message_size=100) as server,
                    open_websocket_url(f"{server.ws}/ws/echo") as ws):
            await ws.send_message("x" * 101)
            assert (await read_until_closed(ws)).code == 1009


async def test_shutdown_says_1001_to_echo_clients_too() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, open_websocket_url(f"{server.ws}/ws/echo") as ws:
            await ws.send_message("before")
            assert await ws.get_message() == "before"
            server.stop.set()
            closed = await read_until_closed(ws)
            assert (closed.code, closed.reason) == (1001, "server shutting down")
