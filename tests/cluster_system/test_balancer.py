"""Three qakit-trio instances behind Debian's HAProxy, as the compose stand runs two
(compose/haproxy/haproxy.cfg): clients connect through the balancer and spread over the
instances (HAProxy's X-Served-By names each one's); HAProxy's health checks on GET /health take
a killed instance out while the others keep serving. With the Kafka bus (QAKIT_CLUSTER=kafka):
10,000 seeded publications from publishers on every instance reach every subscriber exactly
once, in one order; a REST change of an order reaches the `orders` channel and /ws/orders on
every instance. A killed instance's clients recovering through the balancer, and presence:
test_balancer_kill.py."""

from __future__ import annotations

import itertools
import random
from functools import partial

import httpx
import pytest
import trio

from ..support import haproxy, kafka_topics
from ..support.timeouts import LOAD_TIMEOUT, SERVICE_TIMEOUT
from .clients import Client, Frame, connect, connect_legacy, spread

pytestmark = pytest.mark.system  # HAProxy (apt-get if missing), three stands as processes

NAMES = ["qakit-1", "qakit-2", "qakit-3"]


async def echo(client: Client) -> None:
    """A round trip on a live connection (its reply is an echo frame)."""
    frames = await client.request("echo", {"alive": True})
    assert [frame["type"] for frame in frames] == ["echo", "event"], frames


@pytest.mark.parametrize("balance", haproxy.BALANCES)
async def test_clients_spread_over_the_instances_and_a_killed_one_is_taken_out(
    database_url: str, kafka_bootstrap: str, balance: str
) -> None:
    env = haproxy.cluster_env(database_url, kafka_bootstrap, cluster=False)  # the balancer alone
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            haproxy.instances(3, env) as stands,
            haproxy.balancer(stands, balance) as front,
            trio.open_nursery() as nursery,
        ):
            placed = await spread(partial(connect, nursery, front.ws, "lobby"), NAMES, 2)
            servers = await front.servers()
            assert {name: state.sessions for name, state in servers.items()} == dict.fromkeys(
                NAMES, 2
            )
            # /health answers through the balancer, from each instance in turn
            async with httpx.AsyncClient(base_url=front.http) as http:
                answers = [await http.get("/health") for _ in NAMES]
            assert {answer.headers[haproxy.SERVED_BY] for answer in answers} <= set(NAMES)
            for answer in answers:
                assert answer.status_code == 200
                body = answer.json()
                assert (
                    body.get("instance", answer.headers[haproxy.SERVED_BY])
                    == (answer.headers[haproxy.SERVED_BY])
                )

            stands[2].kill()  # qakit-3: SIGKILL
            lost = placed["qakit-3"]
            for client in lost:
                await client.wait_closed()
            with trio.fail_after(haproxy.DOWN_WITHIN):
                await front.wait_for_down("qakit-3")
            servers = await front.servers()
            assert servers["qakit-3"].status == "DOWN", servers
            assert [servers[name].status for name in NAMES[:2]] == ["UP", "UP"], servers
            for client in placed["qakit-1"] + placed["qakit-2"]:
                assert not client.closed
                await echo(client)
            # the lost clients come back through the same URL, to the live instances
            for client in lost:
                assert client.close_code == 1006, client.close_code  # no close frame
                again = await connect(nursery, front.ws, "lobby")
                assert again.instance in NAMES[:2]
                await echo(again)
            nursery.cancel_scope.cancel()


SEED = 28  # the number: the same plan of publications on every run
TOTAL = 10_000


def plan(publishers: int) -> list[list[str]]:
    """TOTAL publications, each given to one publisher: every message unique, its index first."""
    rng = random.Random(SEED)
    messages: list[list[str]] = [[] for _ in range(publishers)]
    for index in range(TOTAL):
        messages[rng.randrange(publishers)].append(f"{index:05d}-{rng.getrandbits(32):08x}")
    return messages


async def test_every_publication_reaches_every_subscriber_once_in_one_order(
    database_url: str, kafka_bootstrap: str
) -> None:
    env = haproxy.cluster_env(database_url, kafka_bootstrap)
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            haproxy.instances(3, env) as stands,
            haproxy.balancer(stands) as front,
            trio.open_nursery() as nursery,
        ):
            placed = await spread(partial(connect, nursery, front.ws, "fanout"), NAMES, 3)
            everyone = [client for clients in placed.values() for client in clients]
            publishers = [c for name in NAMES for c in placed[name][:2]]  # two on every one
            messages = plan(len(publishers))
            started = trio.current_time()
            async with trio.open_nursery() as publishing:
                for publisher, mine in zip(publishers, messages, strict=True):
                    publishing.start_soon(publish_all, publisher, mine)
            for client in everyone:
                await client.wait(lambda c: len(c.publications) >= TOTAL)
            took = trio.current_time() - started
            nursery.cancel_scope.cancel()
    first = everyone[0].publications
    assert len(first) == TOTAL
    assert len({p.epoch for p in first}) == 1
    offsets = [p.offset for p in first]
    assert all(a < b for a, b in itertools.pairwise(offsets)), "offsets not strictly increasing"
    assert sorted(p.message for p in first) == sorted(m for mine in messages for m in mine)
    for client in everyone:  # the same sequence on every instance, each publication once
        assert client.publications == first, (client.name, client.instance)
    for publisher, mine in zip(publishers, messages, strict=True):
        assert publisher.acknowledged == mine  # every broadcast confirmed, in its order
        assert [p.message for p in first if p.message in set(mine)] == mine
    print(  # the figures, for the report (-s)
        f"{TOTAL} publications from {len(publishers)} publishers (two per instance) to "
        f"{len(everyone)} subscribers on {len(NAMES)} instances in {took:.1f} s "
        f"({TOTAL / took:.0f} publications/s, {TOTAL * len(everyone) / took:.0f} frames/s); "
        f"offsets {offsets[0]}..{offsets[-1]}"
    )


async def publish_all(publisher: Client, messages: list[str]) -> None:
    for message in messages:
        await publisher.publish(message)
    await publisher.confirmed()


CHANGES = ["pay", "ship", "deliver"]  # after the creation: four events, the last one final
STATUSES = ["created", "paid", "shipped", "delivered"]


async def test_a_rest_order_change_reaches_orders_clients_on_every_instance(
    database_url: str, kafka_bootstrap: str
) -> None:
    env = haproxy.cluster_env(database_url, kafka_bootstrap)
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            haproxy.instances(3, env) as stands,
            haproxy.balancer(stands, "roundrobin") as front,
            trio.open_nursery() as nursery,
            httpx.AsyncClient(base_url=front.http) as http,
        ):
            orders = partial(connect, nursery, front.ws, "orders")
            channel = one_each(await spread(orders, NAMES, 1))
            legacy = one_each(await spread(partial(connect_legacy, nursery, front.ws), NAMES, 1))
            for client in legacy:  # its session runs: it hears the orders from now on
                await client.send_legacy({"action": "ping"})
                await client.wait(lambda c: bool(c.frames("pong")))
            created = await http.post("/orders", json={"customer": "Yulia"})
            assert created.status_code == 200, created.text
            served = [created.headers[haproxy.SERVED_BY]]
            order = created.json()["id"]
            for change in CHANGES:
                answer = await http.post(f"/orders/{order}/{change}")
                assert answer.status_code == 200, answer.text
                served.append(answer.headers[haproxy.SERVED_BY])
            # until the last change: the bus is in order, so what came before it has come
            for client in channel:
                await client.wait(lambda c: "delivered" in statuses(events_of(c, order)))
            for client in legacy:
                await client.wait(lambda c: "delivered" in statuses(legacy_events_of(c, order)))
            event_ids = [event["event_id"] for event in events_of(channel[0], order)]
            # and Kafka's order topic has each event once, with a relay on every instance
            records = await kafka_topics.read_topic(
                kafka_bootstrap, env["KAFKA_ORDER_TOPIC"], kafka_topics.has_events(set(event_ids))
            )
            nursery.cancel_scope.cancel()
    assert set(served) == set(NAMES), served  # through every instance (roundrobin)
    for client in channel:  # each change once, in order, with one event_id everywhere
        events = events_of(client, order)
        assert [event["name"] for event in events] == ["order.created"] + [
            "order.status_changed"
        ] * len(CHANGES)
        assert statuses(events) == STATUSES
        assert [event["event_id"] for event in events] == event_ids
    for client in legacy:
        events = legacy_events_of(client, order)
        assert [event["type"] for event in events] == ["order_created"] + [
            "order_status_changed"
        ] * len(CHANGES)
        assert statuses(events) == STATUSES
    relayed = [r.value["event_id"] for r in records if r.value.get("event_id") in event_ids]
    assert sorted(relayed) == sorted(event_ids)  # once each


def one_each(placed: dict[str, list[Client]]) -> list[Client]:
    return [client for name in NAMES for client in placed[name]]


def statuses(events: list[Frame]) -> list[str]:
    return [event["extra"]["status"] if "extra" in event else event["status"] for event in events]


def events_of(client: Client, order: int) -> list[Frame]:
    return [
        frame
        for frame in client.frames("event")
        if frame["name"].startswith("order.") and frame["extra"].get("order_id") == order
    ]


def legacy_events_of(client: Client, order: int) -> list[Frame]:
    return [
        frame
        for frame in client.others
        if frame["type"] in ("order_created", "order_status_changed") and frame["order_id"] == order
    ]
