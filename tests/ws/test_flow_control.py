"""Issue 22, item 9: a publisher that reads is never evicted by its own burst.

A `websockets.sync.client` publisher holds its connection's lock while a socket write blocks,
so its reading thread stops whenever the stand stops reading it (flow control). The stand must
not then judge it "no progress": the never-reader in the channel is the one evicted, and the
publisher gets every ack, the reading subscriber every message. Real sockets, both paths.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import pytest
import trio
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect as sync_connect

from tests.support import wsraw
from tests.support.helpers import connected, receive_json, running_server
from tests.support.timeouts import LOAD_TIMEOUT

pytestmark = pytest.mark.system  # load: 3000 broadcasts of 2 KB beside a never-reader

COUNT, MESSAGE = 3000, "b" * 2000


def small_buffer_socket(port: int) -> socket.socket:
    """A client socket whose receive buffer is small: replies back up into the stand's outbox
    soon after the client's reading falls behind (as on a loaded machine), not after megabytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # before connect
    sock.connect(("127.0.0.1", port))
    return sock


def sync_publisher(url: str, port: int) -> dict[str, Any]:
    """Send COUNT broadcasts from the main thread while a second thread reads every frame."""
    acks: list[object] = []
    closed: list[object] = []
    with sync_connect(url, sock=small_buffer_socket(port), max_size=None, ping_interval=None) as ws:
        hello = json.loads(ws.recv())
        assert hello["type"] == "system"

        def read() -> None:
            try:
                while len(acks) < COUNT:
                    frame = json.loads(ws.recv())
                    if frame["type"] == "ack":
                        acks.append(frame["request_id"])
            except Exception as error:  # the close that ends the test, if it fails
                closed.append(repr(error))

        reader = threading.Thread(target=read)
        reader.start()
        for n in range(COUNT):
            ws.send(
                json.dumps(
                    {"action": "broadcast", "request_id": n, "payload": {"message": MESSAGE}}
                )
            )
        reader.join(timeout=LOAD_TIMEOUT)
    return {"acks": acks, "closed": closed}


def asyncio_publisher(url: str, port: int) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        acks: list[object] = []
        async with async_connect(
            url, sock=small_buffer_socket(port), max_size=None, ping_interval=None
        ) as ws:
            await ws.recv()

            async def send() -> None:
                for n in range(COUNT):
                    await ws.send(
                        json.dumps(
                            {
                                "action": "broadcast",
                                "request_id": n,
                                "payload": {"message": MESSAGE},
                            }
                        )
                    )

            sender = asyncio.create_task(send())
            while len(acks) < COUNT:
                frame = json.loads(await ws.recv())
                if frame["type"] == "ack":
                    acks.append(frame["request_id"])
            await sender
        return {"acks": acks, "closed": []}

    return asyncio.run(main())


@pytest.mark.parametrize("client", ["sync", "asyncio"])
async def test_a_reading_publisher_beside_a_never_reader_gets_every_ack(client: str) -> None:
    publisher = sync_publisher if client == "sync" else asyncio_publisher
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(slow_consumer_timeout=2, close_timeout=1) as server,
            connected(server, "room") as (subscriber, _),
        ):
            never = await wsraw.open_raw(server.port, "/ws?channel=room", receive_buffer=4096)
            got: list[int] = []

            async def subscribe() -> None:
                while len(got) < COUNT:
                    frame = await receive_json(subscriber)
                    if frame["type"] == "message":
                        got.append(frame["request_id"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(subscribe)
                result = await trio.to_thread.run_sync(
                    publisher, f"{server.ws}/ws?channel=room", server.port
                )
            assert result["closed"] == []
            assert result["acks"] == list(range(COUNT))
            assert got == list(range(COUNT))
            hub = server.app.services.hub
            assert hub.evictions == 1  # the never-reader, and only it
            assert hub.is_member(
                next(m for m in hub.members() if m.frames_in == 0 and m.inlet.meter.writes > 0)
            )  # the subscriber stays
            del never
