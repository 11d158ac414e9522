"""`qakit-trio --workers 2` as real processes against the real Kafka and PostgreSQL: both workers
serve one port (the kernel spreads the connections: which process holds each one is read from
/proc), a worker killed with SIGKILL is logged and restarted, SIGTERM to the parent closes every
client with 1001 and ends every process within the shutdown budget, and workers whose parent
was killed stop by themselves. (The unit tests of workers.py: tests/test_workers.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import Endpoint, WebSocketConnection, open_websocket_url

from qakit_trio.config import SHUTDOWN_MARGIN
from qakit_trio.log_fields import FIELDS

from .support.helpers import read_until_closed, receive_json, send_json
from .support.timeouts import SERVICE_TIMEOUT

pytestmark = pytest.mark.system  # the stand's processes, Kafka and PostgreSQL

SHUTDOWN_TIMEOUT = 3.0
# a worker stops within QAKIT_SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN; the parent reaps it at once
BUDGET = SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN
SLACK = 2.0  # a loaded two-core machine: process exits and pipe reads


@dataclass
class Stand:
    """The parent's process and every JSON line the parent and its workers wrote."""

    process: trio.Process
    base: str  # the parent's instance id
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: list[bytes] = field(default_factory=list)  # lines that are not one JSON object
    _grew: list[trio.Event] = field(default_factory=lambda: [trio.Event()])

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        while not done(self.records):
            await self._grew[0].wait()

    def said(self, message: str, **fields: object) -> list[dict[str, Any]]:
        return [
            record
            for record in self.records
            if record.get("message", "").startswith(message)
            and all(value_of(record, name) == str(value) for name, value in fields.items())
        ]

    def pids(self) -> dict[str, int]:
        """Worker instance id -> its pid now (the parent's "worker started" lines)."""
        started = [
            (value_of(r, "instance"), value_of(r, "pid")) for r in self.said("worker started")
        ]
        return {str(worker): int(pid) for worker, pid in started if pid is not None}


def value_of(record: dict[str, Any], name: str) -> str | None:
    """A field of a line, by our name, as text (log_fields.py: where each name is written)."""
    value = record.get(FIELDS[name][0] if name in FIELDS else f"qakit.{name}")
    return None if value is None else str(value)


@asynccontextmanager
async def workers_stand(env: dict[str, str]) -> AsyncIterator[Stand]:
    """`qakit-trio --workers 2 --bind 127.0.0.1:0`; every process killed on the way out."""
    base = f"wtest-{uuid.uuid4().hex[:6]}"
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "qakit_trio", "--workers", "2", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "QAKIT_INSTANCE_ID": base, **env},
    )
    assert process.stdout is not None
    stand = Stand(process, base)

    async def drain(stdout: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for chunk in stdout:  # until the parent and every worker are gone
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                try:
                    stand.records.append(json.loads(raw))
                except ValueError:
                    if b'{"@timestamp"' in raw:  # (text on stderr is not a log line)
                        stand.torn.append(raw)  # two processes' lines mixed up
            stand._grew[0].set()
            stand._grew[0] = trio.Event()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, process.stdout)
            yield stand
            nursery.cancel_scope.cancel()
    finally:  # the parent first (it would start workers again), then its workers left
        process.kill()
        kill_workers_left(stand)
        with trio.CancelScope(shield=True):
            await process.wait()


def kill_workers_left(stand: Stand) -> None:
    """SIGKILL each worker still running (its command line names the parent: not a process
    that took the number of one that ended)."""
    mark = f"--parent-pid={stand.process.pid}".encode()
    for pid in stand.pids().values():
        with suppress(OSError):  # (gone already)
            if mark in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                os.kill(pid, signal.SIGKILL)


def cluster_env(kafka_bootstrap: str, database_url: str) -> dict[str, str]:
    return {
        "QAKIT_CLUSTER": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "QAKIT_CLUSTER_TOPIC": f"qakit_bus_{uuid.uuid4().hex[:8]}",  # the test's own bus
        "QAKIT_PING_INTERVAL": "0",
        "QAKIT_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "QAKIT_CLOSE_TIMEOUT": "1",
        "QAKIT_KAFKA_FLUSH_TIMEOUT": "1",
    }


async def serving(stand: Stand, workers: int) -> int:
    """Wait until `workers` workers are ready; the port they share."""
    await stand.wait_for(lambda _: len(stand.said("ready")) >= workers)
    ports = {url.rsplit(":", 1)[1] for r in stand.said("ready") for url in r["qakit.urls.portal"]}
    assert len(ports) == 1, ports
    return int(ports.pop().rstrip("/"))


def holder(server_port: int, client_port: int, pids: Iterable[int]) -> int | None:
    """Which of `pids` holds the server's end of the connection from `client_port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            columns = row.split()
            local, remote = (int(end.rsplit(":", 1)[1], 16) for end in columns[1:3])
            if (local, remote) == (server_port, client_port):
                inodes.add(f"socket:[{columns[9]}]")
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) in inodes:
                    return pid
            except OSError:
                continue
    return None


async def clients(
    stack: AsyncExitStack, port: int, pids: Iterable[int], count: int
) -> dict[int, list[WebSocketConnection]]:
    """`count` clients on /ws, grouped by the worker that accepted each."""
    held: dict[int, list[WebSocketConnection]] = {}
    for _ in range(count):
        ws = await stack.enter_async_context(open_websocket_url(f"ws://127.0.0.1:{port}/ws"))
        assert (await receive_json(ws))["type"] == "system"
        assert isinstance(ws.local, Endpoint)
        pid = holder(port, ws.local.port, pids)
        assert pid is not None
        held.setdefault(pid, []).append(ws)
    return held


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie no longer runs (an orphan's, until init reaps it)


async def test_two_workers_share_the_port_restart_after_a_kill_and_stop_on_sigterm(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            workers_stand(cluster_env(kafka_bootstrap, database_url)) as stand,
            AsyncExitStack() as stack,
        ):
            port = await serving(stand, 2)
            first, base = stand.pids(), stand.base
            assert sorted(first) == [f"{stand.base}-w1", f"{stand.base}-w2"]
            # both workers answer on the one port (16 connections: both get some, but for a
            # chance of 2 in 65,536)
            held = await clients(stack, port, first.values(), 16)
            assert set(held) == set(first.values())
            instances = set()
            for _ in range(16):
                async with httpx.AsyncClient() as http:  # a new connection each time
                    health = (await http.get(f"http://127.0.0.1:{port}/health")).json()
                instances.add(health.get("instance"))
            assert instances == set(first)  # /health names the instance that answered
            # members of one cluster: a broadcast on one worker reaches a client of the other
            one, other = (group[0] for group in held.values())
            await send_json(one, {"action": "broadcast", "payload": {"message": base}})
            while base not in str(await other.get_message()):
                pass

            # a worker killed with SIGKILL: its clients are cut, it is logged and restarted
            victim = f"{stand.base}-w1"
            os.kill(first[victim], signal.SIGKILL)
            for ws in held.pop(first[victim]):
                assert (await read_until_closed(ws)).code == 1006
            await stand.wait_for(lambda _: stand.pids()[victim] != first[victim])
            [crash] = stand.said("worker exited; restarting it")
            assert crash["log.level"] == "error"
            assert value_of(crash, "instance") == victim
            assert value_of(crash, "pid") == str(first[victim])
            assert value_of(crash, "signal") == "SIGKILL"
            assert value_of(crash, "pause_s") == "0.5"
            await serving(stand, 3)
            now = stand.pids()
            assert now[f"{stand.base}-w2"] == first[f"{stand.base}-w2"]  # the other served on
            more = await clients(stack, port, now.values(), 16)
            assert set(more) == set(now.values())  # the new one serves the same port

            # SIGTERM to the parent: 1001 to every client, every process gone in the budget
            stand.process.send_signal(signal.SIGTERM)
            with trio.fail_after(BUDGET + SLACK):
                for ws in [ws for group in [*held.values(), *more.values()] for ws in group]:
                    closed = await read_until_closed(ws)
                    assert (closed.code, closed.reason) == (1001, "server shutting down")
                assert await stand.process.wait() == 0
            assert all(gone(pid) for pid in now.values())
            await stand.wait_for(lambda _: bool(stand.said("stopped")))
            assert len(stand.said("worker stopped")) == 2
            assert not stand.said("worker did not stop")
        # three processes share one stdout: each line is written whole (logs.py's LineWriter:
        # a write of at most PIPE_BUF bytes to a pipe is atomic), never two lines mixed
        assert stand.torn == []


async def test_workers_whose_parent_was_killed_stop_by_themselves(
    kafka_bootstrap: str, database_url: str
) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            workers_stand(cluster_env(kafka_bootstrap, database_url)) as stand,
            AsyncExitStack() as stack,
        ):
            port = await serving(stand, 2)
            pids = stand.pids()
            held = await clients(stack, port, pids.values(), 4)
            stand.process.kill()
            with trio.fail_after(BUDGET + SLACK):
                for ws in [ws for group in held.values() for ws in group]:
                    assert (await read_until_closed(ws)).code == 1001
                await stand.wait_for(lambda _: len(stand.said("the --workers parent")) == 2)
                # not our children: no event tells their end, so their state is polled
                while not all(gone(pid) for pid in pids.values()):  # noqa: ASYNC110
                    await trio.sleep(0.05)
