"""The pytest-trio kit: the whole stand in-process, for deterministic tests on trio's virtual
clock (docs/testing.md).

    from qakit_trio.testing import open_stand

    async def test_echo(autojump_clock):
        async with open_stand({"QAKIT_BUGS": "ack_after_data"}) as stand:
            async with stand.connect("/ws?channel=room") as ws:
                hello = await ws.receive_json()
                await ws.send_json({"action": "echo", "request_id": "r1"})
                ...
            status, body = await stand.request("GET", "/stats")

No sockets, no threads (unless DATABASE_URL points at PostgreSQL): the app runs in the test's
own trio run, its service tasks (keepalive, the log flusher, ...) in the app's nursery, REST
requests go through quart's test client, and each WebSocket client is an in-memory ASGI
connection whose app side runs in a nursery of the `connect` block: the plain ASGI path
(transport/asgi.py, PlainTransport), as under any ASGI server. So `trio.sleep(60)` under
`autojump_clock` takes no wall time, and neither does a 60 s timeout inside the stand.
Settings use the environment's names and are checked the same way (config.load_settings):
a typo is a ConfigError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from qakit_trio.adapters.kafka import Publisher
from qakit_trio.app import create_app
from qakit_trio.config import load_settings
from qakit_trio.transport.kit import LEAVE_TIMEOUT, Stand, StandClient, StandClosed

__all__ = ["LEAVE_TIMEOUT", "Stand", "StandClient", "StandClosed", "open_stand"]


@asynccontextmanager
async def open_stand(
    settings: Mapping[str, str] | None = None, *, kafka: Publisher | None = None
) -> AsyncIterator[Stand]:
    """Run the whole app in this trio run until the block ends (service tasks included).
    `kafka`: a publisher of yours (e.g. one that keeps the records it is given)."""
    app = create_app(load_settings(dict(settings or {})), kafka=kafka)
    async with app.test_app() as test_app:
        yield Stand(app, test_app.test_client())
