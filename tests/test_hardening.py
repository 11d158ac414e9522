"""Issue 9's defects, each as the reproduction that failed before its fix: one bad frame must
never take the stand down, memory stays bounded, bursts never evict readers, shutdown ends."""

from __future__ import annotations

import io
import json
import logging
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
from trio_websocket import open_websocket_url

from qakit_trio import logs, supervisor
from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError

from .support import wsraw
from .support.helpers import (
    TEST_SETTINGS,
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
    send_json,
    server_process,
)
from .support.timeouts import LOAD_TIMEOUT, TIMEOUT
from .test_server import CLI, QUIET

LONE_SURROGATE = '{"action":["\\ud800"]}'  # valid UTF-8 on the wire; not Unicode once decoded


@contextmanager
def our_json_logs() -> Iterator[io.BytesIO]:
    """The service's own logging (as the CLI sets it up), into a strict UTF-8 stream."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    try:
        logs.setup_logging("INFO", stream)
        yield raw
    finally:
        logs.flush_logs()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logs._direct = None


async def test_a_lone_surrogate_frame_is_refused_and_every_service_task_keeps_running() -> None:
    with trio.fail_after(TIMEOUT), our_json_logs() as out:
        async with (
            running_server() as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
        ):
            await ws.send_message(LONE_SURROGATE)
            error = await receive_json(ws)
            assert (error["type"], error["error"], error["request_id"]) == (
                "error",
                "invalid_json",
                None,
            )
            assert "surrogate" in error["message"]
            # what the flusher does each round, with the frame's line waiting: nothing raises
            logs.hand_off_logs()
            health = (await http.get("/health")).json()
            assert health["status"] == "ok"
            restarts = {name: task["restarts"] for name, task in health["tasks"].items()}
            assert set(restarts.values()) == {0}
            assert set(restarts) >= {
                "log flusher",
                "keepalive",
                "slow-consumer watch",
                "order store",
                "kafka publisher",
            }  # (+ shutdown watch)
            assert (await http.post("/orders", json={"customer": "after"})).status_code == 200
            assert [f["type"] for f in await request(ws, {"action": "echo"})] == [
                "ack",
                "echo",
                "event",
            ]
        logs.flush_logs()
        lines = out.getvalue().decode("utf-8").splitlines()  # strict: every byte valid UTF-8
    assert any(json.loads(line)["message"] == "frame in" for line in lines)


@pytest.mark.parametrize(
    "text",
    [
        '{"action":"echo","payload":{"t":"\\udc00"},"request_id":"r"}',
        '{"action":"echo","request_id":"\\ud800"}',
        '{"\\ud800":1}',
        '{"action":"echo","payload":' + "[" * 100 + "]" * 100 + "}",
        '{"action":"echo","payload":' + "[" * 975 + "]" * 975 + "}",
        '{"action":"echo","payload":{"n":NaN}}',
    ],
)
async def test_unencodable_or_too_deep_input_is_invalid_json_on_ws(text: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            await ws.send_message(text)
            assert (await receive_json(ws))["error"] == "invalid_json"
            assert [f["type"] for f in await request(ws, {"action": "echo"})] == [
                "ack",
                "echo",
                "event",
            ]  # the connection stays open and serves


@pytest.mark.parametrize(
    "text",
    [
        '{"action":"create_order","customer":"\\ud800"}',
        '{"action":NaN}',
        '{"action":' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
async def test_the_legacy_door_applies_the_same_rule(text: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, open_websocket_url(f"{server.ws}/ws/orders") as ws:
            await ws.send_message(text)
            assert json.loads(await ws.get_message()) == {"type": "error", "error": "invalid_json"}
            await ws.send_message('{"action": "ping"}')
            assert json.loads(await ws.get_message()) == {"type": "pong"}


async def test_the_rest_door_applies_it_too_and_ids_are_ascii_digits(
    store_settings: dict[str, Any],
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            for body in (
                '{"customer":"\\ud800"}',
                '{"customer":' + "[" * 100_000 + "]" * 100_000 + "}",
                b'{"customer":"\xff"}',
                '{"customer":"a\\u0000b"}',
            ):
                answer = await http.post("/orders", content=body)
                assert answer.status_code == 422, (body[:40], answer.text)
                assert answer.json()["detail"][0]["type"] in ("json_invalid", "value_error")
            assert (await http.post("/orders", json={"customer": "Юля"})).status_code == 200
            for raw_id in ("1_0", " 1", "\u0661", "1.0"):  # U+0661: an Arabic-Indic 1
                refused = await http.get(f"/orders/{raw_id}")
                assert refused.status_code == 422, raw_id
                assert refused.json()["detail"][0]["type"] == "int_parsing"
            assert (await http.get("/orders/+1")).json()["customer"] == "Юля"  # as FastAPI
            assert (await http.get("/orders/1")).json()["customer"] == "Юля"
            assert [o["customer"] for o in (await http.get("/orders")).json()] == ["Юля"]


def crash_once(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> trio.Event:
    """Make `owner.name` raise the next time it is called (then behave again)."""
    crashed = trio.Event()
    original = getattr(owner, name)

    def once(*args: Any, **kwargs: Any) -> Any:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError(f"{name} fails on purpose")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, once)
    return crashed


async def test_a_task_down_makes_health_degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_FIRST", 60.0)
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await crash_once(monkeypatch, logs, "hand_off_logs").wait()
            await trio.lowlevel.checkpoint()  # the supervisor records the crash in its except block
            health = (await http.get("/health")).json()
            assert health["status"] == "degraded"
            assert health["tasks"]["log flusher"]["state"] == "restarting"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.system  # load: 40 MB of broadcasts
async def test_a_never_reader_under_40_mb_of_broadcasts_costs_little_and_is_dropped() -> None:
    message = "m" * 100_000
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(slow_consumer_timeout=1, close_timeout=1) as server,
            connected(server, "room") as (publisher, _),
            connected(server, "room") as (reader, _),
        ):
            never = await wsraw.open_raw(server.port, "/ws?channel=room", receive_buffer=4096)
            before, peak = rss_mib(), 0.0
            for n in range(400):
                frames = await request(
                    publisher,
                    {"action": "broadcast", "request_id": n, "payload": {"message": message}},
                )
                assert frames[1]["request_id"] == n
                got = await receive_json(reader)  # the reader keeps reading: gets every one
                assert (got["request_id"], len(got["message"])) == (n, len(message))
                peak = max(peak, rss_mib())
            assert frames[2]["extra"]["delivered"] == 2  # the never-reader was dropped
            assert peak - before < 64, (before, peak)
            assert "room" in server.app.services.hub.stats()
            del never


@pytest.mark.system  # load: 3000 broadcasts of 2 KB
async def test_a_burst_from_a_reading_publisher_evicts_nobody() -> None:
    """3000 pipelined broadcasts of 2 KB; publisher and subscriber both read all along."""
    count, message = 3000, "b" * 2000
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "room") as (publisher, _),
            connected(server, "room") as (subscriber, _),
        ):

            async def publish() -> None:
                for n in range(count):
                    await send_json(
                        publisher,
                        {"action": "broadcast", "request_id": n, "payload": {"message": message}},
                    )

            got_publisher: list[int] = []
            got_subscriber: list[int] = []

            async def read(ws: Any, into: list[int], until: str) -> None:
                while len(into) < count:
                    frame = await receive_json(ws)
                    if frame["type"] == until:
                        into.append(frame["request_id"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(publish)
                nursery.start_soon(read, publisher, got_publisher, "event")
                nursery.start_soon(read, subscriber, got_subscriber, "message")
            assert got_subscriber == list(range(count))  # all, in order, nobody evicted
            assert got_publisher == list(range(count))
            assert server.app.services.hub.stats() == {"room": 2}


# How long the client of the next test does not read: its replies back up in the stand, which
# then stops reading it (flow control). A length of the scenario, not a wait for something; far
# under the slow-consumer timeout, so that neither side may be evicted on a loaded machine.
NOT_READING = 2.0


@pytest.mark.system  # load: 3000 pipelined requests
async def test_a_client_that_pipelines_and_reads_later_loses_nothing() -> None:
    assert TEST_SETTINGS.slow_consumer_timeout >= 4 * NOT_READING  # the margin
    count = 3000
    with trio.fail_after(LOAD_TIMEOUT):
        async with running_server() as server:
            raw = await wsraw.open_raw(server.port, "/ws", receive_buffer=4096)
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            async with trio.open_nursery() as nursery:

                async def flood() -> None:
                    for n in range(count):
                        await raw.send_text(
                            json.dumps(
                                {"action": "echo", "request_id": n, "payload": {"pad": "p" * 200}}
                            )
                        )

                nursery.start_soon(flood)
                await trio.sleep(NOT_READING)  # the scenario: the client does not read yet
                events: list[int] = []
                while len(events) < count:
                    opcode, payload = await raw.read_frame()
                    assert opcode == wsraw.TEXT, (opcode, payload[:80])
                    frame = json.loads(payload)
                    if frame["type"] == "event":
                        events.append(frame["request_id"])
            assert events == list(range(count))


@pytest.mark.fast_path_only(
    "stock hypercorn disconnects the never-reader itself before our policy acts"
)
async def test_an_eviction_is_one_warning_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(slow_consumer_timeout=0.5, close_timeout=0.5) as server,
            connected(server, "room") as (publisher, _),
        ):
            # Only the never-reader can be stuck in a write for 0.5 s: the publisher reads each
            # reply (its own broadcast too) before it sends again, so its outbox holds one
            # broadcast at most, which the kernel takes at once, however loaded the machine.
            never = await wsraw.open_raw(server.port, "/ws?channel=room", receive_buffer=4096)
            while server.app.services.hub.stats()["room"] == 2:
                await request(
                    publisher, {"action": "broadcast", "payload": {"message": "x" * 60_000}}
                )
            del never
    evictions = [r for r in caplog.records if r.getMessage() == "slow consumer evicted"]
    assert [r.levelname for r in evictions] == ["WARNING"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


def test_the_shutdown_budget_is_checked_as_one_sum() -> None:
    with pytest.raises(ConfigError, match="one after the other"):
        load_settings(
            {
                "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
                "QAKIT_CLOSE_TIMEOUT": "4",
                "QAKIT_KAFKA_FLUSH_TIMEOUT": "3.5",
                "QAKIT_SHUTDOWN_TIMEOUT": "5",
            }
        )
    # the defaults fit: 2 + 3 + 1 < 5 + 2
    assert load_settings({"KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"}).shutdown_timeout == 5


def stalled_upload(port: int) -> socket.socket:
    """Starts a request body of 1 MB and sends no more of it: the request is never idle."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(
        b"POST /orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000000\r\n\r\n{"customer": "'
    )
    return client


def stalled_http_client(port: int) -> socket.socket:
    """Asks for a large response and never reads it."""
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.sendall(b"GET /orders HTTP/1.1\r\nHost: localhost\r\n\r\n")
    return client


@pytest.mark.system  # the stand as a process
@pytest.mark.fast_path_only(
    "dropping stalled connections needs the fast path's abort (PlainTransport has none)"
)
async def test_sigterm_exits_in_time_despite_stalled_echo_and_http_clients() -> None:
    env = {
        **QUIET,
        "QAKIT_CLOSE_TIMEOUT": "1",
        "QAKIT_SHUTDOWN_TIMEOUT": "2",
        "QAKIT_SLOW_CONSUMER_TIMEOUT": "60",
    }
    with trio.fail_after(LOAD_TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], env) as server:
            port = int(server.urls[0].rsplit(":", 1)[1])
            async with httpx.AsyncClient(base_url=server.urls[0]) as http:
                for _ in range(300):  # a GET /orders of several MiB
                    assert (
                        await http.post("/orders", json={"customer": "c" * 200})
                    ).status_code == 200
            http_client = stalled_http_client(port)
            upload = stalled_upload(port)
            echo = await wsraw.open_raw(port, "/ws/echo", receive_buffer=4096)
            while True:  # until the server stops taking our echoes: its writes are stuck
                with trio.move_on_after(1) as stuck:
                    await echo.send_text("e" * 50_000)
                if stuck.cancelled_caught:
                    break
            server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(2 + 2 + 2):  # shutdown timeout + backstop margin + slack
                assert await server.process.wait() == 0
            http_client.close()
            upload.close()
        # the unfinished upload is still open when the time is up: dropped at the socket (the
        # unread response is not: once the app is done with it, the connection is idle and the
        # keep-alive timer closes it at the shutdown's start, tests/transport/test_tcp_server.py)
        assert any("dropping the connections left" in line for line in server.lines)


@pytest.mark.system  # the stand as a process
@pytest.mark.fast_path_only(
    "dropping every connection at once needs the fast path's connection registry"
)
async def test_a_second_signal_exits_at_once() -> None:
    env = {**QUIET, "QAKIT_CLOSE_TIMEOUT": "20", "QAKIT_SHUTDOWN_TIMEOUT": "30"}
    with trio.fail_after(TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], env) as server:
            port = int(server.urls[0].rsplit(":", 1)[1])
            never = await wsraw.open_raw(port, "/ws", receive_buffer=4096)  # never answers 1001
            async with open_websocket_url(f"{server.ws}/ws") as good:
                await receive_json(good)
                server.process.send_signal(signal.SIGTERM)
                assert (await read_until_closed(good)).code == 1001
            server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(2):
                await server.process.wait()
            del never
        assert any("second signal" in line for line in server.lines)


def process_rss_and_fds(pid: int) -> tuple[float, int]:
    """A process's RSS in MiB and how many file descriptors it has open."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024, len(list(Path(f"/proc/{pid}/fd").iterdir()))
    raise AssertionError("no VmRSS")


@pytest.mark.system  # the stand as a process, flooded
@pytest.mark.fast_path_only("it waits for the fast path's own TCP-close log lines (QakitTCPServer)")
@pytest.mark.parametrize("path", ["/ws", "/ws/echo"])
async def test_flooders_that_vanish_leave_nothing_behind(path: str) -> None:
    """Four clients send 0.9 MB requests for 2 s without reading, then vanish (a reset), with
    pings off. Each is closed at once; /stats, the file descriptors and the memory come back
    (server.tune_malloc gives the memory back; before it, ~40 MiB stayed for good)."""
    big = json.dumps({"action": "echo", "payload": {"m": "x" * 900_000}})
    frame = wsraw.encode_frame(wsraw.TEXT, big.encode())

    async def flood(port: int) -> None:
        raw = await wsraw.open_raw(port, path, receive_buffer=4096)
        with trio.move_on_after(2):
            while True:
                await raw.stream.send_all(frame)
        raw.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        await raw.stream.aclose()  # a reset: the client is simply gone

    def closed(count: int) -> Any:  # TCP connections closed (their sockets too)
        return lambda lines: (
            sum('"message":"tcp connection closed"' in line for line in lines) >= count
        )

    with trio.fail_after(LOAD_TIMEOUT):
        async with server_process(
            [*CLI, "--bind", "127.0.0.1:0"], {**QUIET, "QAKIT_LOG_LEVEL": "DEBUG"}
        ) as server:
            port, pid = int(server.urls[0].rsplit(":", 1)[1]), server.process.pid
            async with open_websocket_url(f"{server.ws}{path}") as warm:  # warm up
                await warm.send_message(big)
                while len(await warm.get_message()) < 900_000:
                    pass
            await server.wait_for_lines(closed(1))
            before = process_rss_and_fds(pid)
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(flood, port)
            await server.wait_for_lines(closed(5))
            after = process_rss_and_fds(pid)
            async with httpx.AsyncClient(base_url=server.urls[0]) as http:
                stats = (await http.get("/stats")).json()
    assert stats["total_connections"] == 0
    assert after[1] <= before[1]  # no file descriptor kept
    assert after[0] - before[0] < 16, (before, after)  # MiB
