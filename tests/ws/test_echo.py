"""/ws/echo, the raw echo endpoint the Autobahn testsuite runs against."""

from __future__ import annotations

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from ..support.helpers import UPGRADE, read_until_closed, running_server
from ..support.timeouts import TIMEOUT


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
        async with (
            running_server(max_message_size=100) as server,
            open_websocket_url(f"{server.ws}/ws/echo") as ws,
        ):
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


async def test_each_delayed_echo_comes_back_delay_ms_after_its_message_arrived() -> None:
    """?delay_ms=1000: five messages sent together come back together about a second later,
    in order. They came back at 1, 2, 3, 4 and 5 s: each waited for the one before it."""
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            open_websocket_url(f"{server.ws}/ws/echo?delay_ms=1000") as ws,
        ):
            start = trio.current_time()
            for number in range(5):
                await ws.send_message(f"m{number}")
            echoes = [await ws.get_message() for _ in range(5)]
            took = trio.current_time() - start
    assert echoes == [f"m{number}" for number in range(5)]
    assert 1.0 <= took < 2.5, took


@pytest.mark.parametrize("delay", ["²", "١٠", "𝟓", "５"])  # noqa: RUF001 (on purpose)
async def test_delay_ms_takes_ascii_digits_only(delay: str) -> None:
    """`str.isdigit()` took these: `²` was a 500 with a traceback, the others were read as
    numbers. A 400 that names delay_ms, before the upgrade."""
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.get(
                f"{server.http}/ws/echo", params={"delay_ms": delay}, headers=UPGRADE
            )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_delay"
    assert "delay_ms" in response.json()["detail"]
