"""What only PostgreSQL has: an existing QA Kit database, queries cancelled on the server,
an outage with recovery (a real server stopped and started again), and a frozen server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from typing import Any

import httpx
import psycopg
import pytest
import trio
from trio_websocket import open_websocket_url

from qakit_trio.adapters.postgres import CANCEL_TIMEOUT, Database
from qakit_trio.adapters.postgres_orders import PostgresOrderStore
from qakit_trio.config import load_settings

from ..support import pg
from ..support.helpers import connected, receive_json, request, running_server
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT

ORIGINAL_SCHEMA = """
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer text NOT NULL,
    status text NOT NULL DEFAULT 'created',
    created_at timestamptz,
    updated_at timestamptz
)"""


async def test_an_existing_qa_kit_database_is_read_and_used(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute(ORIGINAL_SCHEMA)
        db.execute(
            "INSERT INTO orders (customer, status) VALUES ('Old', 'paid'), ('Older', 'created')"
        )
    # the original stand's SQLAlchemy form, read as the service reads it: from the environment
    sqlalchemy_form = database_url.replace("postgresql://", "postgresql+psycopg2://")
    from_env = load_settings({"DATABASE_URL": sqlalchemy_form}).database_url
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(database_url=from_env) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
        ):
            listed = await http.get("/orders")
            assert listed.status_code == 200, listed.text
            orders = listed.json()
            assert orders == [
                {"id": 1, "customer": "Old", "status": "paid"},
                {"id": 2, "customer": "Older", "status": "created"},
            ]
            viewed = await request(ws, {"action": "get_order", "payload": {"id": 1}})
            assert (viewed[1]["data"]["customer"], viewed[1]["data"]["created_at"]) == (
                "Old",
                None,
            )  # the original's table had no times for these rows
            shipped = await request(
                ws, {"action": "change_status", "payload": {"id": 1, "status": "shipped"}}
            )
            assert shipped[1]["data"]["status"] == "shipped"
            assert (await http.post("/orders", json={"customer": "New"})).json()["id"] == 3


async def test_a_query_that_runs_out_of_time_is_cancelled_on_the_server(
    database_url: str,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(database_url=database_url, db_timeout=1.0) as server,
            connected(server) as (ws, _),
        ):
            await request(ws, {"action": "create_order", "payload": {"customer": "a"}})
            with psycopg.connect(database_url) as blocker:  # holds the row's lock
                blocker.execute("SELECT * FROM orders WHERE id = 1 FOR UPDATE")
                frames = await request(
                    ws,
                    {"action": "change_status", "payload": {"id": 1, "status": "paid"}},
                    until="error",
                )
                assert frames[-1]["error"] == "db_unavailable"
                assert "within 1.0 s" in frames[-1]["message"]
                # The server-side backstop (lock_timeout) is 2 s: the wait ended after 1 s
                # because we cancelled it, and nothing of ours is still waiting.
                waiting = blocker.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'qakit-trio' AND wait_event_type = 'Lock'"
                ).fetchone()
                assert waiting == (0,)
                blocker.rollback()
            assert (await request(ws, {"action": "get_order", "payload": {"id": 1}}))[1]["data"][
                "status"
            ] == "created"


async def test_outage_then_recovery_without_restart(own_cluster: pg.Cluster) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(database_url=own_cluster.url(), db_timeout=2.0) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
            open_websocket_url(f"{server.ws}/ws/orders") as legacy,
        ):
            first = await request(ws, {"action": "create_order", "payload": {"customer": "a"}})
            assert first[1]["data"]["id"] == 1
            assert json.loads(await legacy.get_message())["type"] == "order_created"
            health = (await http.get("/health")).json()
            assert (health["status"], health["database"]["state"]) == ("ok", "up")

            await trio.to_thread.run_sync(own_cluster.stop)
            with trio.fail_after(2.0 + 3):  # the database timeout bounds the answer
                down = await request(
                    ws, {"action": "create_order", "payload": {"customer": "b"}}, until="error"
                )
            assert down[-1]["error"] == "db_unavailable"
            rest = await http.post("/orders", json={"customer": "b"})
            assert (rest.status_code, rest.json()["error"]) == (503, "db_unavailable")
            assert (await http.get("/orders")).status_code == 503
            await legacy.send_message(json.dumps({"action": "get_order", "order_id": 1}))
            assert json.loads(await legacy.get_message())["error"] == "db_unavailable"
            health = (await http.get("/health")).json()
            assert health["status"] == "degraded"
            assert health["database"]["state"] == "down"
            # everything that does not need the database keeps working
            assert [f["type"] for f in await request(ws, {"action": "echo"})] == [
                "ack",
                "echo",
                "event",
            ]
            assert (await http.post("/broadcast?message=still+here")).status_code == 200
            assert (await receive_json(ws))["message"] == "still here"

            await trio.to_thread.run_sync(own_cluster.start)
            again = await request(ws, {"action": "create_order", "payload": {"customer": "c"}})
            assert again[1]["type"] == "order", again
            assert again[1]["data"]["id"] == 2  # the outage lost nothing, made nothing up
            assert (await http.get("/health")).json()["database"]["state"] == "up"
            assert [o["customer"] for o in (await http.get("/orders")).json()] == ["a", "c"]


def cluster_pids(cluster: pg.Cluster) -> list[int]:
    """The postmaster and every backend of a cluster (to freeze it like a hung server)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
    ).stdout.split()
    return [postmaster, *map(int, children)]


async def test_a_frozen_database_is_bounded_and_a_failed_change_is_not_committed(
    own_cluster: pg.Cluster,
) -> None:
    """SIGSTOP on every PostgreSQL process (a hung or partitioned server): each request is
    answered within QAKIT_DB_TIMEOUT + the cancel margin, as db_unavailable; a change answered
    as failed is not in the database after it resumes, unless the answer said its outcome is
    unknown."""
    db_timeout = 1.0
    bound = db_timeout + CANCEL_TIMEOUT + 1.0
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(database_url=own_cluster.url(), db_timeout=db_timeout) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
        ):
            assert (await http.post("/orders", json={"customer": "before"})).status_code == 200
            pids = cluster_pids(own_cluster)
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            answers: list[httpx.Response] = []
            try:

                async def post(n: int) -> None:
                    with trio.fail_after(bound):
                        answers.append(await http.post("/orders", json={"customer": f"f{n}"}))

                async with trio.open_nursery() as nursery:
                    for n in range(3):
                        nursery.start_soon(post, n)
                with trio.fail_after(bound):
                    frames = await request(
                        ws, {"action": "create_order", "payload": {"customer": "ws"}}, until="error"
                    )
                assert frames[-1]["error"] == "db_unavailable"
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            assert [a.status_code for a in answers] == [503, 503, 503]
            assert all(a.json()["error"] == "db_unavailable" for a in answers)
            await server.app.services.store._db.state.wait_for("up")  # type: ignore[attr-defined]
            unknown = {
                a.request.content.decode()
                for a in answers
                if "outcome is unknown" in a.json()["detail"]
            }
            stored = [o["customer"] for o in (await http.get("/orders")).json()]
            for customer in stored[1:]:  # anything stored was answered "outcome unknown"
                assert json.dumps({"customer": customer}).replace(" ", "") in {
                    u.replace(" ", "") for u in unknown
                }, (customer, stored, unknown)
            assert stored[0] == "before"
            assert (await http.post("/orders", json={"customer": "after"})).status_code == 200


async def test_sent_outbox_rows_are_pruned_after_the_retention_only(database_url: str) -> None:
    store = PostgresOrderStore(database_url, pool_size=2, timeout=5.0, event_outbox=True)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            for customer in ("old", "new", "unsent"):
                await store.create(customer)
            rows = await store.unsent(10)
            await store.mark_sent([row_id for row_id, _ in rows[:2]])
            with psycopg.connect(database_url, autocommit=True) as db:  # "old" sent 2 h ago
                db.execute(
                    "UPDATE order_outbox SET sent_at = now() - interval '2 hours' WHERE id = %s",
                    (rows[0][0],),
                )
            assert await store.prune_sent(3600, 1000) == 1
            assert await store.prune_sent(3600, 1000) == 0
            with psycopg.connect(database_url) as db:
                left = db.execute(
                    "SELECT order_id, sent_at IS NULL FROM order_outbox ORDER BY id"
                ).fetchall()
            assert left == [(2, False), (3, True)]  # the recent sent row and the unsent one
            nursery.cancel_scope.cancel()


async def test_the_schema_is_made_once_when_two_connections_open_together(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's watch and a request's connect both open a connection at start-up. Both
    saw the schema not made yet, so RESET_ORDERS_ON_START's DROP ran twice, and an order made in
    between was lost (a CI run: `test_reset_orders_on_start_starts_ids_at_one_again`). Here both
    connects return together (a barrier), then count how often the schema ran."""
    real_connect = psycopg.connect
    both_connected = threading.Barrier(2, timeout=TIMEOUT)

    def connect_together(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
        connection = real_connect(*args, **kwargs)
        both_connected.wait()
        return connection

    monkeypatch.setattr(psycopg, "connect", connect_together)
    schema = [
        "CREATE TABLE IF NOT EXISTS schema_runs (n int)",
        "INSERT INTO schema_runs VALUES (1)",
    ]
    database = Database(database_url, pool_size=2, timeout=TIMEOUT, schema=schema)
    opened: list[psycopg.Connection[Any]] = []

    async def open_one() -> None:
        opened.append(await trio.to_thread.run_sync(database._connect))

    with trio.fail_after(TIMEOUT * 2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(open_one)
            nursery.start_soon(open_one)
    monkeypatch.undo()
    for connection in opened:
        connection.close()
    with psycopg.connect(database_url, autocommit=True) as db:
        runs = db.execute("SELECT count(*) FROM schema_runs").fetchone()
    assert runs == (1,)
