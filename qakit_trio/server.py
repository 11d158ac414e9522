"""Running the app on hypercorn programmatically, with our own signal-driven shutdown.

    trio.run(run_server)
    └── server nursery
        ├── signal watch   first SIGTERM/SIGINT: start the graceful shutdown;
        │                  second one, or the backstop deadline: stop now
        ├── parent watch   (a worker of --workers) its parent gone: a SIGTERM to itself
        └── serve nursery
            ├── accept errors   trio's failed accepts at the descriptor limit, counted: one
            │                   WARNING per episode (transport/accept_errors.py)
            └── hypercorn.trio.serve(app, config, shutdown_trigger=first_signal.wait)
                (hypercorn's own nurseries: lifespan -> our service nursery; one task per client)

On the first signal hypercorn stops accepting and sets its "terminated" event; the app closes
every WebSocket with 1001 (services.py), each within QAKIT_CLOSE_TIMEOUT (connection.py drops
a client that does not answer), and hypercorn cancels whatever is left after
QAKIT_SHUTDOWN_TIMEOUT (its graceful_timeout). At that moment every connection still open is
dropped at the socket (`tcp_server.abort_connections`): a client that stopped reading an HTTP
response or an echo can hold a write that hypercorn shields from cancellation. BACKSTOP_MARGIN
later the server nursery is cancelled outright; HARD_EXIT_AFTER after that (or after a second
signal) a timer thread ends the process even if something is still stuck. So the process ends
within QAKIT_SHUTDOWN_TIMEOUT + BACKSTOP_MARGIN (+ HARD_EXIT_AFTER at worst), whatever the
clients do.

QAKIT_REUSE_PORT=1 (set by --workers for its workers, workers.py): the listening sockets are
bound here with SO_REUSEPORT and given to hypercorn as `fd://N`, so several processes share
each port.
"""

from __future__ import annotations

import ctypes
import gc
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence

import hypercorn.trio
import trio
from hypercorn.config import Config

from qakit_trio import logs
from qakit_trio.app import QakitApp, create_app
from qakit_trio.binds import shared_binds
from qakit_trio.config import SHUTDOWN_MARGIN, Settings
from qakit_trio.transport import hyper_ext, tcp_server
from qakit_trio.transport.accept_errors import AcceptErrors
from qakit_trio.transport.access_log import AccessLogger

log = logging.getLogger(__name__)

# After the first signal, the whole process is given this much longer than the shutdown timeout
# (which bounds the connections) for the app's own shutdown, then it is cancelled outright.
BACKSTOP_MARGIN = SHUTDOWN_MARGIN  # config.py checks the shutdown fits in it
HARD_EXIT_AFTER = 1.0  # then a timer thread exits the process, if trio could not finish
# Without a pidfd (not Linux 5.3+), a worker of --workers checks this often whether its parent
# is still there (parent_gone).
PARENT_CHECK_INTERVAL = 1.0


def tune_gc() -> None:
    """A server with thousands of connections holds millions of long-lived objects. With
    Python's default thresholds (700, 10, 10) full collections come often while connections
    pile up, each stopping everything for 100+ ms (the p99 spikes of the W3 benchmark, see
    docs/send-path.md). Collect less often, walk each surviving object as few times as
    possible, and leave everything imported at start-up out of collections for good.

    Every other collection takes the middle generation with the young one (its threshold
    0: it is collected once it has seen more than 0 young collections, so: young, both,
    young, both...), and what survives that goes to the old generation. A connect storm's
    objects all survive (the connections stay), and a collection costs by the objects it
    walks: each is walked 1.5 times on average, against ~2 with the middle threshold at 10
    (once young, once more in the middle generation's collection after 10 more young ones,
    up to ~100,000 objects in one stop: ~60 ms; now about 20,000). W5 with `gc.callbacks` in
    the server, 3 rounds each: 0.55-0.60 s of collections a round of 5,000, against 0.69-0.89
    s with (10000, 10, 500) (docs/benchmarks.md). A full collection may come after 3,000 of
    the middle ones, ~6,000 collections in all, as after 500 x (10 young + 1 middle) before
    (and only once the objects promoted since the last exceed a quarter of the old ones:
    CPython's rule): a garbage cycle that was alive at a middle collection waits for a full
    one, so those are kept as frequent as they were."""
    gc.set_threshold(10_000, 0, 3_000)
    gc.freeze()


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default starting value, kept fixed


def tune_malloc() -> None:
    """Give big buffers back to the system when they are freed (glibc only; elsewhere a no-op).

    Python allocates anything over 512 bytes with malloc: a 1 MiB message, a client's
    queued frames. glibc serves blocks over 128 KiB with their own mmap and unmaps them when
    freed, but after the first such free it raises that threshold (up to 32 MiB), so later big
    blocks come from the heap, which it rarely shrinks: a burst of large messages from a
    client that was then dropped left ~40 MiB behind for good (measured: 49 -> 87 MiB after
    four 0.9 MB flooders were gone; 54 MiB with the threshold fixed). Setting the threshold
    explicitly turns the adjustment off (the same as MALLOC_MMAP_THRESHOLD_=131072)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl, macOS): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def log_urls(urls: Sequence[str]) -> None:
    """Every URL a trainee needs, on one start-up line."""
    ws = [url.replace("http", "ws", 1) for url in urls]
    logs.info(
        log,
        "ready",
        portal=[f"{url}/" for url in urls],
        ws=[f"{url}/ws" for url in ws],
        ws_orders=[f"{url}/ws/orders" for url in ws],
        docs=[f"{url}/docs" for url in urls],
        health=[f"{url}/health" for url in urls],
    )


def is_loopback(bind: str) -> bool:
    """Whether HOST:PORT listens on this machine only."""
    host = bind.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def hypercorn_config(settings: Settings, binds: Sequence[str]) -> Config:
    config = Config()
    config.bind = list(binds)
    config.websocket_max_message_size = settings.max_message_size
    config.qakit_inbox_bytes = settings.outbox_bytes  # type: ignore[attr-defined]  # hyper_ext
    config.websocket_ping_interval = None  # our keepalive.py pings: one task for all clients
    config.graceful_timeout = settings.shutdown_timeout
    config.shutdown_timeout = settings.shutdown_timeout  # the lifespan's shutdown
    config.accesslog = logging.getLogger(logs.ACCESS_LOGGER)
    config.logger_class = AccessLogger  # access lines as ECS fields (access_log.py)
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def serve(
    settings: Settings,
    binds: Sequence[str],
    shutdown_trigger: Callable[[], Awaitable[None]],
    app: QakitApp | None = None,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` (default: `create_app(settings)`) until `shutdown_trigger` returns.

    `task_status.started()` gets the real URLs, so binding port 0 works without races.
    """
    # The launcher's job (building the app replaces nothing in hypercorn): our extension,
    # or hypercorn's own classes for the plain ASGI path (QAKIT_FAST_PATH=0).
    if settings.fast_path:
        hyper_ext.install()
    else:
        hyper_ext.uninstall()
    app = app if app is not None else create_app(settings)
    services = app.services
    open_to = [bind for bind in binds if not is_loopback(bind)]
    if open_to and not settings.auth:
        log.warning(
            "listening beyond this machine with QAKIT_AUTH off: anyone on that network may "
            "read and change the stand, the lab included (set QAKIT_AUTH=on for a class)",
            extra={"fields": {"bind": ", ".join(open_to)}},
        )

    async def trigger() -> None:
        await shutdown_trigger()
        services.stopping.set()  # plain ASGI never tells the app; the launcher does (1001)

    # QAKIT_REUSE_PORT (the workers of --workers): sockets of our own, shared with the siblings
    listen_on = shared_binds(binds) if settings.reuse_port else binds

    async def serve_then_stop(task_status: trio.TaskStatus[list[str]]) -> None:
        await hypercorn.trio.serve(
            app,
            hypercorn_config(settings, listen_on),
            shutdown_trigger=trigger,
            task_status=task_status,
        )
        nursery.cancel_scope.cancel()  # hypercorn is done: the accept-error count too

    async with trio.open_nursery() as nursery:  # hypercorn's serve, as our child
        # trio's accept loop at the descriptor limit: one WARNING per episode, not ten ERRORs
        # a second (accept_errors.py)
        await nursery.start(AcceptErrors().run)
        urls = await nursery.start(serve_then_stop, name="hypercorn.trio.serve")  # task tree
        log_urls(urls)
        services.urls = list(urls)
        task_status.started(urls)


async def run_server(
    settings: Settings, binds: Sequence[str], *, parent_pid: int | None = None
) -> None:
    """The CLI's main task: serve until SIGTERM or SIGINT, then shut down in bounded time.
    `parent_pid` (a worker of --workers): shut down the same way when that parent is gone."""
    first_signal = trio.Event()
    finished = False
    hard_exit = _HardExit()
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:

                async def abort_when_time_is_up() -> None:
                    await trio.sleep(settings.shutdown_timeout)
                    dropped = tcp_server.abort_connections()
                    if dropped:
                        log.warning(
                            "shutdown time is up: dropping the connections left",
                            extra={"fields": {"connections": dropped}},
                        )

                async def watch_signals() -> None:
                    async for signum in signals:
                        if first_signal.is_set():
                            log.warning("second signal: stopping now")
                            tcp_server.abort_connections()
                            hard_exit.arm(HARD_EXIT_AFTER)
                            nursery.cancel_scope.cancel()
                            return
                        logs.info(log, "shutting down", signal=signal.Signals(signum).name)
                        first_signal.set()
                        nursery.start_soon(abort_when_time_is_up)
                        deadline = settings.shutdown_timeout + BACKSTOP_MARGIN
                        nursery.cancel_scope.deadline = trio.current_time() + deadline
                        hard_exit.arm(deadline + HARD_EXIT_AFTER)

                async def watch_parent(pid: int) -> None:
                    await parent_gone(pid)
                    if first_signal.is_set():
                        return  # already stopping: a second signal would cut it short
                    log.warning(
                        "the --workers parent process is gone: shutting down",
                        extra={"fields": {"parent_pid": pid}},
                    )
                    os.kill(os.getpid(), signal.SIGTERM)  # as if the parent had sent it

                nursery.start_soon(watch_signals)
                if parent_pid is not None:
                    nursery.start_soon(watch_parent, parent_pid)
                await serve(settings, binds, first_signal.wait)
                finished = True  # not reached when the backstop or a second signal cancelled it
                nursery.cancel_scope.cancel()  # the signal watch
    finally:
        hard_exit.disarm()
    if not finished and first_signal.is_set():
        log.warning("shutdown was cut short")


async def parent_gone(pid: int) -> None:
    """Return once `pid`, this process's parent, has exited. A pidfd becomes readable then
    (Linux's PR_SET_PDEATHSIG would not do: it fires when the *thread* that forked exits, and
    trio forks from a worker thread of its own). Opened first, then the parent checked: if it
    is still our parent, the pidfd is its, not a later process's with the same number."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or gone already (checked below)
        pidfd = None
    try:
        if os.getppid() != pid:
            return
        if pidfd is not None:
            await trio.lowlevel.wait_readable(pidfd)
            return
        while os.getppid() == pid:  # noqa: ASYNC110  no pidfd: no event to wait on
            await trio.sleep(PARENT_CHECK_INTERVAL)
    finally:
        if pidfd is not None:
            os.close(pidfd)


class _HardExit:
    """The last resort: a timer thread that ends the process if trio has not returned by
    then (something stuck that no cancellation reaches). Logs are written out first."""

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def arm(self, after: float) -> None:
        self.disarm()
        self._timer = threading.Timer(after, self._exit)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @staticmethod
    def _exit() -> None:
        log.error("the shutdown did not finish in time: exiting now")
        logs.flush_logs()
        os._exit(1)
