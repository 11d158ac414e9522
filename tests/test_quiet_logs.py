"""No ERROR line for an expected situation (issue 22, item 10): a shutdown with echo and
inspector clients open, and a stand at its descriptor limit (one WARNING per episode, with a
count, instead of ten ERROR tracebacks a second; no "Error in ASGI Framework" from a module
loaded on first use). Each against a stand in its own process, on both transport paths."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from .support.helpers import ServerProcess, read_until_closed, server_process
from .support.timeouts import TIMEOUT
from .test_server import CLI, QUIET

pytestmark = pytest.mark.system  # the stand as a process, at its descriptor limit


def errors(server: ServerProcess) -> list[str]:
    return [
        line
        for line in server.lines
        if '"log.level":"error"' in line or "Error in ASGI Framework" in line
    ]


async def test_a_shutdown_with_echo_and_inspector_clients_open_logs_no_error() -> None:
    """Each got its 1001; before, each one's close logged "Error in ASGI Framework"
    (RuntimeError: Cannot close websocket multiple times), once the 1001 had gone out and the
    client's answering close was answered again."""
    codes: list[tuple[str, int]] = []

    async def client(url: str, first: str, ready: trio.MemorySendChannel[None]) -> None:
        async with open_websocket_url(url) as ws:
            await ws.send_message(first)
            await ws.get_message()  # the echo, or what the inspector watches
            await ready.send(None)
            codes.append((url.rsplit("/", 1)[1], (await read_until_closed(ws)).code))

    with trio.fail_after(TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], QUIET) as server:
            # one message per client, all six in it at once: the channel cannot fill
            ready_send, ready_receive = trio.open_memory_channel[None](6)
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(client, f"{server.ws}/ws/echo", "hi", ready_send)
                    nursery.start_soon(
                        client, f"{server.ws}/ws/_inspect", '{"watch": {}}', ready_send
                    )
                for _ in range(6):
                    await ready_receive.receive()
                server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert sorted(codes) == [("_inspect", 1001)] * 3 + [("echo", 1001)] * 3
    assert errors(server) == []


LOW_LIMIT = 32  # the stand's RLIMIT_NOFILE: about 23 descriptors free once it is up
IDLE = 30  # connections that take them all (a few wait in the listen backlog)


LIMITED = ["prlimit", f"--nofile={LOW_LIMIT}", *CLI, "--bind", "127.0.0.1:0"]


@asynccontextmanager
async def at_its_limit(server: ServerProcess) -> AsyncIterator[trio.SocketStream]:
    """More connections to the stand (under LIMITED) than it has descriptors; yields once it
    is at its limit, with a connection it took (no request sent on it yet). On exit the
    connections close, and /health must answer again."""
    port = int(server.urls[0].rsplit(":", 1)[1])
    first = await trio.open_tcp_stream("127.0.0.1", port)
    idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(IDLE)]
    # at the limit now, and the stand says so (before the fix, with trio's ERROR line; now
    # with the INFO line that begins an episode)
    await server.wait_for_lines(lambda lines: any("EMFILE" in line for line in lines))
    yield first
    for stream in [first, *idle]:
        await stream.aclose()
    # (plain hypercorn closes an idle connection's socket at its keep-alive timeout, 5 s)
    async with httpx.AsyncClient(base_url=server.urls[0], timeout=10) as http:
        assert (await http.get("/health")).status_code == 200


async def test_a_request_at_the_descriptor_limit_is_answered() -> None:
    """The stand's first request, made while it is at its limit, is answered. It was a 500 and
    "Error in ASGI Framework" (again for every request until a descriptor was free):
    werkzeug's routing loaded the idna codec, a file, on first use."""
    with trio.fail_after(TIMEOUT):
        async with server_process(LIMITED, QUIET) as server, at_its_limit(server) as first:
            await first.send_all(
                b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while b"\r\n" not in answer:  # the status line (plain hypercorn may not close)
                chunk = await first.receive_some(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert errors(server) == []


async def test_an_episode_at_the_descriptor_limit_is_one_warning_with_a_count() -> None:
    """trio's failed accepts while the stand is at its limit are one WARNING once the episode
    is over, with how many there were, not an ERROR line with a traceback ("accept returned
    EMFILE") ten times a second."""
    with trio.fail_after(TIMEOUT):
        async with server_process(LIMITED, QUIET) as server:
            async with at_its_limit(server):
                pass
            with trio.move_on_after(5):  # reported 1 s (QUIET_AFTER) after the last failure
                await server.wait_for_lines(
                    lambda lines: any("accepting connections failed" in line for line in lines)
                )
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert errors(server) == []
    assert not [line for line in server.lines if "accept returned" in line]
    warnings = [json.loads(line) for line in server.lines if "accepting connections failed" in line]
    assert len(warnings) == 1, warnings
    assert (warnings[0]["log.level"], warnings[0]["qakit.why"]) == ("warning", "EMFILE")
    failed = re.search(r"failed (\d+) times", warnings[0]["message"])
    assert failed is not None
    assert int(failed[1]) >= 1
