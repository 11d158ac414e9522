"""A foreign web page must not read or change the stand (issue 22, items 1-3), over real
sockets, on both paths: the WebSocket doors refuse another origin's page with 403 before the
upgrade (`/ws/_inspect` takes the stand's own pages only), state-changing REST calls from
another origin get 403 and change nothing, and a Host the stand does not answer to gets 400
on every route and door (DNS rebinding). Clients that send no Origin, the stand's own pages
and the original stand's drop-in origins keep working."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from qakit_trio.app import create_app
from qakit_trio.config import DEFAULT_CORS_ORIGINS
from qakit_trio.server import serve

from ..support import helpers
from ..support.helpers import Server, receive_json, running_server
from ..support.timeouts import TIMEOUT

DOORS = ["/ws", "/ws/orders", "/ws/echo", "/ws/_inspect"]
EVIL = "http://evil.example"
DROP_IN = DEFAULT_CORS_ORIGINS[1]  # http://localhost:8091, the original's playground


def own(server: Server) -> str:
    return server.http  # http://127.0.0.1:PORT: what a page the stand served sends


async def upgrade(server: Server, path: str, origin: str | None) -> None:
    """Open `path` (with this Origin) and close it again; ConnectionRejected if refused."""
    headers = [] if origin is None else [(b"Origin", origin.encode())]
    async with open_websocket_url(f"{server.ws}{path}", extra_headers=headers):
        pass


async def refusal(server: Server, path: str, origin: str) -> dict[str, Any]:
    with pytest.raises(ConnectionRejected) as refused:
        await upgrade(server, path, origin)
    assert refused.value.status_code == 403, path
    body = json.loads(refused.value.body or b"{}")
    assert isinstance(body, dict)
    return body


async def raw(server: Server, request: str) -> tuple[int, dict[str, str], bytes]:
    """Send one raw HTTP/1.1 request; (status, headers, body) of the answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            assert chunk, f"closed before an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        while len(body) < int(headers.get("content-length", "0")):
            chunk = await stream.receive_some(65536)
            assert chunk
            body += chunk
    return int(lines[0].split()[1]), headers, body


def upgrade_request(path: str, host: str) -> str:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )


@pytest.mark.parametrize("path", DOORS)
async def test_a_foreign_page_cannot_open_a_door_the_stands_own_pages_and_clients_can(
    path: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            another_local_origin = f"http://127.0.0.1:{server.port + 1}"
            refused = [EVIL, another_local_origin, f"http://localhost:{server.port}", "null"]
            if path == "/ws/_inspect":
                refused += DEFAULT_CORS_ORIGINS  # the lab socket: the stand's own pages only
            for origin in refused:
                body = await refusal(server, path, origin)
                assert body["error"] == "origin_not_allowed"
                assert f"Origin {origin} may not open {path}" in body["detail"]
                assert own(server) in body["detail"]  # how the stand's own pages look
            assert server.app.services.connections() == 0
            await upgrade(server, path, None)  # Postman, pytest, curl
            await upgrade(server, path, own(server))
            await upgrade(server, path, own(server) + "/")
            if path != "/ws/_inspect":
                for origin in DEFAULT_CORS_ORIGINS:  # the original stand's drop-in origins
                    await upgrade(server, path, origin)


async def test_the_inspector_takes_the_stands_own_pages_only_whatever_the_settings() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(ws_allowed_origins=("*",), cors_allow_origins=("*",)) as server:
            await upgrade(server, "/ws", EVIL)  # `*` lets any page open the other doors
            for origin in (EVIL, DROP_IN):
                body = await refusal(server, "/ws/_inspect", origin)
                assert "every client's frames" in body["detail"]
            await upgrade(server, "/ws/_inspect", own(server))


async def test_qakit_ws_allowed_origins_lets_more_pages_open_the_websockets() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(ws_allowed_origins=("http://localhost:3000",)) as server:
            await upgrade(server, "/ws", "http://localhost:3000")
            await upgrade(server, "/ws/orders", DROP_IN)  # CORS_ALLOW_ORIGINS's still count
            body = await refusal(server, "/ws", EVIL)
            assert "QAKIT_WS_ALLOWED_ORIGINS" in body["detail"]


async def test_a_foreign_origin_changes_nothing_over_rest_the_stands_own_pages_do() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            order = (await http.post("/orders", json={"customer": "Yulia"})).json()
            bugs = (await http.get("/lab/bugs")).json()
            faults = (await http.get("/lab/faults")).json()
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            for origin in (EVIL, f"http://127.0.0.1:{server.port + 1}"):
                calls: list[tuple[str, str, dict[str, Any]]] = [
                    ("POST", "/orders", {"json": {"customer": "Mallory"}}),
                    *(
                        (
                            "POST",
                            f"/orders/{order['id']}/{verb}",
                            {"content": "confirm=1", "headers": form},
                        )
                        for verb in ("pay", "ship", "deliver", "cancel")
                    ),
                    ("POST", "/broadcast?message=hacked", {"content": "", "headers": form}),
                    ("PUT", "/lab/bugs", {"json": {"enabled": ["stale_stats"]}}),
                    ("PUT", "/lab/faults", {"json": {"rules": []}}),
                    ("DELETE", "/lab/faults", {}),
                ]
                for method, path, options in calls:
                    headers = {**options.pop("headers", {}), "Origin": origin}
                    answer = await http.request(method, path, headers=headers, **options)
                    assert answer.status_code == 403, (method, path, answer.text)
                    detail = answer.json()["detail"]
                    assert f"Origin {origin} may not send {method}" in detail
                    assert "CORS_ALLOW_ORIGINS" in detail
                    assert "access-control-allow-origin" not in answer.headers
            assert (await http.get("/orders")).json() == [order]  # nothing created, nothing paid
            assert (await http.get("/lab/bugs")).json() == bugs
            assert (await http.get("/lab/faults")).json() == faults
            reads = await http.get(f"/orders/{order['id']}", headers={"Origin": EVIL})
            assert reads.status_code == 200  # reading is not refused (CORS hides the answer)
            # the stand's own pages, the original's drop-in origins and Postman change it
            paid = await http.post(f"/orders/{order['id']}/pay", headers={"Origin": own(server)})
            assert (paid.status_code, paid.json()["status"]) == (200, "paid")
            shipped = await http.post(f"/orders/{order['id']}/ship", headers={"Origin": DROP_IN})
            assert (shipped.status_code, shipped.json()["status"]) == (200, "shipped")
            assert shipped.headers["access-control-allow-origin"] == DROP_IN
            delivered = await http.post(f"/orders/{order['id']}/deliver")  # no Origin
            assert (delivered.status_code, delivered.json()["status"]) == (200, "delivered")
            preflight = await http.options(
                "/orders", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
            )
            assert (preflight.status_code, preflight.text) == (400, "Disallowed CORS origin")


async def test_a_foreign_origins_broadcast_reaches_nobody() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient(base_url=server.http) as http,
            open_websocket_url(f"{server.ws}/ws?channel=room") as listener,
        ):
            await receive_json(listener)  # hello
            refused = await http.post(
                "/broadcast?channel=room&message=hacked", headers={"Origin": EVIL}
            )
            assert refused.status_code == 403
            sent = await http.post(
                "/broadcast?channel=room&message=fine", headers={"Origin": own(server)}
            )
            assert sent.status_code == 200
            frame = await receive_json(listener)
            assert frame["message"] == "fine"  # the first broadcast the channel saw


ROUTES = [
    "GET /health",
    "GET /",
    "GET /docs",
    "GET /nowhere",
    "GET /postman",
    "POST /orders",
    "POST /broadcast?message=x",
    "OPTIONS /orders",
    "GET /orders//1",
]


async def test_a_foreign_host_gets_400_everywhere_the_stands_own_are_served() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            # the last: a label werkzeug cannot parse (was a 500 with a traceback)
            for host in (
                "attacker.example",
                f"attacker.example:{server.port}",
                "127.0.0.1.nip.io",
                "localhost:x",
                "a" * 64 + ".example",
            ):
                for route in ROUTES:
                    status, _, body = await raw(
                        server,
                        f"{route} HTTP/1.1\r\nHost: {host}\r\nOrigin: {EVIL}\r\n"
                        "Access-Control-Request-Method: POST\r\n"
                        "Content-Length: 0\r\n\r\n",
                    )
                    answer = json.loads(body)
                    assert (status, answer["error"]) == (400, "host_not_allowed"), (host, route)
                    assert "QAKIT_ALLOWED_HOSTS" in answer["detail"]
                for path in DOORS:
                    status, _, body = await raw(server, upgrade_request(path, host))
                    assert (status, json.loads(body)["error"]) == (400, "host_not_allowed")
            assert server.app.services.connections() == 0
            # localhost, its address, its host name: served
            for host in ("localhost", "127.0.0.1", "[::1]", socket.gethostname(), "LOCALHOST."):
                with_port = f"{host}:{server.port}"
                status, _, _ = await raw(
                    server,
                    f"GET /health HTTP/1.1\r\nHost: {with_port}\r\nConnection: close\r\n\r\n",
                )
                assert status == 200, host
                for path in DOORS:
                    status, _, _ = await raw(server, upgrade_request(path, with_port))
                    assert status == 101, (host, path)


async def test_redirects_never_name_the_host() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            for target, where in (
                ("/postman", "/postman/"),
                ("/orders//1", "/orders/1"),
                ("/guides//README.md?x=1", "/guides/README.md?x=1"),
            ):
                status, headers, _ = await raw(
                    server,
                    f"GET {target} HTTP/1.1\r\nHost: localhost:{server.port}\r\n"
                    "Connection: close\r\n\r\n",
                )
                assert (status, headers["location"]) == (308, where)


async def test_qakit_allowed_hosts_names_the_hosts_and_star_turns_the_check_off() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(allowed_hosts=("stand.example",)) as server:
            get = "GET /health HTTP/1.1\r\nConnection: close\r\nHost: "
            assert (await raw(server, get + "stand.example:8002\r\n\r\n"))[0] == 200
            assert (await raw(server, get + f"127.0.0.1:{server.port}\r\n\r\n"))[0] == 400
        async with running_server(allowed_hosts=("*",)) as server:
            assert (await raw(server, get + "attacker.example\r\n\r\n"))[0] == 200
            assert (await raw(server, upgrade_request("/ws/echo", "attacker.example")))[0] == 101
            assert (await raw(server, get + "a" * 64 + ".example\r\n\r\n"))[0] == 200


@asynccontextmanager
async def two_ports() -> AsyncIterator[tuple[Server, Server]]:
    """One stand listening on two ports (as on 8002 and 8000): a Server for each."""
    settings = replace(helpers.TEST_SETTINGS, fast_path=helpers.PATH["fast"])
    app = create_app(settings)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, settings, ["127.0.0.1:0", "127.0.0.1:0"], stop.wait, app)
        yield Server(urls[0], app, stop), Server(urls[1], app, stop)
        stop.set()


async def test_the_stands_pages_on_its_other_port_are_its_own() -> None:
    with trio.fail_after(TIMEOUT):
        async with two_ports() as (first, second), httpx.AsyncClient() as http:
            for path in DOORS:  # the playground on one port, a URL of the other
                await upgrade(first, path, own(second))
            created = await http.post(
                f"{first.http}/orders", json={"customer": "Yulia"}, headers={"Origin": own(second)}
            )
            assert created.status_code == 200
            await refusal(first, "/ws", f"http://localhost:{second.port}")  # another host


async def test_behind_a_tls_proxy_the_forwarded_scheme_makes_the_pages_own() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            page = f"https://127.0.0.1:{server.port}"  # what the browser saw: https
            refused = await http.post(
                "/orders", json={"customer": "Yulia"}, headers={"Origin": page}
            )
            assert refused.status_code == 403
            created = await http.post(
                "/orders",
                json={"customer": "Yulia"},
                headers={"Origin": page, "X-Forwarded-Proto": "https"},
            )
            assert created.status_code == 200
            async with open_websocket_url(
                f"{server.ws}/ws/_inspect",
                extra_headers=[(b"Origin", page.encode()), (b"X-Forwarded-Proto", b"https")],
            ):
                pass
