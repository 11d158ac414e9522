"""QakitTaskGroup (transport/task_group.py): our WebSocket stream's app reads an AppInbox;
hypercorn's stock stream (an HTTP/2 WebSocket, RFC 8441) and HTTP keep hypercorn's channel,
whose apps never report what they took (a bound in bytes would stop them for good)."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypercorn.protocol.events import Data, Request
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.typing import ConnectionState

from qakit_trio.transport import hyper_ext
from qakit_trio.transport.app_inbox import AppInbox
from qakit_trio.transport.task_group import QakitTaskGroup

from ..support import wsraw
from ..support.timeouts import TIMEOUT
from .test_hyper_ext import HANDSHAKE, new_stream

H2_HANDSHAKE = [(b"sec-websocket-version", b"13")]  # RFC 8441: an extended CONNECT
CHUNK = 300_000  # eight of them: past the inbox's 1 MiB


async def ignore(event: Any) -> None:
    await trio.lowlevel.checkpoint()


async def test_only_our_stream_gets_an_inbox_and_a_stock_one_reads_past_the_byte_bound() -> None:
    got: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                got.append(len(message["bytes"]))

    with trio.fail_after(TIMEOUT):
        async with QakitTaskGroup() as task_group:
            streams = {}
            for kind, headers, version in (
                (WSStream, H2_HANDSHAKE, "2"),
                (hyper_ext.QakitWSStream, HANDSHAKE, "1.1"),
            ):
                chosen = app if kind is WSStream else _accepting
                stream = new_stream(kind, chosen, task_group, ignore)
                method = "CONNECT" if version == "2" else "GET"
                await stream.handle(
                    Request(
                        stream_id=1,
                        headers=headers,
                        http_version=version,
                        method=method,
                        raw_path=b"/ws",
                        state=ConnectionState({}),
                    )
                )
                streams[kind] = stream
            await trio.testing.wait_all_tasks_blocked()
            stock, ours = streams[WSStream], streams[hyper_ext.QakitWSStream]
            assert isinstance(getattr(ours.app_put, "__self__", None), AppInbox)
            assert isinstance(getattr(stock.app_put, "__self__", None), trio.MemorySendChannel)
            for _ in range(8):  # 2.4 MB, read by the stock stream's app as it comes
                await stock.handle(
                    Data(stream_id=1, data=wsraw.encode_frame(wsraw.BINARY, b"x" * CHUNK))
                )
            await trio.testing.wait_all_tasks_blocked()
            task_group._nursery.cancel_scope.cancel()  # type: ignore[union-attr]
    assert got == [CHUNK] * 8


async def _accepting(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "websocket.accept"})
    await trio.sleep_forever()
