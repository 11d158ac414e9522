"""The testing kit's clients (testing.py): the whole app, in memory, driven by a test or by the
classroom's replay twins (classroom/replay.py). A WebSocket client is an in-memory ASGI
connection whose app side runs in a nursery of the `connect` block: the plain ASGI path
(transport/asgi.py, PlainTransport), as under any ASGI server; REST goes through quart's test
client. Here, and not in testing.py, because the app's own replays use them too (testing.py
builds the app: app.py cannot import it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import trio

_loads = json.loads  # (`json` is a parameter name of Stand.request, as in httpx)
LEAVE_TIMEOUT = 5.0  # (virtual) seconds the app's side of a connection has to end after it


class StandClosed(Exception):
    """The stand closed the WebSocket (`code`), or refused it with an HTTP answer (`status`)."""

    def __init__(self, code: int | None, status: int | None = None, body: Any = None) -> None:
        super().__init__(f"closed with {code}" if status is None else f"refused with {status}")
        self.code = code
        self.status = status
        self.body = body


class StandClient:
    """One WebSocket client of the stand: an in-memory ASGI connection to the app (the plain
    ASGI path, as under any ASGI server), with bounded channels both ways, as a socket is."""

    def __init__(self, app: Any, path: str, headers: Mapping[str, str] | None = None) -> None:
        target = urlsplit(path)
        extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        self._scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": target.path,
            "raw_path": target.path.encode(),
            "query_string": target.query.encode(),
            "root_path": "",
            "headers": [(b"host", b"localhost"), *extra],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),  # a Host the stand answers (QAKIT_ALLOWED_HOSTS)
            "subprotocols": [],
            "extensions": {"websocket.http.response": {}},
        }
        self._app = app
        # Bounded like a socket's buffers: whoever runs ahead waits for the other side.
        # Owners: the client's side (this object) sends to the app and closes that end in
        # `leave`; `run`, the app's task, closes the app's send end when the app returns, so
        # `receive` then sees the end. The receive ends go with this object.
        self._to_app_send, self._to_app_receive = trio.open_memory_channel[dict[str, Any]](16)
        self._from_app_send, self._from_app_receive = trio.open_memory_channel[dict[str, Any]](64)
        self._closed: StandClosed | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The app's side of this connection, until the app returns."""
        self._to_app_send.send_nowait({"type": "websocket.connect"})
        task_status.started()
        with self._from_app_send:  # this task owns the app's send end: closed when it returns
            await self._app(
                self._scope,
                self._to_app_receive.receive,
                self._from_app_send.send,
            )

    async def send_json(self, obj: Any) -> None:
        await self.send_text(json.dumps(obj))

    async def send_text(self, text: str) -> None:
        await self._to_app_send.send({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app_send.send({"type": "websocket.receive", "bytes": data})

    async def receive(self) -> str | bytes:
        """The next frame; StandClosed once the stand has closed (or refused) the connection."""
        body = b""
        status: int | None = None
        while self._closed is None:
            try:
                message = await self._from_app_receive.receive()
            except trio.EndOfChannel:
                self._closed = StandClosed(1006)  # the app returned without a close
                break
            kind = message["type"]
            if kind == "websocket.send":
                text: str | None = message.get("text")
                return text if text is not None else bytes(message.get("bytes") or b"")
            if kind == "websocket.close":
                self._closed = StandClosed(int(message.get("code", 1000)))
            elif kind == "websocket.http.response.start":
                status = int(message["status"])
            elif kind == "websocket.http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body"):
                    self._closed = StandClosed(None, status, body.decode(errors="replace"))
        raise self._closed

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    async def close(self, code: int = 1000) -> None:
        await self._to_app_send.send({"type": "websocket.disconnect", "code": code})

    def leave(self) -> None:
        """The client is gone (the block ended): the app is told, without waiting."""
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self._to_app_send.send_nowait({"type": "websocket.disconnect", "code": 1006})
        self._to_app_send.close()


class Stand:
    """The running stand: `connect` a WebSocket client, `request` a REST route."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app = app  # app.services: the hub, the store, the lab's bugs, for white-box checks
        self._client = client

    @asynccontextmanager
    async def connect(
        self, path: str = "/ws", headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[StandClient]:
        """A WebSocket client of `path` for the block; the app's side of it runs in a nursery
        of this block, and is given LEAVE_TIMEOUT to finish once the client has left. An
        exception of the block comes out as it was raised, not wrapped in a group. `headers`:
        e.g. {"Authorization": "Bearer ..."} (QAKIT_AUTH=on; or `?token=` in the path)."""
        client = StandClient(self.app, path, headers)
        raised: list[BaseException] = []
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                try:
                    yield client
                except BaseException as error:
                    raised.append(error)
                    raise
                finally:
                    client.leave()
                    nursery.cancel_scope.deadline = trio.current_time() + LEAVE_TIMEOUT
        except BaseExceptionGroup as group:
            # the block's own exception (an assertion, StandClosed), alone: raised as it was
            if raised and len(group.exceptions) == 1 and group.exceptions[0] is raised[0]:
                raise raised[0] from None
            raise

    async def request(
        self, method: str, path: str, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, body parsed as JSON, or the text when it is not JSON)."""
        response = await self._client.open(path, method=method, json=json, headers=headers)
        text = await response.get_data(as_text=True)
        try:
            body = _loads(text)
        except ValueError:
            body = text
        return response.status_code, body
