"""`qakit-trio --workers N`: N processes of the stand on one machine, watched by one parent.

    trio.run(run_workers)          the parent: it serves nothing and listens on nothing
    └── parent nursery
        ├── service: logs          the log flusher (Supervisor.supervise)
        ├── signal watch           first SIGTERM/SIGINT: stop the workers; second: stop now
        └── workers nursery (Workers.run)
            └── keeper of worker i one task per worker: start it, wait for its exit, restart

Each worker is `python -m qakit_trio` with the parent's arguments minus --workers, its binds
made explicit (port 0 resolved) and `--parent-pid` (a worker whose parent is gone stops by
itself, server.py), in the parent's environment plus QAKIT_REUSE_PORT=1 and
QAKIT_INSTANCE_ID=<the parent's id>-w<i>, i = 1..N: all bind the same ports with SO_REUSEPORT
and are members of the cluster over the bus (QAKIT_CLUSTER=kafka is required: without it each
would keep channels, presence and history of its own). The parent holds each port with a
socket that never listens (`held`, binds.py). A worker that exits while the parent is not
stopping is logged at ERROR and started again after a pause (`RestartPause`). On SIGTERM or
SIGINT the parent sends SIGTERM to every worker (each closes its clients with 1001 and stops
within QAKIT_SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN, server.py), SIGKILLs one still there after
that, and exits 0. Workers run in process groups of their own: a terminal's Ctrl+C reaches
the parent only, and each worker gets one SIGTERM. (docs/cluster.md: --workers.)
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Protocol

import trio

from qakit_trio import logs
from qakit_trio.binds import BindError, shared_socket, split_bind
from qakit_trio.config import SHUTDOWN_MARGIN, Settings, load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.supervisor import Supervisor

log = logging.getLogger(__name__)

MAX_WORKERS = 64
RESTART_FIRST = 0.5  # seconds before restarting a worker that exited
RESTART_MAX = 10.0  # the pause doubles up to this
RESTART_RESET_AFTER = 30.0  # a worker that ran this long starts from RESTART_FIRST again
KILL_WAIT = 2.0  # after SIGKILL, how long to wait for the kernel to reap a worker


class WorkerProcess(Protocol):
    """What the parent uses of a worker's process (trio.Process; a fake in tests)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


Spawn = Callable[[list[str], dict[str, str]], Awaitable[WorkerProcess]]


def check_workers(settings: Settings, environ: Mapping[str, str], count: int) -> None:
    """Refuse --workers N > 1 that cannot work: raise ConfigError before anything starts."""
    if not settings.cluster:
        raise ConfigError(
            f"--workers {count} needs QAKIT_CLUSTER=kafka (with KAFKA_BOOTSTRAP_SERVERS and "
            "DATABASE_URL): without the bus each worker would have channels, presence and "
            "history of its own"
        )
    for index in range(1, count + 1):  # a worker's settings are the parent's plus two
        try:
            load_settings(worker_env(environ, settings.instance_id, index))
        except ConfigError as error:
            raise ConfigError(f"worker {index}: {error}") from None


def worker_env(environ: Mapping[str, str], base: str, index: int) -> dict[str, str]:
    """Worker `index`'s environment: the parent's, sharing the ports, named `<base>-w<index>`."""
    return {**environ, "QAKIT_REUSE_PORT": "1", "QAKIT_INSTANCE_ID": f"{base}-w{index}"}


_DROPPED = ("--workers", "--bind", "--parent-pid")  # options whose value the parent decides


def worker_args(argv: Sequence[str], binds: Sequence[str], parent_pid: int) -> list[str]:
    """A worker's arguments: the parent's minus --workers, with its binds and its parent."""
    kept: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        name, equals, _ = token.partition("=")
        # argparse takes any unambiguous prefix of an option ("--work 2")
        if len(name) > 2 and any(option.startswith(name) for option in _DROPPED):
            if not equals:
                next(tokens, None)  # its value
            continue
        kept.append(token)
    return [*kept, *(f"--bind={bind}" for bind in binds), f"--parent-pid={parent_pid}"]


@contextmanager
def held(binds: Sequence[str]) -> Iterator[list[str]]:
    """Hold every bind for the workers (module docstring); yield them with port 0 resolved."""
    with ExitStack() as stack:
        resolved: list[str] = []
        for bind in binds:
            try:
                sock = stack.enter_context(shared_socket(bind, reuse_addr=False))
            except OSError as error:
                raise BindError(f"cannot listen on {bind}: {error.strerror}") from None
            family, host, _ = split_bind(bind)
            port = sock.getsockname()[1]
            resolved.append(f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}")
        yield resolved


class RestartPause:
    """The pause before restarting a worker that exited: RESTART_FIRST, doubling up to
    RESTART_MAX; after a run of RESTART_RESET_AFTER s, RESTART_FIRST again."""

    def __init__(self) -> None:
        self._next = RESTART_FIRST

    def after(self, ran_for: float) -> float:
        """The pause after a run of `ran_for` seconds."""
        if ran_for >= RESTART_RESET_AFTER:
            self._next = RESTART_FIRST  # it ran well for a while: not a crash loop
        pause = self._next
        self._next = min(pause * 2, RESTART_MAX)
        return pause


def exit_fields(returncode: int) -> dict[str, object]:
    """How a worker ended, for its log line: an exit code, or the signal that ended it."""
    if returncode >= 0:
        return {"exit_code": returncode}
    try:
        return {"signal": signal.Signals(-returncode).name}
    except ValueError:
        return {"signal": str(-returncode)}


async def open_worker(args: list[str], env: dict[str, str]) -> WorkerProcess:
    """`python -m qakit_trio ARGS` in a process group of its own, its output the parent's."""
    command = [sys.executable, "-m", "qakit_trio", *args]
    return await trio.lowlevel.open_process(command, env=env, process_group=0)


class Workers:
    """N workers kept running until `stopping` is set, then stopped within `budget` seconds."""

    def __init__(
        self,
        count: int,
        args: list[str],
        environ: Mapping[str, str],
        base: str,
        budget: float,
        spawn: Spawn = open_worker,
    ) -> None:
        self.count = count
        self.stopping = trio.Event()
        self.live: dict[int, WorkerProcess] = {}  # worker index -> its process now
        self._args = args
        self._environ = environ
        self._base = base
        self._budget = budget
        self._spawn = spawn

    def terminate_all(self) -> None:
        """SIGTERM to every worker now (a second signal to the parent: "stop now")."""
        for process in list(self.live.values()):
            process.send_signal(signal.SIGTERM)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every worker (ready once each was started), return when all have stopped."""
        async with trio.open_nursery() as nursery:
            for index in range(1, self.count + 1):
                await nursery.start(self._keep, index, name=f"worker {self._base}-w{index}")
            task_status.started()

    async def _keep(self, index: int, *, task_status: trio.TaskStatus[None]) -> None:
        """Keep worker `index` running until the parent stops (module docstring)."""
        worker = f"{self._base}-w{index}"
        env = worker_env(self._environ, self._base, index)
        pause = RestartPause()
        restarts = 0
        if self.stopping.is_set():  # a signal as the parent started: nothing to keep
            task_status.started()
            return
        while not self.stopping.is_set():
            began = trio.current_time()
            process: WorkerProcess | None = None
            try:
                process = await self._spawn(self._args, env)
            except OSError as error:  # the boundary: no process, logged and tried again
                ended: dict[str, object] = {"error": f"could not start: {error}"}
            else:
                logs.info(
                    log, "worker started", instance=worker, pid=process.pid, restarts=restarts
                )
            if restarts == 0:
                # started, not yet serving: the parent does not read its workers' output
                task_status.started()
            if process is not None:
                self.live[index] = process
                try:
                    ended = {"pid": process.pid, **exit_fields(await self._wait(process, worker))}
                finally:
                    del self.live[index]
            if self.stopping.is_set():
                logs.info(log, "worker stopped", instance=worker, **ended)
                return
            restarts += 1
            delay = pause.after(trio.current_time() - began)
            log.error(
                "worker exited; restarting it",
                extra={
                    "fields": {"instance": worker, "restarts": restarts, "pause_s": delay, **ended}
                },
            )
            with trio.move_on_after(delay):
                await self.stopping.wait()

    async def _wait(self, process: WorkerProcess, worker: str) -> int:
        """Its exit code; once the parent stops: SIGTERM, and SIGKILL after the budget."""

        async def stop_when_asked() -> None:
            await self.stopping.wait()
            process.send_signal(signal.SIGTERM)
            await trio.sleep(self._budget)
            log.warning(
                "worker did not stop within the shutdown budget: killing it",
                extra={"fields": {"instance": worker, "pid": process.pid}},
            )
            process.kill()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_when_asked)
                returncode = await process.wait()
                nursery.cancel_scope.cancel()
        finally:
            if process.returncode is None:  # the parent itself is being cancelled: no orphans
                process.kill()
                with trio.move_on_after(KILL_WAIT, shield=True):
                    await process.wait()
        return returncode


async def run_workers(workers: Workers) -> None:
    """The parent's main task: keep the workers running until SIGTERM or SIGINT."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(Supervisor().supervise, "logs", logs.run_log_flusher)

            async def watch_signals() -> None:
                async for signum in signals:
                    if workers.stopping.is_set():
                        log.warning("second signal: telling the workers to stop now")
                        workers.terminate_all()
                        continue
                    logs.info(log, "shutting down", signal=signal.Signals(signum).name)
                    workers.stopping.set()

            async def keep_workers(task_status: trio.TaskStatus[None]) -> None:
                await workers.run(task_status=task_status)
                nursery.cancel_scope.cancel()  # every worker has stopped: the parent is done

            nursery.start_soon(watch_signals)
            await nursery.start(keep_workers)
            logs.info(log, "workers started")  # (each one's line above: "worker started")
    logs.info(log, "stopped")


def stop_budget(settings: Settings) -> float:
    """How long a worker may take to stop after SIGTERM before the parent SIGKILLs it."""
    return settings.shutdown_timeout + SHUTDOWN_MARGIN


def main(settings: Settings, argv: Sequence[str], binds: Sequence[str], count: int) -> None:
    """The CLI's --workers N > 1: hold the binds, run the parent until it is told to stop."""
    logs.name_node(settings.instance_id)  # the parent's lines: its workers' base name
    with held(binds) as resolved:
        workers = Workers(
            count,
            worker_args(argv, resolved, os.getpid()),
            dict(os.environ),
            settings.instance_id,
            stop_budget(settings),
        )
        trio.run(run_workers, workers)
