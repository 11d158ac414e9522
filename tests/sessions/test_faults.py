"""Faults on demand (the `fault` field of a /ws request), through the pytest-trio kit on the
virtual clock, and fragments on a real socket (only our hypercorn extension can fragment)."""

from __future__ import annotations

import json
import logging
import signal
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
import trio.testing
from trio_websocket import open_websocket_url

from qakit_trio.errors import ProtocolError
from qakit_trio.lab.fault_spec import parse_fault
from qakit_trio.testing import StandClient, StandClosed, open_stand
from qakit_trio.ws.connection import Connection

from ..support import wsraw
from ..support.helpers import (
    UPGRADE,
    connected,
    read_until_closed,
    receive_json,
    running_server,
    send_json,
    server_process,
)
from ..support.timeouts import TIMEOUT
from ..test_server import CLI, QUIET


async def ask(
    ws: StandClient, fault: Any, count: int, action: str = "echo", request_id: str = "f"
) -> list[dict[str, Any]]:
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
        assert [(f["type"], f["request_id"]) for f in slow] == [("echo", "slow"), ("event", "slow")]
        assert trio.current_time() - start == pytest.approx(5)


async def test_drop_duplicate_reorder_and_close(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        assert types(await ask(ws, {"drop": ["ack", "event"]}, 1)) == ["echo"]
        assert types(await ask(ws, {"duplicate": ["ack", "event"]}, 5)) == [
            "ack",
            "ack",
            "echo",
            "event",
            "event",
        ]
        assert types(await ask(ws, {"reorder": True}, 4, "triplet_demo")) == [
            "ack",
            "event",
            "step",
            "step",
        ]
        assert types(await ask(ws, {}, 3)) == ["ack", "echo", "event"]  # an empty fault: none
        assert types(await ask(ws, {"close": 4000}, 3)) == ["ack", "echo", "event"]
        with pytest.raises(StandClosed) as closed:
            await ws.receive()
        assert closed.value.code == 4000


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ("slow", "fault"),
        ({"delay_ms": -1}, "fault.delay_ms"),
        ({"delay_ms": 60001}, "fault.delay_ms"),
        ({"drop": ["echo"]}, "fault.drop"),
        ({"duplicate": "event"}, "fault.duplicate"),
        ({"reorder": 1}, "fault.reorder"),
        ({"fragment": 1}, "fault.fragment"),
        ({"close": 1005}, "fault.close"),
        ({"close": 999}, "fault.close"),
        ({"close": 1016}, "fault.close"),
        ({"close": 2999}, "fault.close"),
        ({"close": 1002}, "fault.close"),
        ({"close": 5000}, "fault.close"),
        ({"close": True}, "fault.close"),
        ({"explode": True}, "fault.explode"),
        ({"disconnect_after_ms": -1}, "fault.disconnect_after_ms"),
        ({"disconnect_after_ms": 60001}, "fault.disconnect_after_ms"),
        ({"disconnect_after_ms": "50"}, "fault.disconnect_after_ms"),
        ({"disconnect_after_ms": 1.5}, "fault.disconnect_after_ms"),
        ({"disconnect_after_ms": True}, "fault.disconnect_after_ms"),
    ],
)
async def test_a_bad_fault_is_a_validation_error_naming_the_field(fault: Any, field: str) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        ack, error = await ask(ws, fault, 2)
        assert (ack["type"], error["type"], error["error"], error["field"]) == (
            "ack",
            "error",
            "validation_error",
            field,
        )
        assert error["message"].startswith(field)


async def test_a_delayed_reply_ends_with_its_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand() as stand:
        async with stand.connect() as ws:
            await ws.receive_json()
            assert types(await ask(ws, {"delay_ms": 60000}, 1)) == ["ack"]
        start = trio.current_time()  # the client left: its delayed reply went with it
        assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0
        assert trio.current_time() == start


def test_parse_fault_defaults() -> None:
    fault = parse_fault({"drop": ["data"], "fragment": 3})
    assert (
        fault.delay_ms,
        fault.drop,
        fault.duplicate,
        fault.reorder,
        fault.fragment,
        fault.close,
    ) == (0, frozenset({"data"}), frozenset(), False, 3, None)


def test_the_close_codes_a_fault_may_ask_for() -> None:
    """1000, 1001, 1008, 1011 and 3000-4999 only: not the unassigned 1016-2999 (a client fails
    the connection with 1002 on them), nor the 10xx codes that report another failure."""
    allowed = [code for code in range(1000, 5001) if _close_accepted(code)]
    assert allowed == [1000, 1001, 1008, 1011, *range(3000, 5000)]


def _close_accepted(code: int) -> bool:
    try:
        return parse_fault({"close": code}).close == code
    except ProtocolError as failure:
        details = failure.details
    assert details == {"field": "fault.close"}
    return False


@pytest.mark.fast_path_only(
    "fragments are written by our hypercorn extension; plain ASGI has no way to fragment a message"
)
async def test_fragments_on_the_wire() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            raw = await wsraw.open_raw(server.port, "/ws")
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            await raw.send_text(
                json.dumps(
                    {
                        "action": "echo",
                        "request_id": "fr",
                        "payload": {"text": "x" * 40},
                        "fault": {"fragment": 3, "drop": ["ack", "event"]},
                    }
                )
            )
            frames = [await raw.read_fragment() for _ in range(3)]
            assert [(opcode, fin) for opcode, fin, _ in frames] == [
                (wsraw.TEXT, False),
                (wsraw.CONTINUATION, False),
                (wsraw.CONTINUATION, True),
            ]
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
    status, _ = await stand.request(
        "PUT",
        "/lab/faults",
        json={
            "seed": seed,
            "rules": [
                {"match": {"action": "echo"}, "fault": {"drop": ["ack"]}, "probability": 0.5}
            ],
        },
    )
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
        await stand.request(
            "PUT",
            "/lab/faults",
            json={"rules": [{"match": {"channel": "slow"}, "fault": {"duplicate": ["event"]}}]},
        )
        async with stand.connect("/ws?channel=slow") as slow, stand.connect() as other:
            await slow.receive_json()
            await other.receive_json()
            assert await echo_types(other, "o") == ["ack", "echo", "event"]
            await slow.send_json({"action": "echo", "request_id": "s"})
            assert types([await slow.receive_json() for _ in range(4)]) == [
                "ack",
                "echo",
                "event",
                "event",
            ]
        status, body = await stand.request(
            "PUT", "/lab/faults", json={"rules": [{"fault": {"delay_ms": -5}}]}
        )
        assert status == 422
        assert body["detail"][0]["msg"].startswith(
            "Value error, rules[0].fault.delay_ms: must be a whole number"
        )


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
async def test_pongs_off_leaves_the_clients_pings_unanswered(path: str, server_path: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            if server_path == "plain":  # the server's own layer answers pings: refused
                async with httpx.AsyncClient() as http:
                    response = await http.get(
                        f"{server.http}{path}?pongs=off",
                        headers=UPGRADE,
                    )
                assert (response.status_code, response.json()["error"]) == (
                    400,
                    "pongs_off_not_available",
                )
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


# --- a trainee's delayed replies are bounded, and end with their connection -----------------

DELAYED = {"delay_ms": 60000}


def tasks_running(qualname: str) -> list[dict[str, Any]]:
    """The frame locals of every task of this trio run that has our function `qualname` on
    its await stack (trio.lowlevel's task tree, from the root)."""
    found: list[dict[str, Any]] = []

    def walk(task: trio.lowlevel.Task) -> None:
        for frame, _ in task.iter_await_frames():
            if frame.f_code.co_qualname == qualname:
                found.append(frame.f_locals)
                break
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    walk(root)
    return found


def the_connection() -> Connection:
    [local] = tasks_running("Connection.run")
    conn = local["self"]
    assert isinstance(conn, Connection)
    return conn


def delayed_replies() -> int:
    return len(tasks_running("deliver.<locals>.send"))


async def test_a_connection_holds_at_most_256_delayed_replies(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        start = trio.current_time()
        for n in range(256 + 10):
            frames = await ask(ws, DELAYED, 1, request_id=f"d{n}")
            if n >= 256:  # the ack, then at once the error: nothing is held for it
                frames.append(await ws.receive_json())
                error = frames[1]
                assert (error["type"], error["error"], error["request_id"]) == (
                    "error",
                    "too_many_delayed",
                    f"d{n}",
                )
                assert "256 delayed replies" in error["message"]
            assert frames[0] == {**frames[0], "type": "ack", "request_id": f"d{n}"}
        assert trio.current_time() == start  # every answer came at once
        assert delayed_replies() == 256
        pending = the_connection()._delayed
        assert pending is not None
        assert pending.pending == 256
        assert types(await ask(ws, {}, 3, request_id="now")) == ["ack", "echo", "event"]
        late = [await ws.receive_json() for _ in range(2 * 256)]  # 60 s later: all of them
        assert trio.current_time() - start == pytest.approx(60)
        assert {f["request_id"] for f in late} == {f"d{n}" for n in range(256)}
        assert (pending.pending, pending.bytes, delayed_replies()) == (0, 0, 0)
        assert types(await ask(ws, DELAYED, 1, request_id="again")) == ["ack"]  # room again
        assert delayed_replies() == 1


async def test_a_delayed_request_refused_for_room_does_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Refused before its action runs: a create_order past the 256 delayed replies gets its
    ack and too_many_delayed, and no order is made (nothing is announced either)."""
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        for n in range(256):
            await ask(ws, DELAYED, 1, request_id=f"d{n}")
        await ws.send_json(
            {
                "action": "create_order",
                "request_id": "c",
                "payload": {"customer": "a"},
                "fault": DELAYED,
            }
        )
        frames = [await ws.receive_json() for _ in range(2)]
        assert [(f["type"], f.get("error")) for f in frames] == [
            ("ack", None),
            ("error", "too_many_delayed"),
        ]
        assert await stand.app.services.store.list() == []


@pytest.mark.system  # load: 1,000 echoes of 100 KB
async def test_1000_delayed_echoes_of_100_kb_hold_at_most_the_byte_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The issue's attack (1,000 echoes of 100 KB, delay 60 s) on one connection: at most
    QAKIT_OUTBOX_BYTES of frames held, counted by the connection; the rest refused at once."""
    payload = {"text": "x" * 100_000}
    reply = 2 * 100_000  # each held reply is its echo and its event, about 100 KB each
    async with open_stand() as stand, stand.connect() as ws:
        await ws.receive_json()
        cap = stand.app.settings.outbox_bytes
        start, held, refused = trio.current_time(), 0, []
        for n in range(1000):
            await ws.send_json(
                {"action": "echo", "request_id": f"b{n}", "payload": payload, "fault": DELAYED}
            )
            # a plain request after it: its frames come after everything answering b{n}
            frames = await ask(ws, {}, 1, request_id=f"p{n}")
            while frames[-1]["request_id"] != f"p{n}" or frames[-1]["type"] != "event":
                frames.append(await ws.receive_json())
            about_b = [f for f in frames if f["request_id"] == f"b{n}"]
            assert about_b[0]["type"] == "ack"
            if len(about_b) == 2:
                assert about_b[1]["error"] == "too_many_delayed"
                refused.append(about_b[1])
            else:
                held += 1
            assert held <= cap // reply + 1, f"{held} delayed echoes of 100 KB held"
        assert trio.current_time() == start
        pending = the_connection()._delayed
        assert pending is not None
        assert 0 < pending.bytes <= cap
        assert pending.pending == delayed_replies() == held == 1000 - len(refused)
        assert str(cap) in refused[0]["message"]
        assert "QAKIT_OUTBOX_BYTES" in refused[0]["message"]


async def frames_until_closed(ws: StandClient) -> tuple[list[dict[str, Any]], int | None]:
    frames = []
    while True:
        try:
            frames.append(await ws.receive_json())
        except StandClosed as closed:
            return frames, closed.code


async def test_a_delayed_close_ends_the_other_delayed_replies_without_an_error(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A delayed reply that closes the connection, with more delayed replies due just after
    it: the connection closes with the fault's code, the later ones end with it, and nothing
    is logged as an error (before: ClosedResourceError, "connection failed")."""
    caplog.set_level(logging.INFO)
    async with open_stand() as stand:
        async with stand.connect() as ws:
            await ws.receive_json()
            await ws.send_json(
                {"action": "echo", "request_id": "a", "fault": {"delay_ms": 1000, "close": 4000}}
            )
            for n in range(1, 6):
                await ws.send_json(
                    {"action": "echo", "request_id": f"b{n}", "fault": {"delay_ms": 1000 + n}}
                )
            frames, code = await frames_until_closed(ws)
            assert code == 4000
            assert [f["type"] for f in frames if f["request_id"] == "a"] == ["ack", "echo", "event"]
            assert not [f for f in frames if f["type"] == "error"]
        assert trio.current_time() == pytest.approx(1)
        assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_1000_delayed_replies_end_at_once_when_their_client_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over a real socket: after 1,000 delayed requests and a close, the connection's task and
    every delayed-reply task are gone within a moment (not in 60 s), and nothing is logged as
    an error (no "connection failed", ClosedResourceError, "Error in ASGI Framework")."""
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            async with connected(server) as (ws, _):
                for n in range(1000):
                    await send_json(ws, {"action": "echo", "request_id": f"d{n}", "fault": DELAYED})
                await send_json(ws, {"action": "echo", "request_id": "last"})
                frames = [await receive_json(ws)]
                while frames[-1] != {**frames[-1], "type": "event", "request_id": "last"}:
                    frames.append(await receive_json(ws))
                acks = [f for f in frames if f["type"] == "ack" and f["request_id"] != "last"]
                refused = [f for f in frames if f["type"] == "error"]
                assert len(acks) == 1000
                held = delayed_replies()
                assert held == 1000 - len(refused) > 0
                assert len(tasks_running("Connection.run")) == 1
            with trio.fail_after(5):  # a moment; the delay is 60 s
                while tasks_running("Connection.run") or delayed_replies():
                    await trio.testing.wait_all_tasks_blocked(0.01)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.system  # the stand as a process
async def test_sigterm_does_not_wait_for_delayed_replies() -> None:
    """A stand with delayed replies pending shuts down at once on SIGTERM: the client gets
    1001, the process exits well within the delay (and the shutdown timeout), no ERROR line."""
    env = {**QUIET, "QAKIT_SHUTDOWN_TIMEOUT": "30"}
    with trio.fail_after(TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], env) as server:
            async with open_websocket_url(f"{server.ws}/ws") as ws:
                await receive_json(ws)
                for n in range(200):
                    await send_json(ws, {"action": "echo", "request_id": f"d{n}", "fault": DELAYED})
                    assert (await receive_json(ws))["type"] == "ack"
                server.process.send_signal(signal.SIGTERM)
                assert (await read_until_closed(ws)).code == 1001
            with trio.fail_after(10):  # the delay is 60 s, the shutdown timeout 30 s
                assert await server.process.wait() == 0
    logged = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert logged, server.lines
    assert [line for line in logged if line["log.level"] in ("error", "critical")] == []
    assert not [line for line in server.lines if "Traceback" in line or "Error in" in line]


# --- reconnection practice: disconnect_after_ms and POST /lab/blip (issue 27) -----------------


async def test_disconnect_after_ms_drops_the_connection_after_the_replies(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The replies as without a fault, then, that much later, the connection ends without a
    close frame (the kit's client sees 1006), and it has left its channels."""
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand:
            async with stand.connect("/ws?channel=room") as ws:
                await ws.receive_json()
                start = trio.current_time()
                frames = await ask(ws, {"disconnect_after_ms": 50}, 3, request_id="d")
                assert types(frames) == ["ack", "echo", "event"]
                assert {f["request_id"] for f in frames} == {"d"}
                assert trio.current_time() == start  # the replies came at once
                frames, code = await frames_until_closed(ws)
                assert (frames, code) == ([], 1006)
                assert trio.current_time() - start == pytest.approx(0.05)
            status, stats = await stand.request("GET", "/stats")
            assert (status, stats["total_connections"], stats["channels"]) == (200, 0, {})


async def test_disconnect_after_ms_with_other_faults_keeps_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, stand.connect() as ws:
            await ws.receive_json()
            start = trio.current_time()
            fault = {"drop": ["ack"], "delay_ms": 100, "disconnect_after_ms": 500}
            await ws.send_json({"action": "echo", "request_id": "f", "fault": fault})
            frames, code = await frames_until_closed(ws)
            assert (types(frames), code) == (["echo", "event"], 1006)
            assert trio.current_time() - start == pytest.approx(0.5)


@pytest.mark.fast_path_only("plain ASGI cannot drop a connection: the server closes it (1011)")
async def test_disconnect_after_ms_drops_the_tcp_connection_without_a_close_frame() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server:
            async with connected(server, "room") as (ws, _):
                await send_json(
                    ws, {"action": "echo", "request_id": "d", "fault": {"disconnect_after_ms": 50}}
                )
                closed = await read_until_closed(ws)
                assert [json.loads(m)["type"] for m in closed.messages] == ["ack", "echo", "event"]
                assert closed.code == 1006  # no close frame: trio-websocket's abnormal closure
            raw = await wsraw.open_raw(server.port, "/ws")
            assert (await raw.read_frame())[0] == wsraw.TEXT  # hello
            await raw.send_text(
                json.dumps(
                    {"action": "echo", "request_id": "r", "fault": {"disconnect_after_ms": 50}}
                )
            )
            frames = await raw.read_frames_until_eof()
            assert [opcode for opcode, _ in frames] == [wsraw.TEXT] * 3  # and no CLOSE
            assert server.app.services.hub.stats() == {}


async def test_a_blip_closes_the_channels_connections_with_1012_and_the_others_stay() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server, "x") as (in_x, _),
            connected(server, "lobby") as (subscribed_to_x, _),
            connected(server, "y") as (in_y, _),
            open_websocket_url(f"{server.ws}/ws/orders") as legacy,
        ):
            await send_json(
                subscribed_to_x,
                {"action": "subscribe", "request_id": "s", "payload": {"channel": "x"}},
            )
            assert [(await receive_json(subscribed_to_x))["type"] for _ in range(3)] == [
                "ack",
                "subscribed",
                "event",
            ]
            answer = await http.post("/lab/blip", json={"channel": "x"})
            assert (answer.status_code, answer.json()) == (
                200,
                {"closed": 2, "channel": "x", "history_reset": 0},
            )
            for ws in (in_x, subscribed_to_x):
                closed = await read_until_closed(ws)
                assert (closed.code, closed.reason, closed.messages) == (
                    1012,
                    "service restart",
                    [],
                )
            await send_json(in_y, {"action": "echo", "request_id": "still"})
            assert [(await receive_json(in_y))["type"] for _ in range(3)] == [
                "ack",
                "echo",
                "event",
            ]
            answer = await http.post("/lab/blip", json={})  # every /ws connection
            assert answer.json() == {"closed": 1, "channel": None, "history_reset": 0}
            assert (await read_until_closed(in_y)).code == 1012
            await legacy.send_message(json.dumps({"action": "ping"}))  # not a /ws connection
            assert json.loads(await legacy.get_message()) == {"type": "pong"}
            assert server.app.services.hub.total() == 0
