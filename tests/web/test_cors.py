"""CORS as the original stand answered it (Starlette's CORSMiddleware, credentials allowed):
a page on another origin can call the REST API; the WebSocket Origin check (more in
test_origins.py)."""

from __future__ import annotations

import httpx
import pytest
import trio
from trio_websocket import HandshakeError, open_websocket_url

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

PLAYGROUND = "http://localhost:8091"  # the original stand's playground page


async def test_a_preflight_and_a_fetch_from_the_playground_origin() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            preflight = await http.options(
                "/orders",
                headers={
                    "Origin": PLAYGROUND,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert (preflight.status_code, preflight.text) == (200, "OK")
            assert preflight.headers["access-control-allow-origin"] == PLAYGROUND
            assert preflight.headers["access-control-allow-credentials"] == "true"
            assert preflight.headers["access-control-allow-headers"] == "content-type"
            assert "POST" in preflight.headers["access-control-allow-methods"]
            created = await http.post(
                "/orders", json={"customer": "Yulia"}, headers={"Origin": PLAYGROUND}
            )
            assert created.status_code == 200
            assert created.headers["access-control-allow-origin"] == PLAYGROUND
            assert created.headers["access-control-allow-credentials"] == "true"
            assert "Origin" in created.headers["vary"]
            missing = await http.get("/orders/99", headers={"Origin": PLAYGROUND})
            assert missing.status_code == 404  # errors carry the headers too: fetch can read them
            assert missing.headers["access-control-allow-origin"] == PLAYGROUND


async def test_another_origin_is_refused_and_a_request_without_origin_gets_no_headers() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            preflight = await http.options(
                "/orders",
                headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
            )
            assert (preflight.status_code, preflight.text) == (400, "Disallowed CORS origin")
            assert "access-control-allow-origin" not in preflight.headers
            plain = await http.get("/health", headers={"Origin": "http://evil.example"})
            assert plain.status_code == 200
            assert "access-control-allow-origin" not in plain.headers
            assert "access-control-allow-origin" not in (await http.get("/health")).headers


async def test_star_allows_every_origin() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(cors_allow_origins=("*",)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            response = await http.get("/health", headers={"Origin": "http://anywhere:1234"})
            assert response.headers["access-control-allow-origin"] == "*"
            preflight = await http.options(
                "/broadcast",
                headers={"Origin": "http://anywhere:1234", "Access-Control-Request-Method": "POST"},
            )
            assert preflight.headers["access-control-allow-origin"] == "http://anywhere:1234"


@pytest.mark.parametrize("path", ["/ws", "/ws/orders"])
async def test_websocket_origin_is_checked_and_the_configured_origins_are_let_in(path: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(ws_allowed_origins=("http://localhost:3000",)) as server:
            for origin in (PLAYGROUND, "http://localhost:3000"):  # CORS's, QAKIT_WS_'s
                async with open_websocket_url(
                    f"{server.ws}{path}", extra_headers=[(b"Origin", origin.encode())]
                ):
                    pass
            async with open_websocket_url(f"{server.ws}{path}"):
                pass  # no Origin: Postman, pytest
            with pytest.raises(HandshakeError) as refused:
                async with open_websocket_url(
                    f"{server.ws}{path}", extra_headers=[(b"Origin", b"http://evil.example")]
                ):
                    pass
            assert refused.value.status_code == 403  # type: ignore[attr-defined]
            assert b"origin_not_allowed" in refused.value.body  # type: ignore[attr-defined]
