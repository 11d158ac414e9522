"""The WebSocket handshake on every door, on both transport paths (transport/quart_ws.py)."""

from __future__ import annotations

import base64

import httpx
import pytest
import trio

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

DOORS = ("/ws", "/ws/orders", "/ws/echo", "/ws/_inspect")


@pytest.mark.parametrize(
    "key",
    [
        "abc",
        base64.b64encode(bytes(15)).decode(),
        base64.b64encode(bytes(17)).decode(),
        "not base64 at all!!!",
    ],
)
async def test_a_key_that_is_not_16_bytes_in_base64_is_refused_before_the_upgrade(key: str) -> None:
    """RFC 6455 4.2.1: Sec-WebSocket-Key is 16 random bytes in base64. `abc` was upgraded."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": key,
    }
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            answers = {
                door: await http.get(f"{server.http}{door}", headers=headers) for door in DOORS
            }
    for door, response in answers.items():
        assert response.status_code == 400, (door, response.status_code)
        body = response.json()
        assert body["error"] == "invalid_handshake"
        assert "Sec-WebSocket-Key" in body["detail"]
        assert key[:10] in body["detail"]
