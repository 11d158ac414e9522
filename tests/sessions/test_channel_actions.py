"""The channel actions of /ws (sessions/channel_actions.py): subscribe, unsubscribe, history,
presence, broadcast to another of a connection's channels, recovery with `since` (in
`subscribe`, and at connect: `/ws?channel=x&since=N&epoch=E`) and the join/leave frames.
Through the pytest-trio kit (the virtual clock where time counts) and, end to end, on a real
socket on both server paths. Every frame is checked against the AsyncAPI document
(conftest.py). docs/protocol.md, "Channels: offsets, history, presence", is the contract."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.testing import Stand, StandClient, StandClosed, open_stand

from ..support import wsraw
from ..support.class_auth import AUTH, TEACHER, bearer, token_for
from ..support.helpers import (
    UPGRADE,
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
)
from ..support.timeouts import TIMEOUT, VIRTUAL_TIMEOUT

Frames = list[dict[str, Any]]


def types(frames: Frames) -> list[str]:
    return [frame["type"] for frame in frames]


def offsets(frames: Frames) -> list[int]:
    return [frame["offset"] for frame in frames if frame["type"] == "message"]


async def answer(ws: StandClient, request_id: str) -> Frames:
    """The frames up to this request's last (its event, or its error after the ack)."""
    frames = [await ws.receive_json()]
    while not (
        frames[-1]["type"] in ("event", "error") and frames[-1].get("request_id") == request_id
    ):
        frames.append(await ws.receive_json())
    return frames


async def ask(
    ws: StandClient, action: str, payload: Mapping[str, Any], request_id: str = "r"
) -> Frames:
    await ws.send_json({"action": action, "request_id": request_id, "payload": dict(payload)})
    return await answer(ws, request_id)


async def publish(
    ws: StandClient, count: int, channel: str | None = None, prefix: str = "p", padding: int = 0
) -> Frames:
    """`count` broadcasts (to the URL's channel, or `channel`; each message `padding` bytes
    longer): the `message` frames the sender got, which every member of the channel gets too."""
    sent: Frames = []
    for n in range(1, count + 1):
        payload: dict[str, Any] = {"message": f"{prefix}{n}" + "." * padding}
        if channel is not None:
            payload["channel"] = channel
        frames = await ask(ws, "broadcast", payload, f"{prefix}{n}")
        assert types(frames) == ["ack", "message", "event"], frames
        sent.append(frames[1])
    return sent


async def nothing_more(ws: StandClient) -> None:
    """Nothing is waiting for `ws`: the next frame it gets answers an echo sent now."""
    await ws.send_json({"action": "echo", "request_id": "nothing-more"})
    assert (await ws.receive_json())["type"] == "ack"
    await answer(ws, "nothing-more")


@asynccontextmanager
async def clients(
    stand: Stand, *paths: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[list[tuple[StandClient, dict[str, Any]]]]:
    """A client per path, each with its hello read."""
    async with AsyncExitStack() as stack:
        opened = []
        for path in paths:
            ws = await stack.enter_async_context(stand.connect(path, headers))
            opened.append((ws, await ws.receive_json()))
        yield opened


def error_of(frames: Frames) -> dict[str, Any]:
    assert types(frames) == ["ack", "error"], frames
    return frames[1]


# --- replies and their order ----------------------------------------------------------------


async def test_the_hello_says_the_url_channels_position() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=x") as [(ws, hello)]:
            assert re.fullmatch(r"[0-9a-f]{8}", hello["epoch"])
            assert hello["offset"] == 0
            sent = await publish(ws, 2)
            epoch = hello["epoch"]
            assert [(m["offset"], m["epoch"]) for m in sent] == [(1, epoch), (2, epoch)]
            async with clients(stand, "/ws?channel=x") as [(_, later)]:
                assert (later["epoch"], later["offset"]) == (hello["epoch"], 2)
                assert "recovered" not in later


async def test_subscribe_unsubscribe_history_presence_answer_ack_data_event() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=a") as [(ws, hello)]:
            me = {"connection_id": hello["connection_id"]}
            frames = await ask(ws, "subscribe", {"channel": "b"}, "s")
            assert types(frames) == ["ack", "subscribed", "event"]
            assert {f["request_id"] for f in frames} == {"s"}
            position = frames[1]["data"]
            assert position == {"channel": "b", "epoch": position["epoch"], "offset": 0}
            assert (frames[2]["name"], frames[2]["extra"]) == ("ws.subscribe", position)

            frames = await ask(ws, "presence", {"channel": "b"}, "p")
            assert types(frames) == ["ack", "presence", "event"]
            assert frames[1]["data"] == {"channel": "b", "count": 1, "clients": [me]}
            assert (frames[2]["name"], frames[2]["extra"]) == (
                "ws.presence",
                {"channel": "b", "count": 1},
            )

            frames = await ask(ws, "history", {"channel": "b"}, "h")
            assert types(frames) == ["ack", "history", "event"]
            assert frames[1]["data"] == {**position, "publications": []}
            assert (frames[2]["name"], frames[2]["extra"]) == (
                "ws.history",
                {"channel": "b", "count": 0},
            )

            frames = await ask(ws, "unsubscribe", {"channel": "b"}, "u")
            assert types(frames) == ["ack", "unsubscribed", "event"]
            assert frames[1]["data"] == {"channel": "b"}
            assert (frames[2]["name"], frames[2]["extra"]) == ("ws.unsubscribe", {"channel": "b"})
            presence = await ask(ws, "presence", {"channel": "b"}, "p2")
            assert presence[1]["data"] == {"channel": "b", "count": 0, "clients": []}


async def test_a_subscriber_gets_the_channels_publications_until_it_unsubscribes() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=news", "/ws?channel=lobby") as [(pub, _), (sub, _)],
        ):
            await ask(sub, "subscribe", {"channel": "news"}, "s")
            [first] = await publish(pub, 1)
            assert await sub.receive_json() == first  # the same frame, offset and epoch
            await ask(sub, "unsubscribe", {"channel": "news"}, "u")
            [second] = await publish(pub, 1, prefix="q")
            assert second["offset"] == first["offset"] + 1
            await nothing_more(sub)


async def test_the_url_channel_can_be_left_too_and_the_connection_stays() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=room", "/ws?channel=room") as [(ws, _), (other, _)],
        ):
            assert types(await ask(ws, "unsubscribe", {"channel": "room"}, "u")) == [
                "ack",
                "unsubscribed",
                "event",
            ]
            error = error_of(await ask(ws, "broadcast", {"message": "hi"}, "b"))
            assert (error["error"], error["channel"]) == ("not_subscribed", "room")
            await publish(other, 1)
            await nothing_more(ws)  # in no channel now, and still answering
            frames = await ask(ws, "subscribe", {"channel": "room"}, "again")
            assert frames[1]["data"]["offset"] == 1


async def test_broadcast_to_a_second_channel_reaches_only_its_members() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=a", "/ws?channel=a", "/ws?channel=b") as [
                (sender, _),
                (only_a, _),
                (only_b, _),
            ],
        ):
            await ask(sender, "subscribe", {"channel": "b"}, "s")
            frames = await ask(sender, "broadcast", {"message": "to b", "channel": "b"}, "tb")
            assert types(frames) == ["ack", "message", "event"]
            message = frames[1]
            assert (message["channel"], message["message"], message["offset"]) == ("b", "to b", 1)
            assert frames[2]["extra"] == {"channel": "b", "delivered": 2}
            assert await only_b.receive_json() == message
            await nothing_more(only_a)
            # no payload.channel: the URL's
            [to_a] = await publish(sender, 1)
            assert to_a["channel"] == "a"
            assert await only_a.receive_json() == to_a
            await nothing_more(only_b)
            error = error_of(await ask(sender, "broadcast", {"message": "x", "channel": "c"}, "c"))
            assert (error["error"], error["channel"]) == ("not_subscribed", "c")
            assert error["request_id"] == "c"
            await nothing_more(only_a)
            await nothing_more(only_b)


async def test_offsets_are_per_channel_and_rest_broadcasts_have_them_too() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=one", "/ws?channel=two") as [(one, _), (two, _)],
        ):
            assert offsets(await publish(one, 3)) == [1, 2, 3]
            assert offsets(await publish(two, 1)) == [1]
            status, _ = await stand.request("POST", "/broadcast?channel=one&message=from-REST")
            assert status == 200
            frame = await one.receive_json()
            assert (frame["type"], frame["offset"]) == ("broadcast", 4)
            assert [m["offset"] for m in await publish(one, 1, prefix="q")] == [5]


# --- errors ---------------------------------------------------------------------------------


async def test_already_subscribed_and_not_subscribed() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=a") as [(ws, _)]:
            await ask(ws, "subscribe", {"channel": "b"}, "first")
            for channel in ("a", "b"):  # the URL's channel is a subscription like any other
                error = error_of(await ask(ws, "subscribe", {"channel": channel}, "twice"))
                assert (error["error"], error["channel"], error["request_id"]) == (
                    "already_subscribed",
                    channel,
                    "twice",
                )
            error = error_of(await ask(ws, "unsubscribe", {"channel": "never"}, "u"))
            assert (error["error"], error["channel"]) == ("not_subscribed", "never")
            await ask(ws, "unsubscribe", {"channel": "b"}, "u1")
            error = error_of(await ask(ws, "unsubscribe", {"channel": "b"}, "u2"))
            assert (error["error"], error["channel"]) == ("not_subscribed", "b")


async def test_too_many_subscriptions() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand({"QAKIT_MAX_SUBSCRIPTIONS": "2"}) as stand,
            clients(stand, "/ws?channel=a") as [(ws, _)],
        ):
            assert types(await ask(ws, "subscribe", {"channel": "b"}, "b")) == [
                "ack",
                "subscribed",
                "event",
            ]
            error = error_of(await ask(ws, "subscribe", {"channel": "c"}, "c"))
            assert (error["error"], error["limit"]) == ("too_many_subscriptions", 2)
            assert "QAKIT_MAX_SUBSCRIPTIONS" in error["message"]
            presence = await ask(ws, "presence", {"channel": "c"}, "p")
            assert presence[1]["data"]["count"] == 0  # not subscribed after all
            await ask(ws, "unsubscribe", {"channel": "a"}, "u")
            assert types(await ask(ws, "subscribe", {"channel": "c"}, "c2")) == [
                "ack",
                "subscribed",
                "event",
            ]


EPOCH = "0123abcd"


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("subscribe", {}, "channel"),
        ("subscribe", {"channel": 5}, "channel"),
        ("subscribe", {"channel": "two words"}, "channel"),
        ("subscribe", {"channel": "x" * 65}, "channel"),
        ("subscribe", {"channel": "x", "since": 5}, "since"),
        ("subscribe", {"channel": "x", "since": {"epoch": EPOCH}}, "since.offset"),
        ("subscribe", {"channel": "x", "since": {"offset": -1, "epoch": EPOCH}}, "since.offset"),
        ("subscribe", {"channel": "x", "since": {"offset": "1", "epoch": EPOCH}}, "since.offset"),
        ("subscribe", {"channel": "x", "since": {"offset": True, "epoch": EPOCH}}, "since.offset"),
        ("subscribe", {"channel": "x", "since": {"offset": 1.5, "epoch": EPOCH}}, "since.offset"),
        ("subscribe", {"channel": "x", "since": {"offset": 1}}, "since.epoch"),
        ("subscribe", {"channel": "x", "since": {"offset": 1, "epoch": ""}}, "since.epoch"),
        ("subscribe", {"channel": "x", "since": {"offset": 1, "epoch": 7}}, "since.epoch"),
        ("subscribe", {"channel": "x", "since": {"offset": 1, "epoch": "e" * 65}}, "since.epoch"),
        ("subscribe", {"channel": "x", "join_leave": "yes"}, "join_leave"),
        ("unsubscribe", {}, "channel"),
        ("unsubscribe", {"channel": ""}, "channel"),
        ("history", {}, "channel"),
        ("history", {"channel": "x", "limit": 0}, "limit"),
        ("history", {"channel": "x", "limit": 101}, "limit"),
        ("history", {"channel": "x", "limit": "5"}, "limit"),
        ("history", {"channel": "x", "since": {"offset": -1, "epoch": EPOCH}}, "since.offset"),
        ("history", {"channel": "x", "since": {"offset": 0}}, "since.epoch"),
        ("presence", {}, "channel"),
        ("presence", {"channel": ["x"]}, "channel"),
        ("broadcast", {"message": "m", "channel": "tab\t"}, "channel"),
    ],
)
async def test_a_bad_payload_is_a_validation_error_naming_the_field(
    action: str, payload: dict[str, Any], field: str
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=a") as [(ws, _)]:
            error = error_of(await ask(ws, action, payload, "bad"))
            assert (error["error"], error["field"], error["request_id"]) == (
                "validation_error",
                field,
                "bad",
            )
            assert f"payload.{field}" in error["message"]
            presence = await ask(ws, "presence", {"channel": "x"}, "p")
            assert presence[1]["data"]["count"] == 0  # nothing was done


async def test_a_private_channel_of_another_user_is_forbidden() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan = await token_for(stand, "ivan")
            async with (
                clients(stand, "/ws?channel=lobby", headers=bearer(ivan)) as [(ws, hello)],
                clients(stand, "/ws?channel=lobby", headers=bearer(TEACHER)) as [(teacher, _)],
            ):
                for action in ("subscribe", "history", "presence"):
                    error = error_of(await ask(ws, action, {"channel": "private:olga"}, action))
                    assert (error["error"], error["channel"]) == ("forbidden", "private:olga")
                    assert "ivan may not join private:olga" in error["message"]
                    allowed = await ask(ws, action, {"channel": "private:ivan"}, f"{action}-own")
                    assert types(allowed)[-1] == "event"
                    teachers = await ask(teacher, action, {"channel": "private:olga"}, action)
                    assert types(teachers)[-1] == "event"
                presence = await ask(ws, "presence", {"channel": "private:ivan"}, "who")
                assert presence[1]["data"]["clients"] == [
                    {"connection_id": hello["connection_id"], "user": "ivan"}
                ]


# --- recovery -------------------------------------------------------------------------------


async def subscribe_since(
    ws: StandClient, channel: str, offset: int, epoch: str, request_id: str = "s"
) -> Frames:
    payload = {"channel": channel, "since": {"offset": offset, "epoch": epoch}}
    return await ask(ws, "subscribe", payload, request_id)


async def test_recovered_true_replays_exactly_the_missed_frames_then_new_ones() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            sent = await publish(pub, 5)
            frames = await subscribe_since(sub, "x", 2, hello["epoch"])
            assert types(frames) == ["ack", "subscribed", "message", "message", "message", "event"]
            assert frames[1]["data"] == {
                "channel": "x",
                "epoch": hello["epoch"],
                "offset": 5,
                "recovered": True,
            }
            assert frames[2:5] == sent[2:]  # exactly as they were sent, in offset order
            assert frames[5]["extra"] == {**frames[1]["data"], "replayed": 3}
            [new] = await publish(pub, 1, prefix="q")
            assert new["offset"] == 6
            assert await sub.receive_json() == new
            await nothing_more(sub)


async def test_since_the_latest_offset_is_recovered_with_nothing_to_replay() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            await publish(pub, 2)
            frames = await subscribe_since(sub, "x", 2, hello["epoch"])
            assert types(frames) == ["ack", "subscribed", "event"]
            assert frames[1]["data"]["recovered"] is True
            assert frames[2]["extra"]["replayed"] == 0


async def test_recovery_comes_before_publications_sent_at_the_same_moment() -> None:
    """A publisher's burst and a subscribe with `since` race: whatever the interleaving, the
    subscriber sees every offset after `since` exactly once, in order."""
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            await publish(pub, 3)
            for n in range(20):  # sent at once, answered after
                await pub.send_json(
                    {"action": "broadcast", "request_id": f"b{n}", "payload": {"message": "m"}}
                )
            await sub.send_json(
                {
                    "action": "subscribe",
                    "request_id": "s",
                    "payload": {"channel": "x", "since": {"offset": 1, "epoch": hello["epoch"]}},
                }
            )
            got: Frames = []
            while not got or got[-1].get("offset") != 23:
                frame = await sub.receive_json()
                if frame["type"] == "message":
                    got.append(frame)
            assert offsets(got) == list(range(2, 24))
            assert {m["epoch"] for m in got} == {hello["epoch"]}


async def test_recovered_false_for_another_epoch_or_an_offset_never_reached() -> None:
    """Nothing replayed (the client must reload its state), and subscribed all the same."""
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            await publish(pub, 3)
            epoch = hello["epoch"]
            for n, (offset, their_epoch) in enumerate(((4, epoch), (1, "ffffffff"))):
                frames = await subscribe_since(sub, "x", offset, their_epoch, f"s{n}")
                assert types(frames) == ["ack", "subscribed", "event"]
                assert frames[1]["data"] == {
                    "channel": "x",
                    "epoch": epoch,
                    "offset": 3 + n,
                    "recovered": False,
                }
                assert frames[2]["extra"]["replayed"] == 0
                [new] = await publish(pub, 1, prefix=f"n{n}")
                assert await sub.receive_json() == new
                await ask(sub, "unsubscribe", {"channel": "x"}, f"u{n}")


async def test_recovered_false_when_the_gap_is_more_than_history_size() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand({"QAKIT_HISTORY_SIZE": "3"}) as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            sent = await publish(pub, 5)  # kept: 3, 4, 5
            frames = await subscribe_since(sub, "x", 1, hello["epoch"])
            assert (frames[1]["data"]["recovered"], offsets(frames)) == (False, [])
            await ask(sub, "unsubscribe", {"channel": "x"}, "u")
            frames = await subscribe_since(sub, "x", 2, hello["epoch"], "s2")
            assert frames[1]["data"]["recovered"] is True
            assert frames[2:5] == sent[2:]


async def test_recovered_false_when_the_gap_is_more_than_history_bytes() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand({"QAKIT_HISTORY_BYTES": "4096"}) as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            # a publication of 1 KB is counted as about 2.5 KB: one fits in 4 KiB, two do not
            sent = await publish(pub, 3, padding=1000)
            frames = await subscribe_since(sub, "x", 1, hello["epoch"])
            assert (frames[1]["data"]["recovered"], offsets(frames)) == (False, [])
            await ask(sub, "unsubscribe", {"channel": "x"}, "u")
            frames = await subscribe_since(sub, "x", 2, hello["epoch"], "s2")
            assert frames[1]["data"]["recovered"] is True
            assert frames[2:3] == sent[2:]
            # small ones: the same count fits, so it was the bytes
            await ask(sub, "unsubscribe", {"channel": "x"}, "u2")
            await publish(pub, 3, prefix="s")
            frames = await subscribe_since(sub, "x", 3, hello["epoch"], "s3")
            assert (frames[1]["data"]["recovered"], offsets(frames)) == (True, [4, 5, 6])


async def test_recovered_false_when_the_gap_is_older_than_history_ttl(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):  # the scenario spans 2 virtual minutes
        async with (
            open_stand({"QAKIT_HISTORY_TTL": "60"}) as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            await publish(pub, 1)
            await trio.sleep(30)  # (virtual time: what the TTL counts)
            [second] = await publish(pub, 1, prefix="q")
            await trio.sleep(31)  # the first is 61 s old now, the second 31 s
            frames = await subscribe_since(sub, "x", 0, hello["epoch"])
            assert frames[1]["data"] == {
                "channel": "x",
                "epoch": hello["epoch"],  # the channel kept its epoch (it has a subscriber)
                "offset": 2,
                "recovered": False,
            }
            assert offsets(frames) == []
            await ask(sub, "unsubscribe", {"channel": "x"}, "u")
            frames = await subscribe_since(sub, "x", 1, hello["epoch"], "s2")
            assert (frames[1]["data"]["recovered"], frames[2]) == (True, second)
            await trio.sleep(60)  # everything expired: nothing missed is still recovered
            await ask(sub, "unsubscribe", {"channel": "x"}, "u2")
            frames = await subscribe_since(sub, "x", 2, hello["epoch"], "s3")
            assert (frames[1]["data"]["recovered"], offsets(frames)) == (True, [])


async def test_a_client_that_reads_recovers_all_the_history_holds_whatever_its_outbox_size(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """docs/protocol.md: only "a client that reads none of its replies and has no room for
    them is closed with 4008". The smallest outbox (QAKIT_OUTBOX_SIZE=4) and the longest
    history it allows (4 x 32 = 128: a longer one fails start-up, config.py): a client that
    reads gets every missed frame, after a subscribe and at connect."""
    with pytest.raises(ConfigError, match="QAKIT_HISTORY_SIZE"):
        load_settings({"QAKIT_OUTBOX_SIZE": "4", "QAKIT_HISTORY_SIZE": "129"})
    settings = {"QAKIT_OUTBOX_SIZE": "4", "QAKIT_HISTORY_SIZE": "128"}
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with (
            open_stand(settings) as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (sub, _)],
        ):
            sent = await publish(pub, 128)
            frames = await subscribe_since(sub, "x", 0, hello["epoch"])
            assert frames[1]["data"]["recovered"] is True
            assert frames[2:-1] == sent
            async with stand.connect(f"/ws?channel=x&since=0&epoch={hello['epoch']}") as back:
                assert (await back.receive_json())["recovered"] is True
                assert [await back.receive_json() for _ in range(128)] == sent


# --- recovery at connect: /ws?channel=x&since=N&epoch=E -------------------------------------


async def test_recovery_at_connect_replays_after_the_hello() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=x") as [(pub, hello)]:
            sent = await publish(pub, 4)
            epoch = hello["epoch"]
            async with stand.connect(f"/ws?channel=x&since=2&epoch={epoch}") as back:
                first = await back.receive_json()
                assert (first["type"], first["channel"]) == ("system", "x")
                assert (first["recovered"], first["epoch"], first["offset"]) == (True, epoch, 4)
                assert [await back.receive_json() for _ in range(2)] == sent[2:]
                [new] = await publish(pub, 1, prefix="q")
                assert await back.receive_json() == new
                await nothing_more(back)
            for query in (f"since=6&epoch={epoch}", "since=2&epoch=aaaaaaaa"):
                async with stand.connect(f"/ws?channel=x&{query}") as lost:
                    hello_again = await lost.receive_json()
                    assert (hello_again["recovered"], hello_again["offset"]) == (False, 5)
                    await nothing_more(lost)


@pytest.mark.parametrize(
    "query",
    [
        "since=1",
        "epoch=0123abcd",
        "since=-1&epoch=0123abcd",
        "since=abc&epoch=0123abcd",
        "since=1.5&epoch=0123abcd",
        "since=1&epoch=",
        f"since=1&epoch={'e' * 65}",
    ],
)
async def test_a_bad_since_in_the_url_is_http_400_before_the_upgrade(query: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand:
            with pytest.raises(StandClosed) as refused:
                async with stand.connect(f"/ws?channel=x&{query}") as ws:
                    await ws.receive()
            assert refused.value.status == 400
            body = json.loads(refused.value.body)
            assert body["error"] == "invalid_since"
            assert body["detail"]
            assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0


# --- history --------------------------------------------------------------------------------


async def test_history_limit_and_paging_with_since() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=x", "/ws?channel=lobby") as [(pub, hello), (reader, _)],
        ):
            sent = await publish(pub, 7)
            epoch = hello["epoch"]
            frames = await ask(reader, "history", {"channel": "x"}, "all")
            assert frames[1]["data"] == {
                "channel": "x",
                "epoch": epoch,
                "offset": 7,
                "publications": sent,
            }
            last = await ask(reader, "history", {"channel": "x", "limit": 3}, "last")
            assert last[1]["data"]["publications"] == sent[4:]  # the newest 3, oldest first
            assert last[2]["extra"] == {"channel": "x", "count": 3}
            pages, at = [], 0
            while True:  # page forward: the first `limit` after `since`
                page = await ask(
                    reader,
                    "history",
                    {"channel": "x", "limit": 3, "since": {"offset": at, "epoch": epoch}},
                    f"page{at}",
                )
                data = page[1]["data"]
                assert data["recovered"] is True
                if not data["publications"]:
                    break
                pages.append(data["publications"])
                at = data["publications"][-1]["offset"]
            assert pages == [sent[0:3], sent[3:6], sent[6:7]]
            other = await ask(
                reader,
                "history",
                {"channel": "x", "since": {"offset": 0, "epoch": "ffffffff"}},
                "other",
            )
            assert (other[1]["data"]["recovered"], other[1]["data"]["publications"]) == (False, [])
            await nothing_more(reader)  # asking history subscribes to nothing


async def test_history_of_an_unused_channel_keeps_nothing() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, clients(stand, "/ws?channel=a") as [(ws, _)]:
            first = await ask(ws, "history", {"channel": "nobody"}, "h1")
            assert first[1]["data"]["offset"] == 0
            assert first[1]["data"]["publications"] == []
            assert stand.app.services.hub.history.channels() == 1  # `a`'s only


# --- join and leave -------------------------------------------------------------------------


async def test_join_leave_frames_reach_only_the_members_that_asked() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            clients(stand, "/ws?channel=lobby", "/ws?channel=room") as [
                (watcher, _),
                (quiet, _),
            ],
        ):
            frames = await ask(watcher, "subscribe", {"channel": "room", "join_leave": True}, "w")
            assert types(frames) == ["ack", "subscribed", "event"]  # no join for itself
            await nothing_more(quiet)  # nor for a member that did not ask
            async with clients(stand, "/ws?channel=room") as [(_, newcomer)]:
                joined = await watcher.receive_json()
                assert joined == {
                    "type": "join",
                    "channel": "room",
                    "connection_id": newcomer["connection_id"],
                    "ts": joined["ts"],
                }
            left = await watcher.receive_json()
            assert (left["type"], left["channel"], left["connection_id"]) == (
                "leave",
                "room",
                newcomer["connection_id"],
            )
            await ask(quiet, "subscribe", {"channel": "lobby"}, "s")  # lobby: not watched
            await ask(quiet, "unsubscribe", {"channel": "room"}, "u")
            left = await watcher.receive_json()
            assert (left["type"], left["channel"]) == ("leave", "room")
            await nothing_more(quiet)
            await nothing_more(watcher)


async def test_join_and_leave_name_the_user_with_auth_on() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            ivan, olga = await token_for(stand, "ivan"), await token_for(stand, "olga")
            async with clients(stand, "/ws?channel=lobby", headers=bearer(ivan)) as [(w, _)]:
                await ask(w, "subscribe", {"channel": "room", "join_leave": True}, "w")
                async with clients(stand, "/ws?channel=room", headers=bearer(olga)) as [(_, o)]:
                    joined = await w.receive_json()
                    assert (joined["type"], joined["connection_id"], joined["user"]) == (
                        "join",
                        o["connection_id"],
                        "olga",
                    )
                left = await w.receive_json()
                assert (left["type"], left["user"]) == ("leave", "olga")


# --- end to end on a real socket, on both server paths ---------------------------------------


async def test_subscribe_broadcast_and_recover_at_connect_on_a_real_socket() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "x") as (pub, hello),
            connected(server, "lobby") as (sub, _),
        ):
            frames = await request(
                sub, {"action": "subscribe", "request_id": "s", "payload": {"channel": "x"}}
            )
            assert types(frames) == ["ack", "subscribed", "event"]
            sent = []
            for n in range(3):
                said = await request(
                    pub,
                    {"action": "broadcast", "request_id": f"p{n}", "payload": {"message": "m"}},
                )
                sent.append(said[1])
                assert await receive_json(sub) == said[1]
            assert offsets(sent) == [1, 2, 3]
            async with connected(server, f"x&since=1&epoch={hello['epoch']}") as (back, again):
                assert (again["recovered"], again["offset"]) == (True, 3)
                assert [await receive_json(back) for _ in range(2)] == sent[1:]


async def test_a_bad_since_is_refused_with_http_400_json_on_a_real_socket() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            response = await http.get(
                f"{server.http}/ws?channel=x&since=abc&epoch=0123abcd",
                headers=UPGRADE,
            )
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_since"


async def test_at_shutdown_everyone_leaves_presence_and_no_leave_is_sent() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connected(server, "lobby") as (watcher, _),
            connected(server, "room") as (first, _),
            connected(server, "room") as (second, _),
        ):
            frames = await request(
                watcher,
                {
                    "action": "subscribe",
                    "request_id": "w",
                    "payload": {"channel": "room", "join_leave": True},
                },
            )
            assert types(frames) == ["ack", "subscribed", "event"]
            hub = server.app.services.hub
            assert len(hub.presence.clients("room")) == 3
            server.stop.set()
            for ws in (watcher, first, second):
                closed = await read_until_closed(ws)
                assert (closed.code, closed.reason) == (1001, "server shutting down")
                assert closed.messages == []  # no `leave`, for anyone
            assert (hub.presence.clients("room"), hub.presence.clients("lobby")) == ([], [])
            assert hub.stats() == {}


@pytest.mark.fast_path_only("plain ASGI has no pings")
async def test_a_vanished_client_leaves_presence_when_keepalive_notices() -> None:
    """Real sockets, real pings (the timing is tested on the virtual clock: ws/test_presence.py):
    a client that answers no ping is out of presence once it is dropped."""
    with trio.fail_after(TIMEOUT):
        async with running_server(ping_interval=0.05, close_timeout=0.2) as server:
            raw = await wsraw.open_raw(server.port, "/ws?channel=room")
            opcode, payload = await raw.read_frame()
            assert opcode == wsraw.TEXT
            hub = server.app.services.hub
            assert hub.presence.clients("room") == [
                {"connection_id": json.loads(payload)["connection_id"]}
            ]
            frames = await raw.read_frames_until_eof()  # pings it never answers, then the close
            assert wsraw.close_code(frames[-1][1]) == 1011
            assert hub.presence.clients("room") == []
