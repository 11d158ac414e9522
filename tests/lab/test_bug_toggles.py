"""Every bug of the lab's catalogue: switched on, it produces exactly its defect; off (the
default), the same scenario shows none. docs/lab-answer-key.md points here, bug by bug."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from qakit_trio.domain.order_store import MemoryOrderStore
from qakit_trio.domain.orders import Status
from qakit_trio.errors import InvalidTransition
from qakit_trio.lab.store import LabStore

from ..support.helpers import (
    connected,
    read_until_closed,
    receive_json,
    request,
    running_server,
    send_json,
)
from ..support.kafka_topics import has_count, read_topic
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT

# With a bug on, the stand breaks its contract on purpose: its frames are not checked against
# the AsyncAPI document (conftest.py); the same scenarios with the bug off are checked elsewhere.
pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")
ON_OFF = pytest.mark.parametrize("on", [False, True], ids=["default", "bug"])


def bugs(name: str, on: bool) -> dict[str, Any]:
    return {"bugs": (name,) if on else ()}


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


@ON_OFF
async def test_ack_after_data(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("ack_after_data", on)) as server,
            connected(server) as (ws, _),
        ):
            frames = await request(ws, {"action": "echo", "request_id": "r"})
            assert types(frames) == (["echo", "ack", "event"] if on else ["ack", "echo", "event"])


@ON_OFF
async def test_event_wrong_request_id(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("event_wrong_request_id", on)) as server,
            connected(server) as (ws, _),
        ):
            first = await request(ws, {"action": "echo", "request_id": "one"})
            second = await request(ws, {"action": "echo", "request_id": "two"})
            assert first[-1]["request_id"] == "one"
            assert [f["request_id"] for f in second] == (
                ["two", "two", "one"] if on else ["two", "two", "two"]
            )


@ON_OFF
async def test_broadcast_leaks_channels(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("broadcast_leaks_channels", on)) as server,
            connected(server, "room") as (alice, _),
            connected(server, "elsewhere") as (carol, _),
        ):
            await request(alice, {"action": "broadcast", "payload": {"message": "hi"}})
            first = (await request(carol, {"action": "echo", "request_id": "c"}))[0]
            if on:
                assert (first["type"], first["channel"], first["message"]) == (
                    "message",
                    "room",
                    "hi",
                )
            else:
                assert (first["type"], first["request_id"]) == ("ack", "c")


@ON_OFF
async def test_list_orders_off_by_one(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("list_orders_off_by_one", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server) as (ws, _),
        ):
            for n in range(4):
                await http.post("/orders", json={"customer": f"c{n}"})
            frames = await request(ws, {"action": "list_orders", "payload": {"limit": 3}})
            assert len(frames[1]["data"]) == (2 if on else 3)


@ON_OFF
async def test_duplicate_event(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("duplicate_event", on)) as server,
            connected(server) as (ws, _),
        ):
            frames = await request(ws, {"action": "echo", "request_id": "d"})
            frames += await request(ws, {"action": "echo", "request_id": "next"}, until="ack")
            assert types(frames) == (
                ["ack", "echo", "event", "event", "ack"] if on else ["ack", "echo", "event", "ack"]
            )


@ON_OFF
async def test_close_on_invalid_json(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("close_on_invalid_json", on)) as server,
            connected(server) as (ws, _),
        ):
            await ws.send_message("{wrong-json}")
            if on:
                with pytest.raises(Exception) as closed:  # noqa: PT011  (ConnectionClosed)
                    await ws.get_message()
                assert closed.value.reason.code == 1000  # type: ignore[attr-defined]
            else:
                assert (await receive_json(ws))["error"] == "invalid_json"


@ON_OFF
async def test_no_id_request_id(on: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("no_id_request_id", on)) as server,
            connected(server) as (ws, hello),
        ):
            frames = await request(ws, {"action": "echo"})
            expected = "no-id" if on else f"srv-{hello['connection_id']}-1"
            assert {f["request_id"] for f in frames} == {expected}
    logged = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "frame in"]
    assert [line["request_id"] for line in logged] == [expected]  # the log says what it got


@ON_OFF
async def test_any_transition_allowed(on: bool, store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings, **bugs("any_transition_allowed", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            await http.post("/orders", json={"customer": "a"})
            delivered = await http.post("/orders/1/deliver")  # created -> delivered: not allowed
            assert delivered.status_code == (200 if on else 400)


@ON_OFF
async def test_lost_update_in_memory(on: bool, autojump_clock: trio.testing.MockClock) -> None:
    """Two concurrent payments of one order, on the virtual clock: the second must be refused
    (paid -> paid); with the bug both succeed (a double payment: one write is lost)."""
    real = MemoryOrderStore()
    store = LabStore(real, LabStore.rules(any_transition=False, lost_update=on), off_by_one=False)
    await real.create("a")
    outcomes: list[str] = []

    async def pay() -> None:
        try:
            await store.change_status(1, Status.PAID)
            outcomes.append("ok")
        except InvalidTransition:
            outcomes.append("refused")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pay)
        nursery.start_soon(pay)
    assert sorted(outcomes) == (["ok", "ok"] if on else ["ok", "refused"])


@ON_OFF
async def test_lost_update_on_postgresql(on: bool, database_url: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(database_url=database_url, **bugs("lost_update", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            await http.post("/orders", json={"customer": "a"})
            codes: list[int] = []

            async def change(verb: str) -> None:
                codes.append((await http.post(f"/orders/1/{verb}")).status_code)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(change, "pay")  # a double payment: one must be refused
                nursery.start_soon(change, "pay")
            assert sorted(codes) == ([200, 200] if on else [200, 400])


@ON_OFF
async def test_stale_stats(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("stale_stats", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            assert (await http.get("/stats")).json()["total_connections"] == 0
            async with connected(server, "room"):
                counted = (await http.get("/stats")).json()["total_connections"]
            assert counted == (0 if on else 1)


@ON_OFF
async def test_missing_order_is_200(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("missing_order_is_200", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            missing = await http.get("/orders/7")
            assert (missing.status_code, missing.text) == (
                (200, "null") if on else (404, '{"detail":"Order not found"}')
            )
            never = await http.get("/orders/0")  # not an order id at all: 404 either way
            assert (never.status_code, never.text) == (404, '{"detail":"Order not found"}')


@ON_OFF
async def test_legacy_requester_misses_event(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("legacy_requester_misses_event", on)) as server,
            open_websocket_url(f"{server.ws}/ws/orders") as me,
        ):
            await me.send_message(json.dumps({"action": "create_order", "customer": "a"}))
            await me.send_message(json.dumps({"action": "ping"}))
            received = [json.loads(await me.get_message()) for _ in range(2 if on else 3)]
            assert types(received) == (
                ["result", "pong"] if on else ["result", "order_created", "pong"]
            )


@ON_OFF
async def test_kafka_record_without_event_id(on: bool, kafka_settings: dict[str, Any]) -> None:
    """A real broker: the echo's record on the WS topic, read back with a real consumer."""
    bootstrap, topic = kafka_settings["kafka_bootstrap"], kafka_settings["kafka_ws_topic"]
    with trio.fail_after(SERVICE_TIMEOUT):
        async with (
            running_server(**kafka_settings, **bugs("kafka_record_without_event_id", on)) as server,
            connected(server) as (ws, _),
        ):
            frames = await request(ws, {"action": "echo", "request_id": "k"})
            read = await read_topic(bootstrap, topic, has_count(1))
    assert read[0].value["request_id"] == "k"
    assert read[0].value.get("event_id") == (None if on else frames[-1]["event_id"])


@ON_OFF
async def test_event_log_without_event_id(on: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("event_log_without_event_id", on)) as server,
            connected(server) as (ws, _),
        ):
            frames = await request(ws, {"action": "echo", "request_id": "l"})
    lines = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "event"]
    logged = [line for line in lines if line.get("request_id") == "l"]
    assert [line.get("event_id") for line in logged] == [None if on else frames[-1]["event_id"]]


async def test_bugs_are_switched_at_run_time_and_unknown_names_are_422() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            listed = (await http.get("/lab/bugs")).json()["bugs"]
            assert not any(bug["enabled"] for bug in listed)
            changed = await http.put("/lab/bugs", json={"enabled": ["ack_after_data"]})
            assert [b["name"] for b in changed.json()["bugs"] if b["enabled"]] == ["ack_after_data"]
            async with connected(server) as (ws, _):
                await send_json(ws, {"action": "echo"})
                assert (await receive_json(ws))["type"] == "echo"  # the ack comes late now
            refused = await http.put("/lab/bugs", json={"enabled": ["ack_after_data", "nope"]})
            assert refused.status_code == 422
            assert "unknown bug 'nope'" in refused.json()["detail"][0]["msg"]
            assert server.app.services.bugs.enabled() == ["ack_after_data"]  # unchanged
            for bad, kind in (
                ('{"enabled": [', "json_invalid"),
                ("[1]", "model_attributes_type"),
                ('{"enabled": "\\ud800"}', "json_invalid"),
            ):  # every door's rule
                answer = await http.put("/lab/bugs", content=bad)
                assert (answer.status_code, answer.json()["detail"][0]["type"]) == (422, kind)
            await http.put("/lab/bugs", json={"enabled": []})
            assert server.app.services.bugs.enabled() == []


# --- the channel bugs (lab/channels.py): recovery, offsets, presence, unsubscribe, epochs -----


async def publish(ws: Any, count: int, prefix: str = "p") -> list[dict[str, Any]]:
    """`count` broadcasts to the connection's URL channel: the `message` frames it got back."""
    sent = []
    for n in range(1, count + 1):
        frames = await request(
            ws,
            {"action": "broadcast", "request_id": f"{prefix}{n}", "payload": {"message": str(n)}},
        )
        sent += [frame for frame in frames if frame["type"] == "message"]
    return sent


def replayed(frames: list[dict[str, Any]]) -> list[int]:
    """The offsets of the `message` frames a `subscribe` answered with."""
    return [frame["offset"] for frame in frames if frame["type"] == "message"]


async def replayed_at_connect(server: Any, channel: str, offset: int, epoch: str) -> list[int]:
    """Recovery at connect (`?since=&epoch=`): the offsets replayed after the hello (all that
    comes before the answer to a request sent after it)."""
    async with connected(server, f"{channel}&since={offset}&epoch={epoch}") as (ws, hello):
        assert hello["recovered"] is True
        return replayed(await request(ws, {"action": "echo", "request_id": "after"}))


@ON_OFF
async def test_recovery_skips_one(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("recovery_skips_one", on)) as server,
            connected(server, "rec") as (publisher, hello),
            connected(server, "lobby") as (client, _),
        ):
            await publish(publisher, 3)
            since = {"offset": 1, "epoch": hello["epoch"]}
            frames = await request(
                client,
                {
                    "action": "subscribe",
                    "request_id": "s",
                    "payload": {"channel": "rec", "since": since},
                },
            )
            assert types(frames) == ["ack", "subscribed", *["message"] * (1 if on else 2), "event"]
            assert frames[1]["data"]["recovered"] is True
            assert replayed(frames) == ([3] if on else [2, 3])  # the missed 2 is lost
            assert frames[-1]["extra"]["replayed"] == (1 if on else 2)
            recovered = await replayed_at_connect(server, "rec", 1, hello["epoch"])
            assert recovered == ([3] if on else [2, 3])


@ON_OFF
async def test_recovery_duplicates_last(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("recovery_duplicates_last", on)) as server,
            connected(server, "rec") as (publisher, hello),
            connected(server, "lobby") as (client, _),
        ):
            await publish(publisher, 3)
            since = {"offset": 1, "epoch": hello["epoch"]}
            frames = await request(
                client,
                {
                    "action": "subscribe",
                    "request_id": "s",
                    "payload": {"channel": "rec", "since": since},
                },
            )
            assert frames[1]["data"]["recovered"] is True
            assert replayed(frames) == ([1, 2, 3] if on else [2, 3])  # 1: the client had it
            recovered = await replayed_at_connect(server, "rec", 1, hello["epoch"])
            assert recovered == ([1, 2, 3] if on else [2, 3])


@ON_OFF
async def test_offset_gap(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("offset_gap", on)) as server,
            connected(server, "gap") as (publisher, hello),
            connected(server, "gap") as (listener, _),
        ):
            assert hello["offset"] == 0
            sent = await publish(publisher, 3)
            assert [frame["offset"] for frame in sent] == ([2, 4, 6] if on else [1, 2, 3])
            got = [await receive_json(listener) for _ in range(3)]  # everyone sees the gap
            assert got == sent


@ON_OFF
async def test_presence_keeps_ghosts(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("presence_keeps_ghosts", on)) as server,
            connected(server, "ghosts") as (asker, mine),
        ):
            async with connected(server, "ghosts") as (ghost, theirs):
                frames = await request(
                    ghost, {"action": "echo", "request_id": "bye", "fault": {"close": 1000}}
                )
                assert types(frames) == ["ack", "echo", "event"]
                assert (await read_until_closed(ghost)).code == 1000  # it has left: closed
            frames = await request(
                asker,
                {"action": "presence", "request_id": "p", "payload": {"channel": "ghosts"}},
            )
            here = [{"connection_id": mine["connection_id"]}]
            ghosts = [{"connection_id": theirs["connection_id"]}] if on else []
            assert frames[1]["data"] == {
                "channel": "ghosts",
                "count": len(here + ghosts),
                "clients": here + ghosts,
            }


@ON_OFF
async def test_unsubscribe_ignored(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("unsubscribe_ignored", on)) as server,
            connected(server, "unsub") as (leaver, _),
            connected(server, "unsub") as (sender, _),
        ):
            frames = await request(
                leaver,
                {"action": "unsubscribe", "request_id": "u", "payload": {"channel": "unsub"}},
            )
            assert types(frames) == ["ack", "unsubscribed", "event"]  # answered the same
            assert frames[1]["data"] == {"channel": "unsub"}
            said = await request(
                sender, {"action": "broadcast", "request_id": "b", "payload": {"message": "hi"}}
            )
            assert said[-1]["extra"]["delivered"] == (2 if on else 1)
            first = (await request(leaver, {"action": "echo", "request_id": "next"}))[0]
            if on:
                assert (first["type"], first["channel"], first["message"]) == (
                    "message",
                    "unsub",
                    "hi",
                )
            else:
                assert (first["type"], first["request_id"]) == ("ack", "next")


@ON_OFF
async def test_epoch_never_changes(on: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**bugs("epoch_never_changes", on)) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            async with (
                connected(server, "epochs") as (publisher, hello),
                connected(server, "lobby") as (client, _),
            ):
                await publish(publisher, 2)
                since = {"offset": 1, "epoch": "not-this-one"}
                frames = await request(
                    client,
                    {
                        "action": "subscribe",
                        "request_id": "s",
                        "payload": {"channel": "epochs", "since": since},
                    },
                )
                assert frames[1]["data"]["recovered"] is on  # a foreign epoch's position
                assert replayed(frames) == ([2] if on else [])
                async with connected(server, "epochs&since=1&epoch=not-this-one") as (ws, back):
                    assert back["recovered"] is on  # at connect too
                    after = await request(ws, {"action": "echo", "request_id": "after"})
                    assert replayed(after) == ([2] if on else [])
            # the teacher restarts the channel's history: a new epoch, unless the bug keeps it
            blip = await http.post("/lab/blip", json={"channel": "epochs", "reset_history": True})
            assert blip.json() == {"closed": 0, "channel": "epochs", "history_reset": 1}
            async with connected(server, "epochs") as (_, again):
                assert again["offset"] == 0
                assert (again["epoch"] == hello["epoch"]) is on
