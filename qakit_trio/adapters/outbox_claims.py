"""The event outbox's rows claimed by one relay among several (order_relay.py): each row goes to
Kafka once, however many instances relay the same table at once (QAKIT_CLUSTER=kafka).

    a relay's round: ONE transaction, on a connection of the relay's own
        BEGIN
        SELECT the oldest unsent rows ... FOR UPDATE SKIP LOCKED     the claim: others skip them
        leave out the rows whose order has an earlier unsent row     (in_turn)
            that is not ours
        -> the Kafka adapter delivers them; we wait for the acknowledgement (the transaction
           stays open meanwhile, however long an outage makes it)
        UPDATE ... SET sent_at = now(); COMMIT                       the rows are done

Why a transaction held open across the delivery, not a claim column with a lease: the claim
ends exactly when its holder does. A relay that crashes, is killed or loses its connection
releases its rows (the server ends its session, and with it the locks), and the next relay takes
them at once; a lease would either expire under a relay that is only slow (Kafka down for longer
than the lease: the same rows sent twice with no crash at all) or keep a dead relay's rows
waiting for it. Under READ COMMITTED a row another relay marked sent while we looked is checked
again under its lock and skipped: claiming and testing `sent_at IS NULL` are one step.

Per-order order. One order's rows go out in id order, the order of its changes
(postgres_orders.py). Relays each take the oldest rows that are free, so B may claim a later
change of an order whose earlier row A still holds: B leaves that order's rows alone this round
(`in_turn`; they stay unsent) and looks again shortly. An order's rows are in flight at one
relay at a time, oldest first, and a row is sent only once every earlier row of its order is.

At least once under failures, never lost:
- a crash, a lost connection or a database restart after Kafka acknowledged and before the
  COMMIT: the rows are still unsent and go again, from whichever relay takes them next;
- a relay stopped while its delivery waits (the Kafka adapter has the records and may yet send
  them): the same.
A row is marked sent only in the transaction that waited for its acknowledgement.

Cost: one connection per relay, held between rounds. While Kafka is down a relay's transaction
stays open (idle in transaction) with its rows locked; the other relays skip them.
`idle_in_transaction_session_timeout` is 0 for this session on purpose: ending a relay that
waits for Kafka would send its rows twice. (A relay frozen with SIGSTOP keeps its rows until it
thaws or its connection dies.)

psycopg's synchronous API runs in a worker thread, one call at a time, each bounded by
QAKIT_DB_TIMEOUT like the pool's (postgres.py); a call cancelled while its thread runs gets its
socket shut down under it (the server then ends the session). psycopg's errors become the
store's here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg
import trio

from qakit_trio.adapters.postgres import make_schema, shut_down_socket
from qakit_trio.errors import StoreFailed, StoreUnavailable

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]
Row = tuple[int, int, str]  # (row id, order id, the order topic's record value)
Deliver = Callable[[list[tuple[int, str]]], Awaitable[bool]]  # (row id, value): acknowledged?

CLAIM = (
    "SELECT id, order_id, value FROM order_outbox WHERE sent_at IS NULL "
    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)
# the oldest unsent row of each of our orders that is not ours (another relay holds it, or it
# is newer than what our LIMIT took)
ELSEWHERE = (
    "SELECT order_id, min(id) FROM order_outbox WHERE sent_at IS NULL "
    "AND order_id = ANY(%s) AND NOT (id = ANY(%s)) GROUP BY order_id"
)


@dataclass(frozen=True, slots=True)
class Round:
    claimed: int = 0  # rows locked this round
    relayed: int = 0  # delivered, acknowledged and marked sent
    held_back: int = 0  # claimed, but an earlier row of their order is elsewhere: left unsent

    @property
    def undelivered(self) -> bool:
        """Rows were handed over and the Kafka adapter stopped before acknowledging them."""
        return self.claimed > self.relayed + self.held_back


def in_turn(rows: Sequence[Row], first_elsewhere: Mapping[int, int]) -> list[Row]:
    """The claimed rows whose turn it is: each older than every unsent row of its order that is
    not ours (`first_elsewhere`: order id -> the smallest such row id)."""
    return [row for row in rows if row[0] < first_elsewhere.get(row[1], row[0] + 1)]


def _claim(limit: int, connection: Connection) -> tuple[list[Row], dict[int, int]]:
    connection.execute("BEGIN")
    rows: list[Row] = [
        (int(r[0]), int(r[1]), str(r[2])) for r in connection.execute(CLAIM, (limit,)).fetchall()
    ]
    if not rows:
        return rows, {}
    orders = sorted({row[1] for row in rows})
    ours = [row[0] for row in rows]
    elsewhere = connection.execute(ELSEWHERE, (orders, ours)).fetchall()
    return rows, {int(order): int(first) for order, first in elsewhere}


def _mark_sent(row_ids: list[int], connection: Connection) -> None:
    connection.execute("UPDATE order_outbox SET sent_at = now() WHERE id = ANY(%s)", (row_ids,))
    connection.execute("COMMIT")


def _release(connection: Connection) -> None:
    connection.execute("ROLLBACK")


class OutboxClaims:
    """A relay's connection: rounds of claim, deliver, mark sent (the module's docstring)."""

    def __init__(self, url: str, *, timeout: float, schema: Sequence[str]) -> None:
        self._url = url
        self._timeout = timeout
        self._schema = list(schema)  # the event outbox's tables: made if missing, once
        self._schema_ready = False
        self._connection: Connection | None = None
        # one call at a time; +1 for a thread abandoned under a shut-down socket, still returning
        self._threads = trio.CapacityLimiter(2)

    async def relay(self, limit: int, deliver: Deliver) -> Round:
        """One round: claim up to `limit` rows, deliver those whose turn it is, mark them sent.
        StoreUnavailable or StoreFailed from the database; the claim ends with the error."""
        try:
            rows, first_elsewhere = await self._call(partial(_claim, limit))
            turn = in_turn(rows, first_elsewhere)
            delivered = bool(turn) and await deliver([(row[0], row[2]) for row in turn])
            if delivered:
                await self._call(partial(_mark_sent, [row[0] for row in turn]))
            else:
                await self._call(_release)
        except BaseException:
            self.close()  # the server ends the transaction with the session: the rows are free
            raise
        relayed = len(turn) if delivered else 0
        return Round(claimed=len(rows), relayed=relayed, held_back=len(rows) - len(turn))

    def close(self) -> None:
        """Synchronous, for cleanup under cancellation (closing does not wait for the server)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def _call(self, work: Callable[[Connection], T]) -> T:
        try:
            with trio.fail_after(self._timeout):
                if self._connection is None:
                    self._connection = await self._in_thread(None, lambda _: self._connect())
                return await self._in_thread(self._connection, work)
        except trio.TooSlowError:
            self.close()
            raise StoreUnavailable(
                f"the database did not answer the relay within {self._timeout} s"
            ) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self.close()
            raise StoreUnavailable(f"the database is unavailable: {str(error).strip()}") from None
        except psycopg.Error as error:
            self.close()  # its transaction is aborted: a new connection starts clean
            raise StoreFailed(f"the database refused the query: {str(error).strip()}") from None

    def _connect(self) -> Connection:
        """In a worker thread: open the relay's connection (and the tables, the first time)."""
        timeout_ms = int(self._timeout * 2000)  # the server's limits: a backstop (postgres.py)
        connection = psycopg.connect(
            self._url,
            autocommit=True,  # BEGIN and COMMIT are ours (_claim, _mark_sent)
            connect_timeout=max(2, int(self._timeout)),
            application_name="qakit-trio event outbox relay",
            options=(
                f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms} "
                "-c idle_in_transaction_session_timeout=0"
            ),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )
        if not self._schema_ready:  # (made if missing: running it twice does no harm)
            make_schema(connection, self._schema)
            self._schema_ready = True
        return connection

    async def _in_thread(self, connection: Connection | None, work: Callable[[Any], T]) -> T:
        """`work(connection)` in a worker thread. Cancelled meanwhile: the socket is shut down
        under the thread (its libpq call fails at once; the server ends the session) and the
        thread is abandoned; it closes what it opened or used when it returns."""
        lock = threading.Lock()
        finished = abandoned = False
        made: list[object] = []  # what the thread returned (a new connection, for _connect)

        def run() -> T:
            nonlocal finished
            try:
                result = work(connection)
                made.append(result)
                return result
            finally:
                with lock:
                    finished = True
                    if abandoned:
                        _close_connections(connection, *made)

        try:
            return await trio.to_thread.run_sync(run, limiter=self._threads, abandon_on_cancel=True)
        except trio.Cancelled:
            with lock:
                if finished:  # it returned just as we were cancelled: nothing of it is kept
                    _close_connections(connection, *made)
                else:
                    abandoned = True
                    if connection is not None:
                        with contextlib.suppress(OSError, ValueError, psycopg.Error):
                            shut_down_socket(connection.fileno())
            if self._connection is connection:
                self._connection = None
            raise


def _close_connections(*things: object) -> None:
    for thing in things:
        if isinstance(thing, psycopg.Connection):
            thing.close()
