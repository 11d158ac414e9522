"""`qakit-trio --workers N` (qakit_trio/workers.py): the pure parts (a worker's arguments and
environment, the restart pause, the checks before start), the parent's supervision on trio's
virtual clock with fake processes, and the shared port with real sockets and two in-process
stands. The whole thing as real processes against the real Kafka and PostgreSQL:
tests/test_workers_processes.py."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import signal
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from qakit_trio import cli, workers
from qakit_trio.app import create_app
from qakit_trio.binds import BindError, shared_socket, usable_binds
from qakit_trio.config import Settings
from qakit_trio.errors import ConfigError
from qakit_trio.server import parent_gone, serve
from qakit_trio.workers import (
    RESTART_FIRST,
    RESTART_MAX,
    RESTART_RESET_AFTER,
    RestartPause,
    Workers,
    exit_fields,
    held,
    worker_args,
    worker_env,
)

from .support.helpers import TEST_SETTINGS, receive_json
from .support.timeouts import TIMEOUT, VIRTUAL_TIMEOUT

CLUSTER_ENV = {"QAKIT_CLUSTER": "kafka", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}
CLUSTER_ENV |= {"DATABASE_URL": "postgresql://u@db/qakit"}


def test_a_worker_gets_the_parents_arguments_minus_workers_with_its_binds_and_parent() -> None:
    argv = ["--workers", "4", "--bind", "0.0.0.0:0", "--future-option", "x", "--bind=[::1]:8000"]
    assert worker_args(argv, ["0.0.0.0:41000", "[::1]:8000"], 77) == [
        "--future-option",
        "x",
        "--bind=0.0.0.0:41000",
        "--bind=[::1]:8000",
        "--parent-pid=77",
    ]
    # argparse's unambiguous prefixes and the = form go too; so does a --parent-pid given
    argv = ["--work", "2", "--workers=3", "--bi", "h:1", "--parent-pid", "5"]
    assert worker_args(argv, ["h:1"], 9) == ["--bind=h:1", "--parent-pid=9"]


def test_a_worker_shares_the_ports_and_is_named_after_the_parent() -> None:
    environ = {"PATH": "/bin", "QAKIT_INSTANCE_ID": "stand", "QAKIT_REUSE_PORT": "0"}
    assert worker_env(environ, "stand", 3) == {
        "PATH": "/bin",
        "QAKIT_INSTANCE_ID": "stand-w3",
        "QAKIT_REUSE_PORT": "1",
    }
    assert environ["QAKIT_INSTANCE_ID"] == "stand"  # the parent's own is left alone


def test_the_restart_pause_doubles_to_its_cap_and_starts_again_after_a_good_run() -> None:
    pause = RestartPause()
    crash_loop = [pause.after(0.1) for _ in range(7)]
    assert crash_loop == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert (RESTART_FIRST, RESTART_MAX) == (0.5, 10.0)
    assert pause.after(RESTART_RESET_AFTER) == RESTART_FIRST  # it ran 30 s: not a crash loop
    assert pause.after(RESTART_RESET_AFTER - 1) == 2 * RESTART_FIRST


def test_how_a_worker_ended_is_its_exit_code_or_its_signal() -> None:
    assert exit_fields(0) == {"exit_code": 0}
    assert exit_fields(3) == {"exit_code": 3}
    assert exit_fields(-signal.SIGKILL) == {"signal": "SIGKILL"}
    assert exit_fields(-200) == {"signal": "200"}


def test_several_workers_need_the_bus_and_room_for_their_names() -> None:
    with pytest.raises(ConfigError, match="--workers 2 needs QAKIT_CLUSTER=kafka"):
        workers.check_workers(Settings(), {}, 2)
    settings = Settings(cluster=True, instance_id="x" * 62)
    with pytest.raises(ConfigError, match=r"worker 1: QAKIT_INSTANCE_ID: 'x{62}-w1' is not 1-64"):
        workers.check_workers(settings, CLUSTER_ENV, 2)
    workers.check_workers(Settings(cluster=True, instance_id="stand"), CLUSTER_ENV, 64)


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["--workers", "2"], {}, "configuration error: --workers 2 needs QAKIT_CLUSTER=kafka"),
        (["--workers", "0"], CLUSTER_ENV, "--workers: '0' is not a number of 1-64"),
        (["--workers", "65"], CLUSTER_ENV, "--workers: '65' is not a number of 1-64"),
    ],
)
def test_the_cli_refuses_workers_it_cannot_run(
    argv: list[str],
    env: dict[str, str],
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [*CLUSTER_ENV, "QAKIT_CLUSTER", "QAKIT_BIND"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_the_parent_holds_the_port_for_its_workers_and_from_everyone_else() -> None:
    with held(["127.0.0.1:0"]) as resolved:
        [bind] = resolved
        port = int(bind.rsplit(":", 1)[1])
        assert port != 0
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError, match="Address already in use"):
                other.bind(("127.0.0.1", port))
        assert usable_binds([bind], given=True, reuse_port=True) == [bind]  # a worker's check
        with shared_socket(bind) as first, shared_socket(bind) as second:
            first.listen()
            second.listen()
            with pytest.raises(BindError, match="address already in use"):
                usable_binds([bind], given=True)  # without SO_REUSEPORT: taken
            client = socket.create_connection(("127.0.0.1", port))
            client.close()


def test_a_port_another_program_listens_on_is_busy_for_workers_too() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        bind = f"127.0.0.1:{other.getsockname()[1]}"
        with pytest.raises(BindError, match="address already in use"):
            usable_binds([bind], given=True, reuse_port=True)
        refused = f"cannot listen on {bind}: Address already in use"
        with pytest.raises(BindError, match=refused), held([bind]):
            pass


async def test_two_stands_with_reuse_port_serve_one_port_together() -> None:
    """QAKIT_REUSE_PORT=1 (what each worker gets): hypercorn is given sockets bound with
    SO_REUSEPORT (`fd://N`), so a second stand binds the port of the first and both serve."""
    settings = replace(TEST_SETTINGS, reuse_port=True)
    apps = [create_app(settings), create_app(settings)]
    stop = trio.Event()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            [url] = await nursery.start(serve, settings, ["127.0.0.1:0"], stop.wait, apps[0])
            port = urlsplit(url).port
            assert await nursery.start(serve, settings, [f"127.0.0.1:{port}"], stop.wait, apps[1])
            async with AsyncExitStack() as stack:
                for _ in range(16):  # both get some, but for a chance of 2 in 65,536
                    ws = f"ws://127.0.0.1:{port}/ws"
                    await receive_json(await stack.enter_async_context(open_websocket_url(ws)))
                assert all(app.services.connections() > 0 for app in apps)
            stop.set()


async def test_a_worker_whose_parent_is_another_process_sees_it_gone_at_once() -> None:
    with trio.fail_after(TIMEOUT):
        await parent_gone(os.getpid())  # not our parent: gone already (it waits otherwise:
        # tests/test_workers_processes.py kills a parent)


@dataclass
class FakeProcess:
    """A worker's process: it ends when told to (`exit`), on SIGTERM after `term_after`
    seconds (None: it ignores SIGTERM), and on SIGKILL at once."""

    pid: int
    nursery: trio.Nursery
    term_after: float | None
    returncode: int | None = None
    signals: list[tuple[float, str]] = field(default_factory=list)
    _ended: trio.Event = field(default_factory=trio.Event)

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode

    def exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._ended.set()

    async def exit_after(self, seconds: float, code: int) -> None:
        await trio.sleep(seconds)
        self.exit(code)

    def send_signal(self, sig: int) -> None:
        self.signals.append((trio.current_time(), signal.Signals(sig).name))
        if sig == signal.SIGTERM and self.term_after is not None:
            self.nursery.start_soon(self.exit_after, self.term_after, 0)

    def kill(self) -> None:
        self.signals.append((trio.current_time(), "SIGKILL"))
        self.exit(-signal.SIGKILL)


@dataclass
class FakeSpawn:
    """Starts FakeProcesses; each crashes (exit 1) after `run_for` s unless None."""

    nursery: trio.Nursery
    run_for: float | None = None
    term_after: float | None = 0.5
    failures: int = 0  # the first spawns that fail as the OS would
    started: list[tuple[float, list[str], dict[str, str]]] = field(default_factory=list)
    processes: list[FakeProcess] = field(default_factory=list)
    _spawned: trio.Event = field(default_factory=trio.Event)  # set at each spawn, replaced

    async def until(self, spawns: int = 0, processes: int = 0) -> None:
        """Wait until so many spawns were tried and so many processes started."""
        while len(self.started) < spawns or len(self.processes) < processes:
            await self._spawned.wait()

    async def __call__(self, args: list[str], env: dict[str, str]) -> FakeProcess:
        await trio.lowlevel.checkpoint()
        self.started.append((trio.current_time(), args, env))
        self._spawned.set()
        self._spawned = trio.Event()
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        process = FakeProcess(1000 + len(self.processes), self.nursery, self.term_after)
        self.processes.append(process)
        if self.run_for is not None:
            self.nursery.start_soon(process.exit_after, self.run_for, 1)
        return process


def fake_workers(spawn: FakeSpawn, count: int = 1, budget: float = 5.0) -> Workers:
    return Workers(count, ["--bind=h:1"], {"A": "1"}, "stand", budget, spawn=spawn)


def gaps(spawn: FakeSpawn) -> list[float]:
    times = [at for at, _, _ in spawn.started]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_a_crashing_worker_is_restarted_with_a_doubling_pause_and_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery, run_for=0.0)
            keeper = fake_workers(spawn)
            nursery.start_soon(keeper.run)
            await spawn.until(spawns=8)
            keeper.stopping.set()
    assert gaps(spawn)[:7] == pytest.approx([0.5, 1, 2, 4, 8, 10, 10])
    assert [(args, env) for _, args, env in spawn.started[:1]] == [
        (["--bind=h:1"], {"A": "1", "QAKIT_REUSE_PORT": "1", "QAKIT_INSTANCE_ID": "stand-w1"})
    ]
    crashed = [r for r in caplog.records if r.getMessage() == "worker exited; restarting it"]
    assert crashed[0].levelno == logging.ERROR
    fields = crashed[0].fields  # type: ignore[attr-defined]
    assert fields == {
        "instance": "stand-w1",
        "pid": 1000,
        "restarts": 1,
        "pause_s": 0.5,
        "exit_code": 1,
    }


async def test_a_worker_that_ran_long_enough_is_restarted_after_the_first_pause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery, run_for=RESTART_RESET_AFTER)
            keeper = fake_workers(spawn)
            nursery.start_soon(keeper.run)
            await spawn.until(spawns=3)
            keeper.stopping.set()
    assert gaps(spawn) == pytest.approx([RESTART_RESET_AFTER + 0.5] * 2)


async def test_a_worker_that_cannot_be_started_is_tried_again(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery, failures=2)
            keeper = fake_workers(spawn)
            await nursery.start(keeper.run)
            await spawn.until(processes=1)
            keeper.stopping.set()
    assert gaps(spawn) == pytest.approx([0.5, 1.0])
    crashed = [r for r in caplog.records if r.getMessage() == "worker exited; restarting it"]
    assert crashed[0].fields["error"] == (  # type: ignore[attr-defined]
        "could not start: [Errno 11] Resource temporarily unavailable"
    )


async def test_stopping_terminates_every_worker_and_kills_the_late_ones_at_the_budget(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery, term_after=None)  # the first ignores SIGTERM
            keeper = fake_workers(spawn, count=3, budget=5.0)
            await nursery.start(keeper.run)
            spawn.term_after = 1.0  # the others stop a second after it
            spawn.processes[1].term_after = spawn.processes[2].term_after = 1.0
            await trio.sleep(7)
            began = trio.current_time()
            keeper.stopping.set()
            for process in spawn.processes:
                await process.wait()
            assert trio.current_time() - began == pytest.approx(5.0)
            nursery.cancel_scope.cancel()
    late, *good = spawn.processes
    assert [name for _, name in late.signals] == ["SIGTERM", "SIGKILL"]
    assert late.signals[1][0] - late.signals[0][0] == pytest.approx(5.0)
    assert [[name for _, name in p.signals] for p in good] == [["SIGTERM"], ["SIGTERM"]]
    assert len(spawn.started) == 3  # nobody restarted
    killed = [r for r in caplog.records if "did not stop within" in r.getMessage()]
    assert [r.fields["instance"] for r in killed] == ["stand-w1"]  # type: ignore[attr-defined]


async def test_a_second_signal_forwards_sigterm_again_and_a_pause_ends_at_stop() -> None:
    with trio.fail_after(TIMEOUT):  # (no time passes: the pause and the budget are cut short)
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery, term_after=None)
            keeper = fake_workers(spawn, count=2)
            await nursery.start(keeper.run)
            spawn.processes[1].exit(1)
            await trio.testing.wait_all_tasks_blocked()  # worker 2 waits for its restart...
            keeper.stopping.set()  # ...and is not restarted
            await trio.testing.wait_all_tasks_blocked()
            keeper.terminate_all()
            assert [name for _, name in spawn.processes[0].signals] == ["SIGTERM", "SIGTERM"]
            spawn.processes[0].exit(0)
    assert len(spawn.started) == 2


async def test_a_parent_told_to_stop_as_it_starts_starts_nobody() -> None:
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            spawn = FakeSpawn(nursery)
            keeper = fake_workers(spawn, count=2)
            keeper.stopping.set()
            await keeper.run()
    assert spawn.started == []


async def test_a_parent_cancelled_kills_its_workers(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as outer:
            spawn = FakeSpawn(outer)
            async with trio.open_nursery() as nursery:
                await nursery.start(fake_workers(spawn, count=2).run)
                nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    assert [p.returncode for p in spawn.processes] == [-signal.SIGKILL] * 2
