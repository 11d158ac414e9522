"""The compose stand's shape from real parts: Debian's HAProxy (apt-get install haproxy when
missing) in front of N qakit-trio processes, each a cluster member over the test's Kafka and
PostgreSQL (tests/cluster_system/; compose/haproxy/haproxy.cfg is the stand's own config).

`instances(n, env)` starts N `qakit-trio` processes at once on free ports, QAKIT_INSTANCE_ID
qakit-1 … qakit-N (with QAKIT_CLUSTER=kafka it returns once each has heard the others);
`cluster_env` is their shared environment (QAKIT_CLUSTER=kafka or off, a bus topic of the
test's own, one DATABASE_URL, one Kafka). `balancer(instances)` starts HAProxy on a free port
with a generated config (`option httpchk GET /health`, `timeout tunnel 1h`, `X-Served-By`
naming the instance on every answer, the WebSocket upgrade's too) and a stats socket, returns
once every instance has passed a health check, and stops it at the end.
"""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from .helpers import ServerProcess, server_process
from .pg import free_port, installed

CLI = [sys.executable, "-m", "qakit_trio"]
BALANCES = ("roundrobin", "leastconn")
CHECK_INTERVAL_MS = 300  # a health check every 0.3 s: a dead instance is out after FALL of them
FALL = 2
# a check times out after the interval too: a dead instance is out within (FALL + 1)
# intervals, and a second for a loaded machine
DOWN_WITHIN = (FALL + 1) * CHECK_INTERVAL_MS / 1000 + 1.0
POLL = 0.05  # s between two looks at a process with no event to wait on (stats, /health)
STOP_TIMEOUT = 10.0  # s for HAProxy to stop at SIGUSR1 (its hard-stop-after is 5 s)
SERVED_BY = "x-served-by"  # the response header that names the instance (compose's too)


def cluster_env(database_url: str, kafka_bootstrap: str, cluster: bool = True) -> dict[str, str]:
    """What every instance of one test shares: the database, Kafka, a bus topic and event
    topics of the test's own; pings off (trio-websocket issue 184, helpers.TEST_SETTINGS)."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "QAKIT_CLUSTER": "kafka" if cluster else "off",
        "QAKIT_CLUSTER_TOPIC": f"qakit_bus_{suffix}",
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_WS_TOPIC": f"ws_events_{suffix}",
        "KAFKA_ORDER_TOPIC": f"order_events_{suffix}",
        "QAKIT_PING_INTERVAL": "0",
    }


@dataclass(frozen=True)
class Instance:
    id: str  # QAKIT_INSTANCE_ID, and its server's name in HAProxy
    server: ServerProcess

    @property
    def url(self) -> str:
        return self.server.urls[0]

    def kill(self) -> None:
        """SIGKILL: no close frame, no leave, no last heartbeat."""
        self.server.process.kill()


@asynccontextmanager
async def instances(count: int, env: dict[str, str]) -> AsyncIterator[list[Instance]]:
    """`count` qakit-trio processes started at once (qakit-1 …), each on 127.0.0.1:<free>."""

    async def hold(name: str, *, task_status: trio.TaskStatus[Instance]) -> None:
        args = [*CLI, "--bind", "127.0.0.1:0"]
        async with server_process(args, {**env, "QAKIT_INSTANCE_ID": name}) as server:
            task_status.started(Instance(name, server))
            await trio.sleep_forever()

    started: dict[str, Instance] = {}

    async def start(nursery: trio.Nursery, name: str) -> None:
        started[name] = await nursery.start(hold, name)

    names = [f"qakit-{number}" for number in range(1, count + 1)]
    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as starting:
            for name in names:
                starting.start_soon(start, nursery, name)
        stands = [started[name] for name in names]
        try:
            if env.get("QAKIT_CLUSTER") == "kafka":
                await formed(stands)
            yield stands
        except BaseException as error:  # noted, and raised again
            error.add_note(kept({stand.id: stand.server.lines for stand in stands}))
            raise
        nursery.cancel_scope.cancel()


def kept(logs: dict[str, list[str]]) -> str:
    """The processes' logs, written where a failed test's reader can open them."""
    folder = Path(tempfile.mkdtemp(prefix="qakit-cluster-logs-"))
    for name, lines in logs.items():
        (folder / f"{name}.log").write_text("\n".join(lines) + "\n")
    return f"the logs of {', '.join(logs)}: {folder}"


async def formed(stands: list[Instance]) -> None:
    """Until every instance has heard every other one (/health's `cluster.others`): a test of
    presence and /stats starts from a formed cluster, every instance's counts known."""
    async with httpx.AsyncClient() as http:

        async def heard(stand: Instance) -> set[str]:
            return set((await http.get(f"{stand.url}/health")).json()["cluster"]["others"])

        for stand in stands:
            others = {other.id for other in stands} - {stand.id}
            while others - await heard(stand):  # noqa: ASYNC110  heartbeats: no event of ours
                await trio.sleep(POLL)


def config(port: int, stats: Path, backends: dict[str, str], balance: str) -> str:
    """HAProxy's config: `backends` is {instance id: http://HOST:PORT}."""
    assert balance in BALANCES, balance
    servers = "".join(
        f"    server {name} {url.removeprefix('http://')}\n" for name, url in backends.items()
    )
    return f"""global
    log stdout format raw local0 info
    stats socket {stats} mode 600 level admin
    hard-stop-after 5s

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout http-request 10s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    retries 3
    option redispatch 1

frontend stand
    bind 127.0.0.1:{port}
    default_backend qakit

backend qakit
    balance {balance}
    option httpchk GET /health
    http-check send ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    http-response set-header X-Served-By %[srv_name]
    default-server check inter {CHECK_INTERVAL_MS}ms fall {FALL} rise 1
{servers}"""


@dataclass(frozen=True)
class ServerState:
    """One instance as HAProxy sees it (a row of `show stat`)."""

    status: str  # UP, DOWN, "UP 1/2" (going down), MAINT, ...
    check: str  # the last check's result: L7OK, L4CON (refused), L7STS (a bad status), ...
    sessions: int  # connections open through it now (scur)
    total: int  # connections it was given so far (stot)


@dataclass
class Balancer:
    process: trio.Process
    port: int
    socket: Path  # HAProxy's stats socket
    lines: list[str]  # its log (stdout and stderr): requests, and "Server qakit/x is DOWN"
    _grew: list[trio.Event]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def command(self, line: str) -> str:
        """One command on the stats socket (`show stat`, `show servers state`, ...)."""
        stream = await trio.open_unix_socket(str(self.socket))
        async with stream:
            await stream.send_all(line.encode() + b"\n")
            chunks = [chunk async for chunk in stream]
        return b"".join(chunks).decode()

    async def servers(self) -> dict[str, ServerState]:
        """The backend's servers by name (the instance ids)."""
        text = (await self.command("show stat")).removeprefix("# ")
        return {
            row["svname"]: ServerState(
                row["status"], row["check_status"], int(row["scur"]), int(row["stot"])
            )
            for row in csv.DictReader(text.splitlines())
            if row["pxname"] == "qakit" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    async def wait_until(self, done: Callable[[dict[str, ServerState]], bool]) -> None:
        """Poll the stats until `done(servers)` holds (the caller's fail_after bounds it)."""
        while not done(await self.servers()):  # noqa: ASYNC110  stats: no event to wait on
            await trio.sleep(POLL)

    async def wait_for_lines(self, done: Callable[[list[str]], bool]) -> None:
        """Wait until `done(lines)` holds, checked after each batch of new lines."""
        while not done(self.lines):
            await self._grew[0].wait()

    async def wait_for_down(self, name: str) -> None:
        """HAProxy says `Server qakit/NAME is DOWN` (its health checks failed FALL times)."""
        down = re.compile(rf"Server qakit/{re.escape(name)} is DOWN")
        await self.wait_for_lines(lambda lines: any(map(down.search, lines)))


def all_up(servers: dict[str, ServerState]) -> bool:
    return all(state.status == "UP" and state.check == "L7OK" for state in servers.values())


@asynccontextmanager
async def balancer(backends: list[Instance], balance: str = "leastconn") -> AsyncIterator[Balancer]:
    """HAProxy in front of `backends`; yields once each has passed a health check; stops it
    (SIGUSR1: a soft stop) at the end, killed if it is not gone within STOP_TIMEOUT."""
    binary = await trio.to_thread.run_sync(installed, "haproxy", "haproxy")
    with tempfile.TemporaryDirectory(prefix="qakit-haproxy-") as work:
        port, stats, path = free_port(), Path(work) / "stats.sock", Path(work) / "haproxy.cfg"
        path.write_text(config(port, stats, {b.id: b.url for b in backends}, balance))
        process = await trio.lowlevel.open_process(
            [binary, "-db", "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        front = Balancer(process, port, stats, [], [trio.Event()])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process.stdout, front)  # ends with HAProxy's output
            try:
                await _ready(front)
                yield front
            except BaseException as error:  # noted, and raised again
                error.add_note(kept({"haproxy": front.lines}))
                raise
            finally:
                with trio.CancelScope(shield=True):
                    await _stop(process)


async def _drain(stdout: trio.abc.ReceiveStream, front: Balancer) -> None:
    pending = b""
    async for chunk in stdout:
        *complete, pending = (pending + chunk).split(b"\n")
        front.lines.extend(raw.decode(errors="replace") for raw in complete)
        front._grew[0].set()
        front._grew[0] = trio.Event()


async def _ready(front: Balancer) -> None:
    """The stats socket answers and every instance passed a check; an early exit is an error."""
    while front.process.poll() is None:
        try:
            if all_up(await front.servers()):
                return
        except OSError:  # the socket is not there yet
            pass
        await trio.sleep(POLL)
    raise AssertionError(
        f"HAProxy exited ({front.process.returncode}):\n" + "\n".join(front.lines[-30:])
    )


async def _stop(process: trio.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGUSR1)
        with trio.move_on_after(STOP_TIMEOUT):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
