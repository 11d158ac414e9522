"""QakitWSStream on its own: hypercorn's WebSocket stream driven with events, no sockets.

These pin down orderings that end-to-end tests cannot observe reliably (the race they close is
microseconds wide on an idle server, but real on a busy one).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any, TypeVar, cast

import h2.config
import h2.connection
import h2.events
import hypercorn.protocol.h11
import hypercorn.trio.run
import hypercorn.trio.tcp_server
import pytest
import trio
from hypercorn.config import Config
from hypercorn.protocol.events import Data, Event, Request, Response, StreamClosed
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from qakit_trio.transport import hyper_ext, quart_ws
from qakit_trio.transport.task_group import QakitTaskGroup
from qakit_trio.wire import framing

from ..support import wsraw
from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

HANDSHAKE = [
    (b"host", b"localhost"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
]


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked server frames (payloads < 126 bytes, enough here)."""
    frames = []
    while data:
        length = data[1] & 0x7F
        assert length < 126
        frames.append((data[0] & 0x0F, data[2 : 2 + length]))
        data = data[2 + length :]
    return frames


class Recorder:
    """Plays hypercorn's protocol layer (what the stream sends) and an ASGI app."""

    def __init__(self, *, stays: bool) -> None:
        self.stays = stays  # after the disconnect the app stays (the test decides what it does)
        self.log: list[Any] = []
        self.scope: dict[str, Any] = {}
        self.received: trio.MemorySendChannel[dict[str, Any]]
        self.inbox: trio.MemoryReceiveChannel[dict[str, Any]]
        self.received, self.inbox = trio.open_memory_channel[dict[str, Any]](100)
        self.app_send: Any = None
        self.responses: list[Response] = []
        self.stream: hyper_ext.QakitWSStream

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Data):
            self.log.extend(("wire", op, payload) for op, payload in server_frames(event.data))
        elif isinstance(event, Response | StreamClosed):
            self.log.append(type(event).__name__)
        if isinstance(event, Response):
            self.responses.append(event)
        if isinstance(event, StreamClosed):  # as hypercorn's H11Protocol does
            await self.stream.handle(event)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.app_send = send
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            self.log.append(("app", message["type"], message.get("code")))
            await self.received.send(message)
            if message["type"] == "websocket.disconnect":
                if self.stays:
                    await trio.sleep_forever()
                return


S = TypeVar("S", bound=WSStream)


def new_stream(kind: type[S], app: Any, task_group: Any, send: Any) -> S:
    """A WebSocket stream of `kind` (hypercorn's or ours), as hypercorn's H11 protocol makes
    it, running the ASGI `app` in `task_group`; what it writes goes to `send`."""
    config, context, client, server = (
        Config(),
        WorkerContext(None),
        ("127.0.0.1", 1),
        ("127.0.0.1", 2),
    )
    return kind(
        wrap_app(app, 0, "asgi"), config, context, task_group, False, client, server, send, 1
    )


@asynccontextmanager
async def stream_with_app(
    *, stays: bool = False, headers: list[tuple[bytes, bytes]] = HANDSHAKE
) -> AsyncIterator[tuple[hyper_ext.QakitWSStream, Recorder]]:
    recorder = Recorder(stays=stays)
    async with QakitTaskGroup() as task_group:
        stream = new_stream(
            hyper_ext.QakitWSStream, recorder.app, task_group, recorder.protocol_send
        )
        recorder.stream = stream
        await stream.handle(
            Request(
                stream_id=1,
                headers=headers,
                http_version="1.1",
                method="GET",
                raw_path=b"/ws",
                state=ConnectionState({}),
            )
        )
        assert (await recorder.inbox.receive())["type"] == "websocket.connect"
        yield stream, recorder
        task_group._nursery.cancel_scope.cancel()  # type: ignore[union-attr]


def client_close(code: int, reason: str) -> Data:
    return Data(
        stream_id=1, data=wsraw.encode_frame(wsraw.CLOSE, struct.pack("!H", code) + reason.encode())
    )


async def test_scope_announces_the_extension_and_server_terminated() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            extension = recorder.scope["extensions"][hyper_ext.EXTENSION]
            assert extension["server_terminated"] is stream.context.terminated


async def test_client_close_reaches_the_app_with_its_code_before_the_reply() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.handle, client_close(4321, "bye"))
                message = await recorder.inbox.receive()
                assert (message["code"], message["reason"]) == (4321, "bye")
                assert ("wire", wsraw.CLOSE) not in [entry[:2] for entry in recorder.log]
                await recorder.app_send({"type": "websocket.close", "code": 4321, "reason": "ok"})
            replies = [e for e in recorder.log if e[0] == "wire" and e[1] == wsraw.CLOSE]
            assert [wsraw.close_code(e[2]) for e in replies] == [4321]  # exactly one reply
            disconnect = recorder.log.index(("app", "websocket.disconnect", 4321))
            assert disconnect < recorder.log.index(replies[0])
            assert recorder.log[-1] == "StreamClosed"


async def test_a_silent_app_does_not_keep_the_client_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(TIMEOUT + hyper_ext.CLOSE_REPLY_TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            await stream.handle(client_close(1000, ""))  # returns after CLOSE_REPLY_TIMEOUT
            assert [wsraw.close_code(e[2]) for e in recorder.log if e[:2] == ("wire", 8)] == [1000]


async def test_write_sends_preframed_bytes_as_one_write() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            writes: list[bytes] = []
            original = recorder.protocol_send

            async def counting_send(event: Event) -> None:
                if isinstance(event, Data):
                    writes.append(event.data)
                await original(event)

            stream.send = counting_send
            data = framing.text_frame("a") + framing.PING_FRAME + framing.text_frame("привет")
            await stream.app_send(cast(Any, {"type": hyper_ext.WRITE, "data": data}))
            assert writes == [data]
            assert server_frames(writes[0]) == [
                (wsraw.TEXT, b"a"),
                (wsraw.PING, b"qakit"),
                (wsraw.TEXT, "привет".encode()),
            ]


async def test_nothing_is_written_once_the_client_started_closing() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.handle, client_close(1000, ""))
                await recorder.inbox.receive()  # the disconnect: the client is closing
                await stream.app_send(
                    cast(Any, {"type": hyper_ext.WRITE, "data": framing.text_frame("late")})
                )
                await recorder.app_send({"type": "websocket.close", "code": 1000})
            assert [e[1] for e in recorder.log if e[0] == "wire"] == [wsraw.CLOSE]


async def test_pong_comes_back_to_the_app() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            await stream.handle(Data(stream_id=1, data=wsraw.encode_frame(wsraw.PONG, b"qakit")))
            assert (await recorder.inbox.receive())["type"] == hyper_ext.PONG


async def test_permessage_deflate_is_declined() -> None:
    offer = [
        *HANDSHAKE,
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    ]
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(headers=offer) as (stream, recorder):
            response = recorder.responses[0]
            assert response.status_code == 101
            assert b"sec-websocket-extensions" not in dict(response.headers)
            await stream.app_send(
                cast(Any, {"type": hyper_ext.WRITE, "data": framing.text_frame("plain")})
            )
            assert ("wire", wsraw.TEXT, b"plain") in recorder.log


async def test_abort_closes_the_stream_without_waiting_for_the_app() -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            await stream.app_send(cast(Any, {"type": hyper_ext.ABORT}))
            assert recorder.log[-1] == "StreamClosed"
            assert stream.closed
            # the app no longer listens: hypercorn's reader must never block on its queue
            for _ in range(50):  # far past the app queue's bound (max_app_queue_size 10)
                await stream.handle(Data(stream_id=1, data=wsraw.encode_frame(wsraw.TEXT, b"x")))


# --- RFC 6455 edges: protocol violations, wrong versions, WebSockets over HTTP/2 -------------


def reserved_bit_set(payload: bytes) -> bytes:
    frame = bytearray(wsraw.encode_frame(wsraw.TEXT, payload))
    frame[0] |= 0x40  # RSV1, with no extension negotiated
    return bytes(frame)


@pytest.mark.parametrize(
    ("path", "frame", "code"),
    [
        ("/ws", reserved_bit_set(b"{}"), 1002),  # a protocol violation
        ("/ws/echo", wsraw.encode_frame(wsraw.TEXT, b'{"a":"\xff"}'), 1007),  # text not UTF-8
    ],
)
async def test_a_broken_frame_gets_a_close_frame_that_says_why(
    path: str, frame: bytes, code: int
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            raw = await wsraw.open_raw(server.port, path)
            if path == "/ws":
                assert (await raw.read_frame())[0] == wsraw.TEXT  # the hello comes first
            await raw.stream.send_all(frame)
            frames = await raw.read_frames_until_eof()
    assert [(opcode, wsraw.close_code(payload)) for opcode, payload in frames] == [
        (wsraw.CLOSE, code)
    ]


async def test_a_wrong_websocket_version_is_400_with_the_version_header_and_a_reason() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            await stream.send_all(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: "
                b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
            )
            answer = b""
            while not answer.endswith(b"}"):  # the JSON body ends the response
                chunk = await stream.receive_some(65536)
                assert chunk, answer
                answer += chunk
            await stream.aclose()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"sec-websocket-version: 13" in head.lower()
    detail = json.loads(body)
    assert detail["error"] == "invalid_handshake"
    assert "Sec-WebSocket-Version" in detail["detail"]


async def test_websockets_over_http2_are_refused_with_a_reason() -> None:
    """RFC 8441 (extended CONNECT over h2c): not served; refused with 400 and why."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            connection.initiate_connection()
            await stream.send_all(connection.data_to_send())
            stream_id = connection.get_next_available_stream_id()
            status, body, sent = None, b"", False
            while status is None or not body:
                data = await stream.receive_some(65536)
                assert data, "the server closed the connection"
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RemoteSettingsChanged) and not sent:
                        connection.send_headers(
                            stream_id,
                            [
                                (":method", "CONNECT"),
                                (":protocol", "websocket"),
                                (":scheme", "http"),
                                (":path", "/ws"),
                                (":authority", "localhost"),
                                ("sec-websocket-version", "13"),
                            ],
                        )
                        sent = True
                    elif isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                await stream.send_all(connection.data_to_send())
            await stream.aclose()
    assert status == b"400"
    assert json.loads(body)["error"] == "http2_websocket_not_supported"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.0\r\n\r\n",
        # answered (404) before its body was read: the connection cannot be reused
        b'POST /nowhere HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"partial',
    ],
    ids=["connection-close", "http-1.0", "unread-body"],
)
async def test_the_server_closes_a_connection_it_will_not_reuse(request_bytes: bytes) -> None:
    """Every one of 40 connections is closed by the server right after its response (before
    the fix about half stayed open until the client left: quart-trio cancelled hypercorn's
    close; hyper_ext.QakitTCPServer._close_shielded)."""
    ends: list[bytes] = []

    async def one(port: int) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(request_bytes)
        answer = b""
        while chunk := await stream.receive_some(65536):  # until the server closes
            answer += chunk
        ends.append(answer[:12])
        await stream.aclose()

    with trio.fail_after(TIMEOUT):
        async with running_server() as server, trio.open_nursery() as nursery:
            for _ in range(40):
                nursery.start_soon(one, server.port)
    assert len(ends) == 40
    assert {end[:9] for end in ends} == {b"HTTP/1.1 "}


# --- installing the extension: launchers only, and only over hypercorn's own classes ----------


def test_importing_every_module_and_building_the_app_replaces_nothing() -> None:
    """In a fresh interpreter: every module imported (launchers aside) and the app built, and
    hypercorn still has its own classes; `server.serve` (a launcher) is what installs them."""
    code = (
        "import importlib, pkgutil, hypercorn.protocol.h11 as h11, hypercorn.trio.run as run\n"
        "import qakit_trio\n"
        "from hypercorn.protocol.ws_stream import WSStream\n"
        "from hypercorn.trio.tcp_server import TCPServer\n"
        "for m in pkgutil.walk_packages(qakit_trio.__path__, 'qakit_trio.'):\n"
        "    if m.name not in ('qakit_trio.asgi', 'qakit_trio.__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from qakit_trio.app import create_app\n"
        "from qakit_trio.config import Settings\n"
        "create_app(Settings())\n"
        "assert h11.WSStream is WSStream and run.TCPServer is TCPServer, 'replaced'\n"
        "from qakit_trio.transport import hyper_ext\n"
        "hyper_ext.install()\n"
        "assert hyper_ext.installed()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_install_refuses_to_extend_what_is_not_hypercorns_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class SomeoneElses:
        pass

    monkeypatch.setattr(hypercorn.protocol.h11, "WSStream", SomeoneElses)
    monkeypatch.setattr(hypercorn.trio.run, "TCPServer", hypercorn.trio.tcp_server.TCPServer)
    with pytest.raises(hyper_ext.ExtensionError, match=r"hypercorn\.protocol\.h11\.WSStream is"):
        hyper_ext.install()
    untouched = getattr(hypercorn.trio.run, "TCPServer")  # noqa: B009  (not exported)
    assert untouched is hypercorn.trio.tcp_server.TCPServer


def test_quart_and_quart_trio_versions_are_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    quart_ws.check_versions()  # the pinned ones: fine
    monkeypatch.setattr(quart_ws, "version", lambda package: "9.9")
    with pytest.raises(RuntimeError, match=r"quart 0\.22\.0 internals, but quart 9\.9"):
        quart_ws.check_versions()


@pytest.mark.parametrize("package", ["hypercorn", "wsproto"])
def test_install_refuses_other_versions_of_what_it_reaches_into(
    monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    monkeypatch.setattr(
        hyper_ext, "version", lambda name: "0.0.1" if name == package else metadata.version(name)
    )
    with pytest.raises(hyper_ext.ExtensionError, match=rf"{package} 0\.0\.1 is installed"):
        hyper_ext.install()
