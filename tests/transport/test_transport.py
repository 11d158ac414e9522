"""The plain-ASGI fallback: the same app under a server without our hypercorn extension
(quart's in-process test client stands in for one), so one frame per ASGI send."""

from __future__ import annotations

import json

import trio

from qakit_trio.app import create_app

from ..support.helpers import TEST_SETTINGS
from ..support.timeouts import TIMEOUT


async def test_app_works_over_plain_asgi() -> None:
    app = create_app(TEST_SETTINGS)
    with trio.fail_after(TIMEOUT):
        async with app.test_app() as test_app:
            client = test_app.test_client()
            async with client.websocket("/ws?channel=plain") as ws:
                hello = json.loads(await ws.receive())
                assert (hello["type"], hello["channel"]) == ("system", "plain")
                await ws.send(json.dumps({"action": "triplet_demo", "request_id": "t"}))
                frames = [json.loads(await ws.receive()) for _ in range(4)]
                assert [f["type"] for f in frames] == ["ack", "step", "step", "event"]
                assert app.services.hub.stats() == {"plain": 1}
