"""Presence (ws/presence.py): who is in a channel and the join/leave frames, right after joins,
leaves, unsubscribes, evictions, vanished clients (keepalive, on the virtual clock) and
shutdown. The hub in memory, connections on the in-memory transport, and the whole stand
through the pytest-trio kit."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import trio
import trio.testing

from qakit_trio.testing import StandClient, StandClosed, open_stand
from qakit_trio.wire.close_codes import GOING_AWAY, KEEPALIVE_TIMEOUT, SLOW_CONSUMER
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.connection import Connection
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.keepalive import run_keepalive
from qakit_trio.ws.presence import GHOSTS

from ..support.timeouts import TIMEOUT, VIRTUAL_TIMEOUT
from .test_connection_memory import SETTINGS, open_client, pinged_since
from .test_hub import FakeConnection, join


def who(hub: Hub, channel: str) -> list[str]:
    return [client["connection_id"] for client in hub.presence.clients(channel)]


def changes(fake: FakeConnection) -> list[tuple[str, str, str]]:
    """The join/leave frames queued for `fake`: (type, channel, connection_id)."""
    frames = [json.loads(item.text) for item in fake.queued() if isinstance(item, Frame)]
    return [
        (f["type"], f["channel"], f["connection_id"])
        for f in frames
        if isinstance(f, dict) and f["type"] in ("join", "leave")
    ]


def watch(hub: Hub, fake: FakeConnection, channel: str) -> None:
    """`fake` subscribes to `channel` with join_leave (leaving it first if it is in it)."""
    hub.unsubscribe(fake.member, channel)
    hub.subscribe(fake.member, channel, join_leave=True)


# --- the hub ----------------------------------------------------------------------------------


async def test_presence_follows_joins_subscribes_unsubscribes_and_leaves() -> None:
    hub = Hub()
    a = join(hub, "room", "a")
    join(hub, "room", "b")
    c = join(hub, "lobby", "c")
    assert (who(hub, "room"), who(hub, "lobby")) == (["a", "b"], ["c"])  # in joining order
    hub.subscribe(c.member, "room")
    assert who(hub, "room") == ["a", "b", "c"]
    assert hub.unsubscribe(a.member, "room")
    assert not hub.unsubscribe(a.member, "room")  # not in it any more
    assert who(hub, "room") == ["b", "c"]
    assert hub.is_member(a.member)  # in no channel, still connected
    hub.leave(c.member)  # a connection that ends leaves every channel
    assert (who(hub, "room"), who(hub, "lobby")) == (["b"], [])
    hub.subscribe(c.member, "room")  # one that has left cannot come back by subscribing
    assert who(hub, "room") == ["b"]
    assert hub.stats() == {"room": 1}
    assert hub.presence.clients("room") == [{"connection_id": "b"}]


async def test_clients_carry_their_user() -> None:
    hub = Hub()
    join(hub, "room", "a").member.user = "ivan"  # (the connection's user, QAKIT_AUTH=on)
    join(hub, "room", "b")
    assert hub.presence.clients("room") == [
        {"connection_id": "a", "user": "ivan"},
        {"connection_id": "b"},
    ]


async def test_watchers_get_join_and_leave_of_others_only() -> None:
    hub = Hub()
    watcher, quiet = join(hub, "lobby", "w", size=16), join(hub, "room", "q", size=16)
    watch(hub, watcher, "room")
    assert changes(watcher) == []  # not its own join
    newcomer = join(hub, "room", "n")
    hub.subscribe(quiet.member, "lobby")  # lobby: nobody watches it
    assert hub.unsubscribe(quiet.member, "room")
    hub.leave(newcomer.member)
    assert changes(watcher) == [
        ("join", "room", "n"),
        ("leave", "room", "q"),
        ("leave", "room", "n"),
    ]
    assert changes(quiet) == []  # it did not ask
    assert hub.unsubscribe(watcher.member, "room")  # no longer watching
    join(hub, "room", "later")
    assert changes(watcher) == []


async def test_an_evicted_member_leaves_presence_and_its_watchers_are_told() -> None:
    hub = Hub()
    watcher = join(hub, "lobby", "w", size=16)
    watch(hub, watcher, "room")
    slow = join(hub, "room", "slow", size=2)
    hub.subscribe(slow.member, "lobby")
    changes(watcher)
    for text in ("1", "2", "3"):  # it drains nothing: the third fills its outbox
        hub.publish("room", Frame.of(text))
    assert slow.closes == [(SLOW_CONSUMER, "slow consumer: outbox full")]
    assert (who(hub, "room"), who(hub, "lobby")) == (["w"], ["w"])  # out of every channel
    assert [f for f in changes(watcher) if f[0] == "leave"] == [("leave", "room", "slow")]


async def test_a_watcher_too_full_for_a_join_frame_is_evicted_like_a_slow_consumer() -> None:
    hub = Hub()
    watcher = join(hub, "lobby", "w", size=2)
    watch(hub, watcher, "room")
    join(hub, "room", "x1")
    join(hub, "room", "x2")
    assert watcher.closes == []
    join(hub, "room", "x3")  # a third frame it has not drained
    assert watcher.closes == [(SLOW_CONSUMER, "slow consumer: outbox full")]
    assert who(hub, "room") == ["x1", "x2", "x3"]


async def test_at_shutdown_every_member_is_gone_and_no_leave_is_sent() -> None:
    hub = Hub()
    members = [join(hub, "room", name, size=16) for name in ("a", "b", "c")]
    for fake in members:
        watch(hub, fake, "room")
        hub.subscribe(fake.member, "lobby")
    for fake in members:
        fake.queued()
    hub.close_all()
    assert (who(hub, "room"), who(hub, "lobby"), hub.stats()) == ([], [], {})
    for fake in members:
        assert changes(fake) == []
        assert fake.closes == [(GOING_AWAY, "server shutting down")]


async def test_ghosts_are_the_last_connections_that_closed_while_in_the_channel() -> None:
    """Only the lab's presence_keeps_ghosts shows them: connections that ended subscribed,
    not those that unsubscribed first, at most GHOSTS per channel (the most recent)."""
    hub = Hub()
    join(hub, "room", "stays")
    left_first = join(hub, "room", "unsubscribed")
    hub.unsubscribe(left_first.member, "room")
    hub.leave(left_first.member)
    gone = [join(hub, "room", f"g{n}") for n in range(GHOSTS + 2)]
    for fake in gone:
        hub.leave(fake.member)
    assert who(hub, "room") == ["stays"]
    ghosts = [client["connection_id"] for client in hub.presence.ghosts("room")]
    assert ghosts == [f"g{n}" for n in range(2, GHOSTS + 2)]
    hub.presence.forget_ghosts()
    assert hub.presence.ghosts("room") == []


# --- a vanished client, on the virtual clock --------------------------------------------------


async def test_a_client_that_never_answers_pings_leaves_presence_within_two_intervals(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    interval = SETTINGS.ping_interval
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_keepalive, [hub], interval)
            watching, watcher = await open_client(nursery, hub, channel="lobby")
            _, silent = await open_client(nursery, hub)
            assert watching.member is not None
            hub.subscribe(watching.member, "room", join_leave=True)

            async def answer_pings() -> None:
                while True:
                    seen = watcher.pings
                    await watcher.wait_until(partial(pinged_since, watcher, seen))
                    watcher.client_pong()

            nursery.start_soon(answer_pings)
            watcher_id = watching.member.connection_id
            [silent_id] = [c for c in who(hub, "room") if c != watcher_id]
            started = trio.current_time()
            leave = json.loads(await watcher.next_frame())
            assert (leave["type"], leave["channel"]) == ("leave", "room")
            assert trio.current_time() - started <= 2 * interval
            await silent.wait_until(lambda: silent.close_frame is not None)
            assert silent.close_frame == (KEEPALIVE_TIMEOUT, "keepalive timeout: no pong")
            assert leave["connection_id"] == silent_id
            assert who(hub, "room") == who(hub, "lobby") == [watcher_id]
            nursery.cancel_scope.cancel()


async def test_a_connection_that_ends_leaves_presence_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub()
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            connection, client = await open_client(nursery, hub)
            assert isinstance(connection, Connection)
            assert len(hub.presence.clients("room")) == 1
            client.client_close(1006)  # its TCP connection just ended
            await client.wait_until(lambda: hub.total() == 0)
            assert hub.presence.clients("room") == []


# --- the whole stand: presence as a client asks for it ----------------------------------------


async def presence(ws: StandClient, channel: str, request_id: str) -> dict[str, Any]:
    await ws.send_json(
        {"action": "presence", "request_id": request_id, "payload": {"channel": channel}}
    )
    frames = [await ws.receive_json()]
    while frames[-1].get("request_id") != request_id or frames[-1]["type"] != "event":
        frames.append(await ws.receive_json())
    [data] = [f["data"] for f in frames if f["type"] == "presence"]
    return dict(data)


async def close_code(ws: StandClient) -> int | None:
    """Read everything until the stand closes `ws`: its close code."""
    while True:
        try:
            await ws.receive()
        except StandClosed as closed:
            return closed.code


async def test_a_slow_consumer_evicted_with_4008_leaves_presence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client that never reads, in a channel that gets broadcasts: evicted with 4008, it is
    out of presence at once, and a watcher is told."""
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with (
            open_stand({"QAKIT_OUTBOX_SIZE": "8"}) as stand,
            stand.connect("/ws?channel=room") as publisher,
            stand.connect("/ws?channel=lobby") as watcher,
            stand.connect("/ws?channel=room") as never,
        ):
            mine = (await publisher.receive_json())["connection_id"]
            watching = (await watcher.receive_json())["connection_id"]
            theirs = (await never.receive_json())["connection_id"]
            await watcher.send_json(
                {
                    "action": "subscribe",
                    "request_id": "w",
                    "payload": {"channel": "room", "join_leave": True},
                }
            )
            while (await watcher.receive_json())["type"] != "event":
                pass
            hub = stand.app.services.hub
            seen: list[dict[str, Any]] = []

            async def follow() -> None:  # the watcher reads all along, until the leave
                while not seen or seen[-1]["type"] != "leave":
                    seen.append(await watcher.receive_json())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow)
                sent = 0
                while theirs in [c["connection_id"] for c in hub.presence.clients("room")]:
                    sent += 1
                    assert sent < 1000
                    await publisher.send_json(
                        {"action": "broadcast", "request_id": sent, "payload": {"message": "x"}}
                    )
                    while (await publisher.receive_json())["type"] != "event":
                        pass
            assert await presence(publisher, "room", "p") == {
                "channel": "room",
                "count": 2,
                "clients": [{"connection_id": mine}, {"connection_id": watching}],
            }
            assert (seen[-1]["type"], seen[-1]["connection_id"]) == ("leave", theirs)
            assert {f["type"] for f in seen[:-1]} == {"message"}
            assert await close_code(never) == SLOW_CONSUMER  # after what it had been sent


async def test_presence_after_unsubscribe_and_close_through_the_kit() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            stand.connect("/ws?channel=room") as asker,
            stand.connect("/ws?channel=room") as leaver,
        ):
            me = (await asker.receive_json())["connection_id"]
            other = (await leaver.receive_json())["connection_id"]
            assert (await presence(asker, "room", "1"))["clients"] == [
                {"connection_id": me},
                {"connection_id": other},
            ]
            await leaver.send_json(
                {"action": "unsubscribe", "request_id": "u", "payload": {"channel": "room"}}
            )
            while (await leaver.receive_json())["type"] != "event":
                pass
            assert await presence(asker, "room", "2") == {
                "channel": "room",
                "count": 1,
                "clients": [{"connection_id": me}],
            }
            await leaver.send_json(
                {"action": "subscribe", "request_id": "s", "payload": {"channel": "room"}}
            )
            while (await leaver.receive_json())["type"] != "event":
                pass
            assert (await presence(asker, "room", "3"))["count"] == 2
            async with stand.connect("/ws?channel=room") as brief:
                await brief.receive_json()
                assert (await presence(asker, "room", "4"))["count"] == 3
            assert (await presence(asker, "room", "5"))["count"] == 2  # (it closed)
