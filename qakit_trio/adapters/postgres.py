"""The PostgreSQL adapter: psycopg's synchronous API in worker threads, behind a task.

psycopg's async API does not run under trio (psycopg issue 29). So:

    service nursery
    └── Database.run   owns the connections; checks the database every 2 s
            slots: a memory channel of `pool_size` slots, each an open connection or None;
            a request borrows a slot, (re)connects if needed, runs its SQL in a worker thread
            (its own CapacityLimiter, not trio's default 40) and gives the slot back.

Every call is bounded: `fail_after(QAKIT_DB_TIMEOUT)` covers waiting for a slot, connecting
and the query, and the answer comes within STOP_WAIT (0.25 s) of it, whatever the server does.
A trio timeout cannot stop a thread, so when the caller is cancelled while its query runs, the
query is cancelled on the server (`cancel_safe`) and the thread returns at once; if that takes
longer than STOP_WAIT (a frozen server), the connection's socket is shut down under the thread.
The server's `statement_timeout` and `lock_timeout` (twice ours) are only a backstop.
psycopg's errors are translated here into the store's (order_store.py): nothing else in the
service knows psycopg. What SQL the orders need is in postgres_orders.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import outcome
import psycopg
import trio

from qakit_trio.adapters.adapter_state import AdapterState
from qakit_trio.channels import drain_nowait
from qakit_trio.errors import StoreError, StoreFailed, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

WATCH_INTERVAL = 2.0  # seconds between health checks (also how soon a recovery is noticed)
IDLE_CHECK_AFTER = 1.0  # a connection idle longer than this is checked before it is used
CANCEL_TIMEOUT = 2.0  # how long asking the server to cancel a query may take (in the background)
# How long a cancelled call waits for the server to stop its query before it shuts the socket
# down and answers: the answer comes within QAKIT_DB_TIMEOUT + STOP_WAIT (docs/orders-and-rest.md
# says + 0.5 s).
# A live server stops a query in a few ms; waiting for a frozen one is what made 5 s take 6.
STOP_WAIT = 0.25

# Said when the connection failed after COMMIT was sent: the change may have been saved. (If it
# was, its event row was saved with it and the event outbox relay still publishes it to Kafka.)
_UNKNOWN_OUTCOME = "; the outcome is unknown: the change may or may not have been saved"

SCHEMA_LOCK = 0x5141_6B69_7400  # an advisory lock key of our own ("QAkit")


Connection = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]
Slot = tuple[Connection, float] | None  # a connection and when it was last used, or none yet


def make_schema(connection: Connection, statements: list[str]) -> None:
    """In a worker thread: run the schema's statements in one transaction (the connection is
    closed if they fail). CREATE TABLE IF NOT EXISTS races with itself (a unique-index error)
    when several processes run it at once: they take turns on an advisory lock."""
    try:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in statements:
                connection.execute(statement)
    except BaseException:
        connection.close()
        raise


class Database:
    """The adapter: a pool of connections, bounded calls, the database's state."""

    def __init__(self, url: str, *, pool_size: int, timeout: float, schema: list[str]) -> None:
        self._url = url
        self._schema = schema  # statements run once, on the first connection
        self._timeout = timeout
        self._pool_size = pool_size
        # A slot is a right to use one connection: the channel is bounded by the pool size.
        # Made in run(); until then, closed ends so that calls fail fast.
        self._slots_send, self._slots_receive = trio.open_memory_channel[Slot](pool_size)
        self._slots_send.close()
        self._slots_receive.close()
        self._threads = trio.CapacityLimiter(pool_size + 1)  # +1: a cancel while all are busy
        self.state = AdapterState("database", log)
        self._schema_ready = False
        self._schema_lock = threading.Lock()  # held by the worker thread making the schema
        # ids of connections left to a thread that has not returned (a frozen server): never
        # given back to the pool; the thread closes them (_in_thread)
        self._abandoned: set[int] = set()

    # --- the adapter task ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled. Ready at once: while the database is down, requests get
        StoreUnavailable and the watch keeps trying to reach it."""
        # A fresh set of slots for each run (a restart after a crash starts clean).
        self._slots_send, self._slots_receive = trio.open_memory_channel[Slot](self._pool_size)
        for _ in range(self._pool_size):
            self._slots_send.send_nowait(None)  # None: a slot not connected yet
        try:
            task_status.started()
            while True:
                await self._check()
                await trio.sleep(WATCH_INTERVAL)
        finally:
            self._close_all()

    def _close_all(self) -> None:
        """Synchronous, for cleanup under cancellation: close idle connections and both ends
        of the slot channel, so late borrowers fail fast instead of waiting."""
        for slot in drain_nowait(self._slots_receive, []):
            if slot is not None:
                slot[0].close()  # an idle connection: closing it does not block
        self._slots_send.close()
        self._slots_receive.close()
        self.state.set("stopped", "the database adapter is not running")

    async def _check(self) -> None:
        with contextlib.suppress(StoreError):  # call() has recorded the state
            await self.call(lambda cur: cur.execute("SELECT 1"))

    def health(self) -> dict[str, Any]:
        return self.state.as_dict()

    # --- borrowing a connection and running SQL in a thread -------------------------------

    async def call(self, work: Callable[[Cursor], T]) -> T:
        """Run `work(cursor)` in one transaction, bounded by the timeout; translate errors.
        An exception of `work`'s own (not psycopg's) passes through: the database answered."""
        phase = ["connect"]  # -> "query" -> "commit" (_in_thread)
        try:
            with trio.fail_after(self._timeout):
                async with self._connection() as connection:
                    phase[0] = "query"
                    result = await self._in_thread(connection, work, phase)
        except trio.TooSlowError:
            self.state.set("down", f"no answer within {self._timeout} s")
            raise StoreUnavailable(
                f"the database did not answer within {self._timeout} s"
                + _UNKNOWN_OUTCOME * (phase[0] == "commit")
            ) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self.state.set("down", str(error).strip())
            raise StoreUnavailable(
                f"the database is unavailable: {str(error).strip()}"
                + _UNKNOWN_OUTCOME * (phase[0] == "commit")
            ) from None
        except psycopg.Error as error:
            raise StoreFailed(f"the database refused the query: {str(error).strip()}") from None
        except Exception:
            self.state.set("up")  # the database answered; the request was wrong
            raise
        self.state.set("up")
        return result

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """Borrow a slot; connect it if it has no connection, or if its connection has been
        idle a while and no longer answers (the server restarted: connections are stale)."""
        try:
            slot = await self._slots_receive.receive()
        except (trio.ClosedResourceError, trio.EndOfChannel):
            raise StoreUnavailable("the database adapter is not running") from None
        connection, last_used = (None, 0.0) if slot is None else slot
        try:
            if connection is not None and (
                connection.closed
                or connection.broken
                or (
                    trio.current_time() - last_used > IDLE_CHECK_AFTER
                    and not await self._answers(connection)
                )
            ):
                connection.close()  # it does not work: closing does not touch the network
                connection = None
            if connection is None:
                connection = await self._open()
            yield connection
        except BaseException:
            if (
                connection is not None
                and connection.broken
                and id(connection) not in self._abandoned
            ):
                connection.close()
                connection = None
            raise
        finally:
            if connection is not None and id(connection) in self._abandoned:
                self._abandoned.discard(id(connection))
                connection = None  # its thread closes it when it returns
            back: Slot = None if connection is None else (connection, trio.current_time())
            try:
                self._slots_send.send_nowait(back)  # never blocks: the slot came from here
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                if connection is not None:  # the adapter has stopped meanwhile
                    connection.close()

    async def _open(self) -> Connection:
        """Connect in a worker thread that we can abandon when cancelled (a connect attempt
        cannot be interrupted); a connection that arrives after we left is closed, not lost."""
        lock = threading.Lock()
        abandoned = False
        opened: list[Connection] = []

        def connect() -> Connection:
            connection = self._connect()
            with lock:
                if abandoned:
                    connection.close()
                else:
                    opened.append(connection)
            return connection

        try:
            return await trio.to_thread.run_sync(
                connect, limiter=self._threads, abandon_on_cancel=True
            )
        except trio.Cancelled:
            with lock:
                abandoned = True
                for connection in opened:  # it arrived just as we were cancelled
                    connection.close()
            raise

    def _connect(self) -> Connection:
        """In a worker thread: open a connection (and make the tables, the first time)."""
        # The server's own limits are a backstop at twice ours: normally our timeout fires
        # first and cancels the query (_in_thread).
        timeout_ms = int(self._timeout * 2000)
        connection = psycopg.connect(
            self._url,
            autocommit=True,  # transactions are explicit: connection.transaction()
            connect_timeout=max(2, int(self._timeout)),
            application_name="qakit-trio",
            options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )
        if not self._schema_ready:
            # Once per adapter, whichever thread connects first (the watch's and a request's
            # connect at start-up): the others wait here, then skip it. Checked without the
            # lock only, RESET_ORDERS_ON_START's DROP ran twice and lost the orders made between.
            with self._schema_lock:
                if not self._schema_ready:
                    make_schema(connection, self._schema)
                    self._schema_ready = True
        return connection

    async def _answers(self, connection: Connection) -> bool:
        """Does this idle connection still work? (Bounded like every query: _in_thread.)"""
        try:
            await self._in_thread(connection, lambda cursor: cursor.execute("SELECT 1"), ["query"])
        except psycopg.Error:
            return False
        return True

    async def _in_thread(
        self, connection: Connection, work: Callable[[Cursor], T], phase: list[str]
    ) -> T:
        """`work` in a worker thread, inside a transaction. `phase[0]` says how far it got:
        "query", then "commit" once COMMIT is on its way (a failure after that point has an
        unknown outcome).

        If we are cancelled meanwhile (a timeout, a client gone), the server is asked to cancel
        the query and we wait up to STOP_WAIT for the thread (`_ask_to_cancel`). A thread that
        has still not returned (a frozen or partitioned server) gets its socket shut down
        under it (its blocked libpq call fails at once, and nothing more, COMMIT included, can
        reach the server), and is abandoned: it closes its connection itself when it returns,
        and the connection is not given back to the pool. We never wait longer than that.
        """
        lock = threading.Lock()  # between the thread finishing and us abandoning it
        finished = abandoned = False

        def in_transaction() -> T:
            nonlocal finished
            try:
                with connection.transaction():
                    with connection.cursor() as cursor:
                        result = work(cursor)
                    phase[0] = "commit"
                return result
            finally:
                with lock:
                    finished = True
                    if abandoned:
                        connection.close()

        done = trio.Event()
        result: list[outcome.Outcome[T]] = []
        # The worker is shielded from our caller's cancellation: it waits for the thread until
        # we decide, after _stop, to abandon it (worker_scope.cancel()).
        worker_scope = trio.CancelScope(shield=True)

        async def worker() -> None:
            with worker_scope:
                result.append(
                    await trio.to_thread.run_sync(
                        outcome.capture,
                        in_transaction,
                        limiter=self._threads,
                        abandon_on_cancel=True,
                    )
                )
                done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker)
            try:
                await done.wait()
            except trio.Cancelled:
                with trio.CancelScope(shield=True) as scope:
                    scope.deadline = trio.current_time() + STOP_WAIT
                    await self._ask_to_cancel(connection, done)
                with lock:  # the thread cannot finish (nor close the connection) meanwhile
                    if not finished:
                        # Open while the thread runs (only it closes it, once abandoned).
                        with contextlib.suppress(OSError, ValueError, psycopg.Error):
                            shut_down_socket(connection.fileno())
                        abandoned = True
                        self._abandoned.add(id(connection))
                worker_scope.cancel()  # abandons the thread if it has still not returned
                raise  # never swallowed
        return result[0].unwrap()

    async def _ask_to_cancel(self, connection: Connection, done: trio.Event) -> None:
        """Ask the server to cancel the query, and wait for its thread to return. Bounded by
        the caller's shielded scope (STOP_WAIT); the request itself goes on in its abandoned
        thread for up to CANCEL_TIMEOUT, so a server that wakes up still gets it."""

        def cancel_on_server() -> None:
            with contextlib.suppress(psycopg.Error, OSError):
                connection.cancel_safe(timeout=CANCEL_TIMEOUT)

        await trio.to_thread.run_sync(cancel_on_server, abandon_on_cancel=True)
        await done.wait()


def shut_down_socket(fd: int) -> None:
    """Shut a connection's socket down for both directions, from another thread: a blocked
    read or write in the thread using it returns at once with an error (closing the fd could
    hand its number to another file; shutdown cannot)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)
