"""QakitTCPServer.run on TLS (transport/tcp_server.py): the branch of hypercorn's `run` that
ours copies (TLS told by `isinstance`, not by a caught AttributeError). A failed TLS handshake
ends the connection; wss over HTTP/1.1 runs a WebSocket to its close; ALPN h2 serves HTTP/2.
The stand's CLI serves plain TCP; `hypercorn qakit_trio.asgi:app --certfile ...` serves TLS
with the same classes. The certificate is made here, self-signed, with `openssl`."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import pytest
import trio
from hypercorn.config import Config

from qakit_trio import server
from qakit_trio.config import Settings

from ..support import wsraw
from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*request, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def tls(monkeypatch: pytest.MonkeyPatch, certificate: tuple[str, str]) -> None:
    build = server.hypercorn_config

    def with_tls(settings: Settings, binds: Any) -> Config:
        config = build(settings, binds)
        config.certfile, config.keyfile = certificate
        config.ssl_handshake_timeout = 1
        return config

    monkeypatch.setattr(server, "hypercorn_config", with_tls)


def client_context(alpn: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # (self-signed)
    context.set_alpn_protocols([alpn])
    return context


async def tls_stream(port: int, alpn: str) -> trio.SSLStream[trio.SocketStream]:
    raw = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(raw, client_context(alpn), server_hostname="localhost")
    await stream.do_handshake()
    return stream


@pytest.mark.usefixtures("tls")
async def test_a_failed_tls_handshake_ends_the_connection() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True) as running:
            stream = await trio.open_tcp_stream("127.0.0.1", running.port)
            async with stream:
                await stream.send_all(b"GET / HTTP/1.1\r\n\r\n")  # not a TLS hello
                try:
                    data = await stream.receive_some(100)
                except trio.BrokenResourceError:  # (a reset: ended too)
                    data = b""
                assert not data.startswith(b"HTTP/")  # no plain HTTP answer on a TLS port
                while data:  # the TLS alert, if any, then the end
                    data = await stream.receive_some(100)


@pytest.mark.usefixtures("tls")
async def test_wss_runs_a_websocket_to_its_close_and_alpn_h2_serves_http2() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True) as running:
            stream = await tls_stream(running.port, "http/1.1")
            client = wsraw.RawWebSocket(cast(trio.SocketStream, stream))  # (any byte stream)
            await client.handshake("/ws/echo")
            for number in range(3):
                await client.send_frame(wsraw.TEXT, b"hello %d" % number)
            for number in range(3):
                assert await client.read_frame() == (wsraw.TEXT, b"hello %d" % number)
            await client.send_frame(wsraw.CLOSE, (1000).to_bytes(2, "big"))
            opcode, payload = await client.read_frame()
            assert (opcode, wsraw.close_code(payload)) == (wsraw.CLOSE, 1000)
            await stream.aclose()

            h2_stream = await tls_stream(running.port, "h2")
            assert h2_stream.selected_alpn_protocol() == "h2"
            http2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            http2.initiate_connection()
            request = [(":method", "GET"), (":path", "/health"), (":scheme", "https")]
            http2.send_headers(1, [*request, (":authority", "localhost")], end_stream=True)
            await h2_stream.send_all(http2.data_to_send())
            status, ended = None, False
            while not ended:
                data = await h2_stream.receive_some(65536)
                assert data, "the server closed before the response ended"
                for event in http2.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    ended = ended or isinstance(event, h2.events.StreamEnded)
                await h2_stream.send_all(http2.data_to_send())
            assert status == b"200"
            await h2_stream.aclose()
