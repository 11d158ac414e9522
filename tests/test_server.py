"""Launching and stopping: the `qakit-trio` CLI, `hypercorn qakit_trio.asgi:app`, shutdown.
A test that starts the stand as a process of its own is in the system tier (tests/conftest.py)."""

from __future__ import annotations

import gc
import itertools
import json
import os
import signal
import socket
import sys

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from qakit_trio.server import tune_gc

from .support import wsraw
from .support.helpers import (
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
    server_process,
)
from .support.timeouts import TIMEOUT

CLI = [sys.executable, "-m", "qakit_trio"]
HYPERCORN = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
QUIET = {"QAKIT_PING_INTERVAL": "0"}


async def test_graceful_shutdown_sends_1001_to_every_client() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "a") as (first, _),
            connected(server, "b") as (second, _),
        ):
            server.stop.set()
            for ws in (first, second):
                closed = await read_until_closed(ws)
                assert (closed.code, closed.reason) == (1001, "server shutting down")


async def make_stuck_client(port: int) -> socket.socket:
    """A client that sends echo requests and never reads, until the server stops reading too."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.sendall(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    raw.setblocking(False)
    frame = wsraw.encode_frame(
        wsraw.TEXT, json.dumps({"action": "echo", "payload": {"pad": "x" * 30_000}}).encode()
    )
    pending = b""
    while True:  # until the kernel refuses more: the server has stopped reading us
        pending = pending or frame
        try:
            pending = pending[raw.send(pending) :]
        except BlockingIOError:
            return raw
        await trio.lowlevel.checkpoint()


@pytest.mark.system
@pytest.mark.fast_path_only("dropping a stuck client needs the fast path's abort")
async def test_cli_sigterm_closes_1001_and_exits_despite_a_stuck_client() -> None:
    env = {
        **QUIET,
        "QAKIT_OUTBOX_SIZE": "8",
        "QAKIT_CLOSE_TIMEOUT": "1",
        "QAKIT_SHUTDOWN_TIMEOUT": "3",
    }
    with trio.fail_after(TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], env) as server:
            async with open_websocket_url(f"{server.ws}/ws") as good:
                await receive_json(good)
                port = int(server.urls[0].rsplit(":", 1)[1])
                stuck = await make_stuck_client(port)
                server.process.send_signal(signal.SIGTERM)
                assert (await read_until_closed(good)).code == 1001
            with trio.fail_after(3 + 2 + 2):  # shutdown timeout + backstop margin + slack
                assert await server.process.wait() == 0
            stuck.close()
        assert any("close handshake timed out" in line for line in server.lines)


@pytest.mark.system
async def test_cli_serves_several_binds() -> None:
    with trio.fail_after(TIMEOUT):
        args = [*CLI, "--bind", "127.0.0.1:0", "--bind", "127.0.0.1:0"]
        async with server_process(args, QUIET, binds=2) as server:
            assert len(set(server.urls)) == 2
            for url in server.urls:
                async with open_websocket_url(url.replace("http", "ws") + "/ws") as ws:
                    assert (await receive_json(ws))["type"] == "system"
            server.process.send_signal(signal.SIGINT)
            assert await server.process.wait() == 0


@pytest.mark.system
@pytest.mark.fast_path_only(
    "the hypercorn launch form: hypercorn's shutdown reaches the app only through our extension"
)
async def test_hypercorn_cli_serves_the_same_app_configured_from_env() -> None:
    env = {**QUIET, "WS_DEFAULT_CHANNEL": "from-env", "QAKIT_MAX_MESSAGE_SIZE": "1000"}
    args = [*HYPERCORN, "--bind", "127.0.0.1:0", "qakit_trio.asgi:app"]
    with trio.fail_after(TIMEOUT):
        async with server_process(args, env) as server:
            async with httpx.AsyncClient(base_url=server.urls[0]) as http:
                assert (await http.get("/health")).json()["fast_path"] is True
            async with open_websocket_url(f"{server.ws}/ws") as ws:
                assert (await receive_json(ws))["channel"] == "from-env"
                frames = await request(ws, {"action": "echo", "request_id": 1})
                assert [f["type"] for f in frames] == ["ack", "echo", "event"]
                # hypercorn's own limit is 16 MiB here: the app enforces ours (1009)
                await ws.send_message(json.dumps({"action": "echo", "pad": "x" * 1000}))
                assert (await read_until_closed(ws)).code == 1009
            async with open_websocket_url(f"{server.ws}/ws") as ws:
                await receive_json(ws)
                server.process.send_signal(signal.SIGTERM)  # to hypercorn's parent process
                assert (await read_until_closed(ws)).code == 1001
            assert await server.process.wait() == 0
        output = "\n".join(server.lines)
        assert "Traceback" not in output  # hypercorn's own log lines format too
        assert "Logging error" not in output


@pytest.mark.system
@pytest.mark.parametrize("command", [CLI, [*HYPERCORN, "qakit_trio.asgi:app"]])
async def test_bad_setting_stops_startup_naming_the_variable(command: list[str]) -> None:
    with trio.fail_after(TIMEOUT):
        result = await trio.run_process(
            [*command, "--bind", "127.0.0.1:0"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, "QAKIT_OUTBOX_SIZE": "lots"},
        )
    output = (result.stdout + result.stderr).decode()
    assert "configuration error: QAKIT_OUTBOX_SIZE: 'lots' is not a whole number" in output
    assert "Running on" not in output
    if command is CLI:  # hypercorn's parent exits 0 even when its worker fails to start
        assert result.returncode == 2


@pytest.mark.system
async def test_a_stand_that_exits_before_serving_fails_the_test_at_once() -> None:
    """The suite's own harness (support/helpers.server_process): a stand that dies at start-up
    is reported with its exit code and last lines, not waited for until the test's timeout."""
    with (
        trio.fail_after(TIMEOUT),
        pytest.RaisesGroup(
            pytest.RaisesExc(
                AssertionError,
                match=r"ended before serving \(exit 2\):\n.*QAKIT_OUTBOX_SIZE: "
                r"'lots' is not a whole number",
            ),
            flatten_subgroups=True,
        ),
    ):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], {"QAKIT_OUTBOX_SIZE": "lots"}):
            pass


@pytest.mark.system
@pytest.mark.parametrize(
    "command", [CLI, [*HYPERCORN, "qakit_trio.asgi:app"]], ids=["cli", "hypercorn"]
)
async def test_both_launchers_serve_both_protocols_on_each_path_and_stop(
    command: list[str], server_path: str
) -> None:
    """On each path (server_process passes QAKIT_FAST_PATH; with 0 no hypercorn class is
    replaced): the same protocol on /ws and /ws/orders, and a clean exit on SIGTERM."""
    args = [*command, "--bind", "127.0.0.1:0"]
    with trio.fail_after(TIMEOUT):
        async with server_process(args, QUIET) as server:
            async with httpx.AsyncClient(base_url=server.urls[0]) as http:
                health = (await http.get("/health")).json()
                assert health["fast_path"] is (server_path == "fast")
            async with open_websocket_url(f"{server.ws}/ws?channel=plain") as ws:
                assert (await receive_json(ws))["channel"] == "plain"
                frames = await request(
                    ws, {"action": "broadcast", "request_id": "b", "payload": {"message": "hi"}}
                )
                assert [f["type"] for f in frames] == ["ack", "message", "event"]
            async with open_websocket_url(f"{server.ws}/ws/orders") as legacy:
                await legacy.send_message(
                    json.dumps({"action": "create_order", "customer": "Анна"})
                )
                assert (await receive_json(legacy))["type"] == "result"
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
        output = "\n".join(server.lines)
        assert "Traceback" not in output


def test_tune_gc_takes_the_middle_generation_every_other_time_and_full_ones_as_before() -> None:
    """Every other collection takes the middle generation too (a connect storm's objects are
    walked 1.5 times on average, not ~2: docs/send-path.md), and a full one comes after as
    many collections in all as with (10000, 10, 500): 500 x (10 + 1), ~6,000."""
    saved = gc.get_threshold()
    started: list[int] = []  # the generation of each automatic collection

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    try:
        tune_gc()
        young, middle, full = gc.get_threshold()
        gc.callbacks.append(record)
        kept: list[list[int]] = [[] for _ in range(7 * young)]  # they survive: ~7 collections
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*saved)
        gc.unfreeze()
    assert len(kept) == 7 * young
    assert len(started) >= 5
    assert set(started) <= {0, 1}  # no full collection
    assert all(a != b for a, b in itertools.pairwise(started))  # young, both, young...
    assert young >= 10_000
    assert middle == 0
    assert 2 * full == pytest.approx(500 * (10 + 1), rel=0.1)
