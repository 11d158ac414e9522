"""REST: /health, /stats, POST /broadcast, and JSON errors everywhere."""

from __future__ import annotations

import httpx
import pytest
import trio

from ..support.helpers import connected, receive_json, request, running_server
from ..support.timeouts import TIMEOUT


async def test_health() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.get(f"{server.http}/health")
            assert response.status_code == 200
            assert response.json().items() >= {"status": "ok", "service": "qa-websocket"}.items()


async def test_post_broadcast_reaches_the_named_channel_only() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient() as http,
            connected(server, "room") as (a, _),
            connected(server, "room") as (b, _),
            connected(server, "other") as (c, _),
        ):
            response = await http.post(
                f"{server.http}/broadcast", params={"message": "привет", "channel": "room"}
            )
            assert response.status_code == 200
            assert response.json() == {"ok": True, "channel": "room", "connections": 2}
            for ws in (a, b):
                frame = await receive_json(ws)
                assert (
                    frame.items()
                    >= {"type": "broadcast", "channel": "room", "message": "привет"}.items()
                )
                assert frame.keys() == {"type", "channel", "message", "ts", "offset", "epoch"}
                assert frame["offset"] == 1  # the channel's first publication
            assert (await request(c, {"action": "echo"}))[0]["type"] == "ack"


async def test_post_broadcast_defaults_to_the_default_channel() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient() as http,
            connected(server) as (ws, _),
        ):
            response = await http.post(f"{server.http}/broadcast?message=hello")
            assert response.json() == {"ok": True, "channel": "general", "connections": 1}
            assert (await receive_json(ws))["message"] == "hello"
            response = await http.post(f"{server.http}/broadcast?message=x&channel=empty")
            assert response.json() == {"ok": True, "channel": "empty", "connections": 0}


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "allow"),
    [
        (
            "POST",
            "/broadcast",
            422,
            '{"detail":[{"type":"missing","loc":["query","message"],'
            '"msg":"Field required","input":null}]}',
            None,
        ),
        (
            "POST",
            "/broadcast?channel=room",
            422,
            '{"detail":[{"type":"missing","loc":["query",'
            '"message"],"msg":"Field required","input":null}]}',
            None,
        ),
        ("GET", "/no-such-page", 404, '{"detail":"Not Found"}', None),
        ("GET", "/broadcast", 405, '{"detail":"Method Not Allowed"}', "POST"),
        ("DELETE", "/stats", 405, '{"detail":"Method Not Allowed"}', "GET"),
        ("DELETE", "/orders", 405, '{"detail":"Method Not Allowed"}', "GET, POST"),
    ],
)
async def test_rest_errors_are_fastapis(
    method: str, path: str, status: int, body: str, allow: str | None
) -> None:
    """Byte for byte what the original stand's FastAPI answered (its Allow header named only
    the first route's method; this one names every method of the path: README)."""
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.request(method, f"{server.http}{path}")
            assert (response.status_code, response.text) == (status, body)
            assert response.headers["content-type"] == "application/json"
            assert response.headers.get("allow") == allow


async def test_a_bad_channel_is_a_400_that_says_why() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.post(f"{server.http}/broadcast?message=x&channel=two%20words")
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_channel"
