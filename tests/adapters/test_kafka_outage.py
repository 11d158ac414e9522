"""A Kafka outage, on a real broker that we kill and start again, with orders in PostgreSQL:
nothing on the WebSocket or REST side notices (no close, no delay, no error), /health says
Kafka is down, and every order event is in the topic afterwards (duplicates allowed, losses
not) - even when the service itself is killed while the events wait in the outbox."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from qakit_trio.adapters.kafka import KafkaPublisher

from ..sessions.test_kafka_events import change_orders_through_every_door, per_order
from ..support import kafka_broker
from ..support.helpers import connected, receive_json, request, running_server, server_process
from ..support.kafka_topics import has_events, read_topic
from ..support.pg import free_port
from ..support.timeouts import LOAD_TIMEOUT

KAFKA_TIMEOUT = 10.0  # a reply that waited for even one Kafka attempt would be this late
FAST = 3.0  # what the WebSocket and REST side must fit in while Kafka is down


@pytest.fixture
def own_broker() -> Iterator[kafka_broker.Broker]:
    """A Kafka broker for one test, which may kill it and start it again."""
    broker = kafka_broker.Broker()
    try:
        broker.start()
        yield broker
    finally:
        broker.remove()


async def test_outage_changes_orders_then_recovery_loses_nothing(
    own_broker: kafka_broker.Broker,
    database_url: str,
    kafka_settings: dict[str, Any],
) -> None:
    settings = {
        **kafka_settings,
        "kafka_bootstrap": own_broker.bootstrap,
        "kafka_timeout": KAFKA_TIMEOUT,
        "database_url": database_url,
    }
    order_topic = settings["kafka_order_topic"]
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(**settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
        ):
            kafka = server.app.services.kafka
            assert isinstance(kafka, KafkaPublisher)
            await kafka.state.wait_for("up")
            await trio.to_thread.run_sync(own_broker.stop)
            await kafka.state.wait_for("down")
            health = (await http.get("/health")).json()
            assert (health["status"], health["kafka"]["state"]) == ("degraded", "down")

            with trio.fail_after(FAST):  # nothing waits for Kafka
                made = await change_orders_through_every_door(server)
                for n in range(50):
                    answer = await request(ws, {"action": "echo", "payload": {"n": n}})
                    assert [f["type"] for f in answer] == ["ack", "echo", "event"]
                assert (await http.post("/broadcast?message=still+here")).status_code == 200
                assert (await receive_json(ws))["message"] == "still here"
            outbox = (await http.get("/health")).json()["kafka"]["event_outbox"]
            assert outbox["relayed"] == 0  # all of it waits in PostgreSQL's event outbox
            event_ids = await order_event_ids(database_url)
            assert len(event_ids) == len(made)

            await trio.to_thread.run_sync(own_broker.start)
            read = await read_topic(own_broker.bootstrap, order_topic, has_events(event_ids))
            await kafka.state.wait_for("up")
            assert (await http.get("/health")).json()["status"] == "ok"
            assert (await request(ws, {"action": "echo"}))[0]["type"] == "ack"  # never closed

    expected: dict[int, list[str]] = {}
    for order_id, status in made:
        expected.setdefault(order_id, []).append(status)
    assert per_order(read) == expected


async def test_events_in_the_outbox_survive_a_killed_service(
    own_broker: kafka_broker.Broker,
    database_url: str,
    kafka_settings: dict[str, Any],
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap,
        "KAFKA_ORDER_TOPIC": kafka_settings["kafka_order_topic"],
        "KAFKA_WS_TOPIC": kafka_settings["kafka_ws_topic"],
        "QAKIT_PING_INTERVAL": "0",
    }
    with trio.fail_after(LOAD_TIMEOUT):
        await trio.to_thread.run_sync(own_broker.stop)
        async with (
            server_process(
                [sys.executable, "-m", "qakit_trio", "--bind", "127.0.0.1:0"], env
            ) as first,
            httpx.AsyncClient(base_url=first.urls[0]) as http,
            open_websocket_url(f"{first.ws}/ws/orders") as legacy,
        ):
            for customer in ("x", "y"):
                assert (await http.post("/orders", json={"customer": customer})).status_code == 200
            await legacy.send_message(
                json.dumps({"action": "change_status", "order_id": 1, "status": "paid"})
            )
            while (result := await receive_json(legacy))["type"] != "result":
                pass  # the two order_created broadcasts
            assert result["order"]["status"] == "paid"
            event_ids = await order_event_ids(database_url)
            first.process.kill()  # a crash: no shutdown, no flush
        assert len(event_ids) == 3

        await trio.to_thread.run_sync(own_broker.start)
        settings = {
            **kafka_settings,
            "kafka_bootstrap": own_broker.bootstrap,
            "database_url": database_url,
        }
        async with running_server(**settings):  # a new process would do the same
            read = await read_topic(
                own_broker.bootstrap, kafka_settings["kafka_order_topic"], has_events(event_ids)
            )
    assert per_order(read) == {1: ["created", "paid"], 2: ["created"]}


async def order_event_ids(database_url: str) -> set[str]:
    """The event ids of every order change so far, as the event outbox table holds them."""
    import psycopg

    def query() -> set[str]:
        with psycopg.connect(database_url) as db:
            return {row[0] for row in db.execute("SELECT event_id FROM order_outbox")}

    return await trio.to_thread.run_sync(query)


async def test_the_service_starts_and_serves_when_kafka_is_not_there() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with trio.fail_after(FAST + KAFKA_TIMEOUT):
        async with (
            running_server(kafka_bootstrap=nowhere, kafka_timeout=KAFKA_TIMEOUT) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            with trio.fail_after(FAST):  # neither the start nor a reply waits for Kafka
                async with connected(server) as (ws, _):
                    answer = await request(ws, {"action": "echo"})
                    assert [f["type"] for f in answer] == ["ack", "echo", "event"]
                assert (await http.post("/orders", json={"customer": "a"})).status_code == 200
            kafka = server.app.services.kafka
            assert isinstance(kafka, KafkaPublisher)
            await kafka.state.wait_for("down")
            health = (await http.get("/health")).json()
            assert health["kafka"]["waiting"] == 3  # the echo event, order.created, its order
            assert health["kafka"]["dropped"] == 0
