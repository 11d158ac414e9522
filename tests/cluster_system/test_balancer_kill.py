"""An instance killed behind the balancer (SIGKILL, three instances on the Kafka bus behind
Debian's HAProxy): its clients lose their connections and come back through the same URL with
`?since=&epoch=`, recovering every publication they missed exactly once, while the other
instances keep serving and HAProxy's health checks take the dead one out. Presence converges
within 3 heartbeats and a second (docs/cluster.md) after joins, leaves and the kill: watchers
on every instance (`join_leave`) hear each change, and `presence` and `/stats` agree."""

from __future__ import annotations

import itertools
import random
import time
from datetime import datetime
from functools import partial

import httpx
import pytest
import trio

from ..support import haproxy
from ..support.timeouts import LOAD_TIMEOUT, TIMEOUT
from .clients import Client, Frame, Publication, Session, connect, spread
from .test_balancer import NAMES, SEED

pytestmark = pytest.mark.system  # HAProxy (apt-get if missing), three stands as processes

HEARTBEAT = 1.0  # QAKIT_CLUSTER_HEARTBEAT's default
CONVERGE = 3 * HEARTBEAT + 1.0  # dead after 3 heartbeats unheard; a second for the bus and load
# what the test's own readers may lag behind a flood of publications on a loaded machine: the
# waits allow it, the bound itself is checked on the times the stand sent its frames
SLACK = 2.0
PER_PUBLISHER = 300
ENV = {  # a recovery after the kill fits the history with room to spare (the bus's pace: 100/s)
    "QAKIT_CLUSTER_HEARTBEAT": str(HEARTBEAT),
    "QAKIT_HISTORY_SIZE": "1000",
    "QAKIT_HISTORY_BYTES": str(1 << 20),
}


def flat(placed: dict[str, list[Client]]) -> list[Client]:
    return [client for clients in placed.values() for client in clients]


def stamp(frame: Frame | None) -> float:
    """When the stand made a frame (its `ts`), in seconds since the epoch."""
    assert frame is not None
    return datetime.fromisoformat(frame["ts"]).timestamp()


def heard(watcher: Client, kind: str) -> dict[str, float]:
    """The connection ids a watcher got `kind` (join, leave) frames about, and when they were
    sent."""
    return {f["connection_id"]: stamp(f) for f in watcher.frames(kind) if f["channel"] == "room"}


async def hear(watchers: list[Client], kind: str, ids: dict[str, float]) -> float:
    """Each watcher hears `kind` about every id, sent within CONVERGE of the time given for it
    (a wall-clock time: the frames' `ts` are the stand's, on this machine); the longest."""
    for watcher in watchers:
        await watcher.wait(lambda w: set(ids) <= set(heard(w, kind)))
    took = max(heard(w, kind)[i] - at for w in watchers for i, at in ids.items())
    assert took <= CONVERGE, (kind, took)
    return took


async def presence(watcher: Client) -> set[str]:
    frames = await watcher.request("presence", {"channel": "room"})
    return {client["connection_id"] for client in frames[0]["data"]["clients"]}


async def converged(watchers: list[Client], stands: list[haproxy.Instance], ids: set[str]) -> None:
    """`presence` on every live instance lists exactly `ids`; each one's /stats agrees."""
    for watcher in watchers:
        assert await presence(watcher) == ids, watcher.instance
    async with httpx.AsyncClient() as http:
        for stand in stands:
            stats = (await http.get(f"{stand.url}/stats")).json()
            assert stats["channels"]["room"] == len(ids), (stand.id, stats)
            assert set(stats["instances"]) == {s.id for s in stands}, (stand.id, stats)


async def test_a_killed_instances_clients_recover_through_the_balancer(
    database_url: str, kafka_bootstrap: str
) -> None:
    env = {**haproxy.cluster_env(database_url, kafka_bootstrap), **ENV}
    rng = random.Random(SEED)
    figures: dict[str, float] = {}
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            haproxy.instances(3, env) as stands,
            haproxy.balancer(stands) as front,
            trio.open_nursery() as nursery,
        ):
            # a watcher on every instance, in `room` with join and leave frames
            watchers = flat(await spread(partial(connect, nursery, front.ws, "watch"), NAMES, 1))
            for watcher in watchers:
                frames = await watcher.request("subscribe", {"channel": "room", "join_leave": True})
                assert frames[0]["type"] == "subscribed", frames
                watcher.channel = "room"
            # joins: three members on every instance
            members = await spread(partial(connect, nursery, front.ws, "room"), NAMES, 3)
            with trio.fail_after(CONVERGE + SLACK):
                joined = {m.connection_id: stamp(m.hello) for m in flat(members)}
                figures["join"] = await hear(watchers, "join", joined)
            room = {c.connection_id for c in watchers + flat(members)}
            await converged(watchers, stands, room)
            # leaves: one member of qakit-1 and one of qakit-2 close
            leaving = [members["qakit-1"].pop(), members["qakit-2"].pop()]
            left = {}
            for client in leaving:
                left[client.connection_id] = time.time()
                await client.ws.aclose()
            with trio.fail_after(CONVERGE + SLACK):
                figures["leave"] = await hear(watchers, "leave", left)
            room -= set(left)
            await converged(watchers, stands, room)

            # publishers on every instance; qakit-3's is killed with it halfway
            sessions = [Session([client]) for client in watchers + flat(members)]
            publishers = [s for s in sessions if s.client in [members[n][0] for n in NAMES]]
            plans = [
                [f"{n}-{i:04d}-{rng.getrandbits(32):08x}" for i in range(PER_PUBLISHER)]
                for n in range(len(publishers))
            ]
            async with trio.open_nursery() as publishing:
                for publisher, plan in zip(publishers, plans, strict=True):
                    publishing.start_soon(publisher.publish, plan)
                await watchers[0].wait(lambda w: len(w.publications) >= PER_PUBLISHER)
                lost = [s for s in sessions if s.client.instance == "qakit-3"]
                survivors = [w for w in watchers if w.instance != "qakit-3"]
                gone = dict.fromkeys((s.client.connection_id for s in lost), time.time())
                stands[2].kill()
                killed = trio.current_time()
                for session in lost:
                    nursery.start_soon(session.come_back, nursery, front.ws)
                with trio.fail_at(killed + haproxy.DOWN_WITHIN):
                    await front.wait_for_down("qakit-3")
                with trio.fail_at(killed + CONVERGE + SLACK):
                    figures["dead"] = await hear(survivors, "leave", gone)
                for session in lost:
                    await session.reconnected.wait()
                back = {s.client.connection_id: stamp(s.client.hello) for s in lost}
                figures["back"] = max(back.values()) - min(gone.values())
                with trio.fail_after(CONVERGE + SLACK):
                    figures["rejoin"] = await hear(survivors, "join", back)
            # the end of the run: one more publication, which every subscriber must get
            await publishers[0].client.publish("end")  # after every other one was confirmed
            live = [s for s in sessions if not s.client.closed]
            await everyone_gets(live, "end")
            room = (room - set(gone)) | set(back)
            await converged(survivors, stands[:2], room)
            nursery.cancel_scope.cancel()

    for session in lost:
        assert session.client.instance in NAMES[:2]
        hello = session.client.hello
        assert hello is not None
        assert hello["recovered"] is True, hello
    canonical = sessions[0].publications  # qakit-1's watcher: never disconnected
    assert all(len(s.connections) == 1 for s in sessions if s not in lost)  # kept serving
    check_sequence(canonical)
    for session in live:  # nothing lost or duplicated, across the reconnect too
        assert session.publications == canonical, session.client.name
    published = {p.message for p in canonical}
    for publisher in publishers:
        assert set(publisher.acknowledged) <= published  # every confirmed one is there
    for publisher, plan in zip(publishers, plans, strict=True):
        if publisher not in lost:  # the others kept serving: all of theirs confirmed
            assert publisher.acknowledged[: len(plan)] == plan
    print(  # the figures, for the report (-s)
        f"{len(canonical)} publications; joins heard within {figures['join']:.2f} s, leaves "
        f"{figures['leave']:.2f} s; qakit-3's members left {figures['dead']:.2f} s after "
        f"SIGKILL (bound {CONVERGE:.1f} s); its {len(lost)} clients back through HAProxy "
        f"{figures['back']:.2f} s after it, each recovered with since, heard to join within "
        f"{figures['rejoin']:.2f} s"
    )


async def everyone_gets(sessions: list[Session], message: str) -> None:
    """Each session's last publication is `message` (within TIMEOUT: else who did not)."""

    def got(client: Client) -> bool:
        return bool(client.publications) and client.publications[-1].message == message

    try:
        with trio.fail_after(TIMEOUT):
            for session in sessions:
                await session.client.wait(got)
    except trio.TooSlowError:
        raise AssertionError(
            [
                (s.client.name, s.client.instance, len(s.connections), s.publications[-2:])
                for s in sessions
                if not got(s.client)
            ]
        ) from None


def check_sequence(publications: list[Publication]) -> None:
    assert len({p.epoch for p in publications}) == 1
    offsets = [p.offset for p in publications]
    assert all(a < b for a, b in itertools.pairwise(offsets)), "offsets not strictly increasing"
    messages = [p.message for p in publications]
    assert len(set(messages)) == len(messages), "a publication twice"
