"""The order store on a real PostgreSQL: RESET_ORDERS_ON_START (the original stand's compose
sets it so that ids start at 1, as in the guides; without it the orders of the last run are
kept), and the answer's time bound when the server is frozen: end to end, and the adapter's
deadline logic on trio's virtual clock."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
import trio
import trio.testing

from qakit_trio.adapters.postgres import Database
from qakit_trio.errors import StoreUnavailable

from ..support import pg
from ..support.helpers import connected, request, running_server
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT


async def create(database_url: str, customer: str, **settings: Any) -> int:
    async with (
        running_server(database_url=database_url, **settings) as server,
        httpx.AsyncClient(base_url=server.http) as http,
    ):
        response = await http.post("/orders", json={"customer": customer})
        assert response.status_code == 200, response.text
        order_id: int = response.json()["id"]
        return order_id


async def test_reset_orders_on_start_starts_ids_at_one_again(
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(TIMEOUT):
        assert [await create(database_url, name) for name in ("a", "b")] == [1, 2]
        assert await create(database_url, "kept") == 3  # another start, no reset: kept
        with caplog.at_level(logging.WARNING):
            assert await create(database_url, "fresh", reset_orders_on_start=True) == 1
        warning = next(r for r in caplog.records if "RESET_ORDERS_ON_START" in r.getMessage())
        assert warning.levelno == logging.WARNING
        async with (
            running_server(database_url=database_url) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            assert (await http.get("/orders")).json() == [
                {"id": 1, "customer": "fresh", "status": "created"}
            ]


def freeze(cluster: pg.Cluster, sig: signal.Signals) -> None:
    """SIGSTOP (a hung or partitioned server: TCP is accepted, nothing answers) or SIGCONT to
    the postmaster and every backend."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
    ).stdout.split()
    for pid in [postmaster, *map(int, children)]:
        os.kill(pid, sig)


async def test_a_frozen_database_answers_within_the_documented_bound(
    own_cluster: pg.Cluster,
) -> None:
    """README: db_unavailable within QAKIT_DB_TIMEOUT + 0.5 s. It came after timeout + 1 s (6.0
    s for 5): the call waited for the frozen server to take its cancel request. REST and /ws,
    a query on a pooled connection and, in the second round, connecting anew."""
    db_timeout = 2.0
    bound = db_timeout + 0.5
    timings: list[tuple[str, float, int | str]] = []
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(
                database_url=own_cluster.url(), db_timeout=db_timeout, db_pool_size=4
            ) as server,
            httpx.AsyncClient(base_url=server.http, timeout=30) as http,
            connected(server) as (ws, _),
        ):
            assert (await http.post("/orders", json={"customer": "before"})).status_code == 200

            async def timed(name: str, call: Any) -> None:
                started = trio.current_time()
                with trio.fail_after(bound + 5):  # a hang is a failure, not a stuck suite
                    answer = await call()
                timings.append((name, trio.current_time() - started, answer))

            async def rest_post() -> int:
                return (await http.post("/orders", json={"customer": "frozen"})).status_code

            async def rest_get() -> int:
                return (await http.get("/orders")).status_code

            async def ws_create() -> str:
                frames = await request(
                    ws, {"action": "create_order", "payload": {"customer": "ws"}}, until="error"
                )
                return str(frames[-1]["error"])

            freeze(own_cluster, signal.SIGSTOP)
            try:
                for _round in range(2):  # then: connections given up, new ones to connect
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(timed, "POST /orders", rest_post)
                        nursery.start_soon(timed, "GET /orders", rest_get)
                        nursery.start_soon(timed, "create_order", ws_create)
            finally:
                freeze(own_cluster, signal.SIGCONT)
            assert sorted(str(answer) for _, _, answer in timings) == [
                "503",
                "503",
                "503",
                "503",
                "db_unavailable",
                "db_unavailable",
            ], timings
            slowest = max(took for _, took, _ in timings)
            assert slowest <= bound, timings


class FrozenConnection:
    """psycopg's connection as far as the adapter uses it, to a server that has stopped
    answering: a query waits on the socket until it is shut down, a cancel request gets no
    answer, a new connection never completes. `thaw` lets every waiting thread go."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.frozen = False
        self.committed = self.closed = self.broken = False
        self.thawed = threading.Event()

    def fileno(self) -> int:
        return self.ours.fileno()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield  # an exception inside: rolled back (nothing is recorded)
        self.committed = True

    @contextmanager
    def cursor(self) -> Iterator[FrozenConnection]:
        yield self

    def execute(self, sql: str, params: Any = None) -> None:
        if self.frozen and self.ours.recv(1) == b"":  # an answer that never comes
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    def cancel_safe(self, timeout: float) -> None:
        self.thawed.wait()

    def close(self) -> None:
        self.closed = True

    def connect(self) -> FrozenConnection:
        if self.frozen:
            self.thawed.wait()
        return self

    def freeze(self) -> None:
        self.frozen, self.committed = True, False

    def thaw(self) -> None:
        self.thawed.set()
        self.ours.close()
        self.theirs.close()


async def test_a_frozen_query_is_answered_within_the_bound_on_the_virtual_clock(
    mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline logic on the virtual clock (it jumps once trio has been idle for 0.2 s of
    real time, so a fake's thread that can answer does so first): a frozen server is answered
    StoreUnavailable at QAKIT_DB_TIMEOUT + STOP_WAIT, within the documented + 0.5 s (it was
    + 1 s: the cancel request's wait), and the change that was cut off is not committed."""
    mock_clock.autojump_threshold = 0.2
    connection = FrozenConnection()
    database = Database("postgresql://frozen.invalid/qa", pool_size=1, timeout=5.0, schema=[])
    monkeypatch.setattr(database, "_connect", connection.connect)
    try:
        with trio.fail_after(TIMEOUT):  # virtual seconds: a hang fails at once
            async with trio.open_nursery() as nursery:
                await nursery.start(database.run)
                await database.state.wait_for("up")  # the first check had an answer
                connection.freeze()
                started = trio.current_time()
                with pytest.raises(StoreUnavailable) as caught:
                    await database.call(lambda cursor: cursor.execute("INSERT ..."))
                took = trio.current_time() - started
                assert 5.0 <= took <= 5.0 + 0.5  # it is 5.25: STOP_WAIT
                assert str(caught.value) == "the database did not answer within 5.0 s"
                assert not connection.committed
                nursery.cancel_scope.cancel()
    finally:
        connection.thaw()
