"""Faults on demand (the `fault` field of a /ws request), through the pytest-trio kit on the
virtual clock, and fragments on a real socket (only our hypercorn extension can fragment)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from qakit_trio.testing import StandClient, StandClosed, open_stand
from qakit_trio.wire.faults import parse_fault

from ..support import wsraw
from ..support.helpers import running_server


async def ask(ws: StandClient, fault: Any, count: int, action: str = "echo",
              request_id: str = "f") -> list[dict[str, Any]]:
    await ws.send_json({"action": action, "request_id": request_id, "fault": fault})
    return [await ws.receive_json() for _ in range(count)]


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


async def test_a_delay_holds_this_request_only(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        start = trio.current_time()
        await ws.send_json({"action": "echo", "request_id": "slow", "fault": {"delay_ms": 5000}})
        assert (await ws.receive_json())["type"] == "ack"
        await ws.send_json({"action": "echo", "request_id": "quick"})  # not held up
        quick = [await ws.receive_json() for _ in range(3)]
        assert {f["request_id"] for f in quick} == {"quick"}
        assert trio.current_time() == start  # no virtual time has passed yet
        slow = [await ws.receive_json() for _ in range(2)]
        assert [(f["type"], f["request_id"]) for f in slow] == [("echo", "slow"),
                                                                ("event", "slow")]
        assert trio.current_time() - start == pytest.approx(5)


async def test_drop_duplicate_reorder_and_close(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        assert types(await ask(ws, {"drop": ["ack", "event"]}, 1)) == ["echo"]
        assert types(await ask(ws, {"duplicate": ["ack", "event"]}, 5)) == [
            "ack", "ack", "echo", "event", "event"]
        assert types(await ask(ws, {"reorder": True}, 4, "triplet_demo")) == [
            "ack", "event", "step", "step"]
        assert types(await ask(ws, {}, 3)) == ["ack", "echo", "event"]  # an empty fault: none
        assert types(await ask(ws, {"close": 4000}, 3)) == ["ack", "echo", "event"]
        with pytest.raises(StandClosed) as closed:
            await ws.receive()
        assert closed.value.code == 4000


@pytest.mark.parametrize(("fault", "field"), [
    ("slow", "fault"), ({"delay_ms": -1}, "fault.delay_ms"), ({"delay_ms": 60001},
                                                               "fault.delay_ms"),
    ({"drop": ["echo"]}, "fault.drop"), ({"duplicate": "event"}, "fault.duplicate"),
    ({"reorder": 1}, "fault.reorder"), ({"fragment": 1}, "fault.fragment"),
    ({"close": 1005}, "fault.close"), ({"close": 999}, "fault.close"),
    ({"explode": True}, "fault.explode"),
])
async def test_a_bad_fault_is_a_validation_error_naming_the_field(fault: Any, field: str) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        ack, error = await ask(ws, fault, 2)
        assert (ack["type"], error["type"], error["error"], error["field"]) == (
            "ack", "error", "validation_error", field)
        assert error["message"].startswith(field)


async def test_a_delayed_reply_ends_with_its_connection(
        autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand:
        async with stand.connect() as ws:
            await ws.receive_json()
            assert types(await ask(ws, {"delay_ms": 60000}, 1)) == ["ack"]
        start = trio.current_time()  # the client left: its delayed reply went with it
        assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0
        assert trio.current_time() == start


def test_parse_fault_defaults() -> None:
    fault = parse_fault({"drop": ["data"], "fragment": 3})
    assert (fault.delay_ms, fault.drop, fault.duplicate, fault.reorder, fault.fragment,
            fault.close) == (0, frozenset({"data"}), frozenset(), False, 3, None)


@pytest.mark.fast_path_only("fragments are written by our hypercorn extension; plain ASGI "
                            "has no way to fragment a message")
async def test_fragments_on_the_wire() -> None:
    with trio.fail_after(20):
        async with running_server() as server:
            raw = await wsraw.open_raw(server.port, "/ws")
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            await raw.send_text(json.dumps({"action": "echo", "request_id": "fr",
                                            "payload": {"text": "x" * 40},
                                            "fault": {"fragment": 3, "drop": ["ack", "event"]}}))
            frames = [await raw.read_fragment() for _ in range(3)]
            assert [(opcode, fin) for opcode, fin, _ in frames] == [
                (wsraw.TEXT, False), (wsraw.CONTINUATION, False), (wsraw.CONTINUATION, True)]
            echo = json.loads(b"".join(payload for _, _, payload in frames))
            assert (echo["type"], echo["data"]) == ("echo", {"text": "x" * 40})


async def echo_types(ws: StandClient, request_id: str) -> list[str]:
    await ws.send_json({"action": "echo", "request_id": request_id})
    frames = [await ws.receive_json()]
    while frames[-1]["type"] != "event":
        frames.append(await ws.receive_json())
    return types(frames)


async def scenario(stand: Any, seed: int) -> list[list[str]]:
    """Ten echoes under a rule that drops the ack of about half of them, by the seed."""
    status, _ = await stand.request("PUT", "/lab/faults", json={"seed": seed, "rules": [
        {"match": {"action": "echo"}, "fault": {"drop": ["ack"]}, "probability": 0.5}]})
    assert status == 200
    async with stand.connect() as ws:
        await ws.receive_json()
        return [await echo_types(ws, f"e{n}") for n in range(10)]


async def test_server_wide_rules_are_seeded_so_a_scenario_repeats() -> None:
    async with open_stand() as first, open_stand() as second:
        run = await scenario(first, 7)
        assert run == await scenario(second, 7)  # same seed, same requests: same faults
        assert ["ack", "echo", "event"] in run
        assert ["echo", "event"] in run  # both outcomes happen in ten draws with this seed
        assert (await first.request("GET", "/lab/faults"))[1]["seed"] == 7
        assert (await first.request("DELETE", "/lab/faults"))[1] == {"seed": None, "rules": []}
        async with first.connect() as ws:
            await ws.receive_json()
            assert await echo_types(ws, "after") == ["ack", "echo", "event"]


async def test_a_rule_matches_by_channel_and_a_bad_rule_is_422_naming_it() -> None:
    async with open_stand() as stand:
        await stand.request("PUT", "/lab/faults", json={"rules": [
            {"match": {"channel": "slow"}, "fault": {"duplicate": ["event"]}}]})
        async with stand.connect("/ws?channel=slow") as slow, stand.connect() as other:
            await slow.receive_json()
            await other.receive_json()
            assert await echo_types(other, "o") == ["ack", "echo", "event"]
            await slow.send_json({"action": "echo", "request_id": "s"})
            assert types([await slow.receive_json() for _ in range(4)]) == [
                "ack", "echo", "event", "event"]
        status, body = await stand.request("PUT", "/lab/faults", json={"rules": [
            {"fault": {"delay_ms": -5}}]})
        assert status == 422
        assert body["detail"][0]["msg"].startswith(
            "Value error, rules[0].fault.delay_ms: must be a whole number")


async def test_the_echo_endpoint_can_answer_late(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand:
        async with stand.connect("/ws/echo?delay_ms=3000") as ws:
            start = trio.current_time()
            await ws.send_text("one")
            await ws.send_bytes(b"two")
            assert await ws.receive() == "one"
            assert trio.current_time() - start == pytest.approx(3)
            assert await ws.receive() == b"two"  # in order, each 3 s after it arrived
        with pytest.raises(StandClosed) as refused:
            async with stand.connect("/ws/echo?delay_ms=soon") as ws:
                await ws.receive()
        assert refused.value.status == 400
        assert "delay_ms" in str(refused.value.body)


@pytest.mark.parametrize("path", ["/ws", "/ws/echo"])
async def test_pongs_off_leaves_the_clients_pings_unanswered(path: str, server_path: str
                                                              ) -> None:
    with trio.fail_after(20):
        async with running_server() as server:
            if server_path == "plain":  # the server's own layer answers pings: refused
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"{server.http}{path}?pongs=off", headers={
                        "Connection": "Upgrade", "Upgrade": "websocket",
                        "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
                assert (response.status_code, response.json()["error"]) == (
                    400, "pongs_off_not_available")
                return
            for query, answered in (("", True), ("?pongs=off", False)):
                raw = await wsraw.open_raw(server.port, f"{path}{query}")
                if path == "/ws":
                    assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
                await raw.send_frame(wsraw.PING, b"anyone?")
                await raw.send_text(json.dumps({"action": "echo", "request_id": "alive"}))
                opcode, payload = await raw.read_frame()
                # unanswered: the next frame is already the reply to the text that followed
                assert (opcode == wsraw.PONG) is answered, (query, opcode, payload)
