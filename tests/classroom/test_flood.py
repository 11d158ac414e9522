"""A hostile flood of findings on a real server and socket (web/classroom.py, classroom/replay.py):
a thousand POST /lab/findings at once, malformed, of the wrong shape, oversized, two hundred
steps long, and good ones from a hundred and twenty trainees, while WebSocket clients keep
echoing and broadcasting. Every finding is answered 201, 413, 422, 429 or 503 (never 500); every
client gets every reply it asked for and no error frame it did not ask for; the replays never
touch the live stand's data; and /health is ok afterwards."""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.classroom import replay
from qakit_trio.classroom.budget import ReplayBudget
from qakit_trio.lab.bugs import ASSIGNABLE
from qakit_trio.web import classroom as routes
from qakit_trio.web.classroom import MAX_FINDING_BYTES

from ..support.class_auth import CODE, SECRET, SETTINGS, TEACHER
from ..support.helpers import Server, receive_json, running_server, send_json
from ..support.timeouts import LOAD_TIMEOUT

pytestmark = [
    pytest.mark.system,  # a flood on a real socket
    # the replay twins run the trainees' bugs, which break the contract on purpose (and the
    # document is not checked in the stand's worker thread); the watchers' frames are checked
    # here, frame by frame
    pytest.mark.breaks_contract("the replay twins run the lab's bugs"),
]

AUTH: dict[str, Any] = {**SETTINGS, "jwt_secret": SECRET}
FINDINGS = 1_000
TRAINEES = 120  # about eight findings each: past the burst of five, some are 429
WATCHERS = 6  # WebSocket clients echoing and broadcasting all along
ANSWERS = {201, 413, 422, 429, 503}
REPLAY_SECONDS = 0.25  # the wall time a finding's replays may take (5 s on a real stand)
ECHO = {"conn": "a", "path": "/ws", "send": {"action": "echo", "request_id": "r"}}
ORDER = {"http": "POST", "path": "/orders", "json": {"customer": "twin"}}
STORM = [  # two hundred broadcasts on sixteen connections of one channel: the slow kind
    {
        "conn": f"c{n % 16}",
        "path": "/ws?channel=storm",
        "send": {"action": "broadcast", "payload": {"message": "x" * 500}},
        "wait_ms": 0,
    }
    for n in range(200)
]


def finding(n: int) -> bytes:
    """The n-th finding of the flood: one of ten kinds."""
    kind = n % 10
    if kind in (0, 1):
        return b'{"steps": [{"conn": "a", "path": "/ws"'  # malformed JSON
    if kind == 2:
        return json.dumps([ECHO]).encode()  # not an object
    if kind == 3:
        shapes: list[Any] = [
            {"steps": "all of them", "wrong": {"step": 1, "frame": 1}},
            {"steps": [{"http": "DELETE", "path": "/orders"}], "wrong": {"step": 1, "frame": 1}},
            {"steps": [ECHO] * 201, "wrong": {"step": 1, "frame": 1}},
            {"steps": [{"http": "GET", "path": "/lab/bugs"}], "wrong": {"step": 1, "frame": 1}},
        ]
        return json.dumps(shapes[n % 4]).encode()
    if kind == 4:  # oversized
        return json.dumps({"steps": [ECHO], "expected": "x" * MAX_FINDING_BYTES}).encode()
    if kind == 5:
        return json.dumps({"steps": STORM, "wrong": {"step": 200, "frame": 2}}).encode()
    steps = [ORDER, ECHO] if kind == 6 else [ECHO]
    return json.dumps({"steps": steps, "wrong": {"step": len(steps), "frame": 4}}).encode()


async def post(port: int, token: str, body: bytes, *, chunked: bool) -> tuple[int, bytes]:
    """POST /lab/findings on a connection of its own (raw: an oversized body is answered
    before it is all sent, which an HTTP client takes badly); its status and body."""
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        f"POST /lab/findings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()
    if chunked:
        pieces = [body[at : at + 16_384] for at in range(0, len(body), 16_384)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream, trio.open_nursery() as nursery:

        async def write() -> None:  # (the stand may answer and close before the end)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(head + body)

        nursery.start_soon(write)
        received = b""
        with contextlib.suppress(trio.BrokenResourceError):  # (reset once it has answered)
            while chunk := await stream.receive_some():
                received += chunk
        nursery.cancel_scope.cancel()
    assert received.startswith(b"HTTP/1.1 "), f"no answer: {received!r}"
    return int(received.split()[1]), received.partition(b"\r\n\r\n")[2]


async def token_for(http: httpx.AsyncClient, name: str) -> str:
    answer = await http.post("/auth/token", json={"name": name, "class_code": CODE})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


async def watch(
    server: Server, token: str, channel: str, flood_over: trio.Event, rounds: list[int]
) -> None:
    """Echo, broadcast and (every fifth round) a frame that is not JSON, until the flood is
    over: each gets exactly its replies, in order, and nothing else."""
    async with open_websocket_url(f"{server.ws}/ws?channel={channel}&token={token}") as ws:
        assert (await receive_json(ws))["type"] == "system"
        n = 0
        while not flood_over.is_set():
            n += 1
            request_id = f"{channel}-{n}"
            if n % 5 == 0:
                await ws.send_message("{not json")
                asked = await receive_json(ws)
                assert (asked["type"], asked["error"]) == ("error", "invalid_json"), asked
                continue
            if n % 2:
                await send_json(ws, {"action": "echo", "request_id": request_id})
                expected = ["ack", "echo", "event"]
            else:
                frame = {
                    "action": "broadcast",
                    "request_id": request_id,
                    "payload": {"message": f"n{n}"},
                }
                await send_json(ws, frame)
                expected = ["ack", "message", "event"]
            replies = [await receive_json(ws) for _ in expected]
            assert [(f["type"], f["request_id"]) for f in replies] == [
                (kind, request_id) for kind in expected
            ], replies
        rounds.append(n)
        await no_more_frames(ws)


async def no_more_frames(ws: WebSocketConnection) -> None:
    """Nothing is left for the client: an echo's ack is the next frame."""
    await send_json(ws, {"action": "echo", "request_id": "last"})
    frame = await receive_json(ws)
    assert (frame["type"], frame["request_id"]) == ("ack", "last"), frame


async def test_a_flood_of_findings_leaves_the_stand_serving(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    statuses: Counter[int] = Counter()
    rounds: list[int] = []
    connections = trio.CapacityLimiter(64)  # findings in flight at once
    replay_limits: list[bool] = []
    # the storms take longer than this, a finding of one or two steps far less
    monkeypatch.setattr(replay, "REPLAY_SECONDS", REPLAY_SECONDS)
    # replays back to back, all the flood long (the stand's own budget, half of any 20 s, would
    # turn most of them away with 503: its refusals are tested in test_findings_kept.py)
    monkeypatch.setattr(routes, "ReplayBudget", lambda: ReplayBudget(share=1.0))
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(**AUTH) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            names = [f"t{n:03}" for n in range(TRAINEES)]
            tokens = {name: await token_for(http, name) for name in names}
            dealt = await http.post(
                "/lab/assignments/shuffle",
                json={"pool": sorted(ASSIGNABLE), "seed": 26, "trainees": names},
                headers={"Authorization": f"Bearer {TEACHER}"},
            )
            assert dealt.status_code == 200, dealt.text
            watchers = [await token_for(http, f"w{n}") for n in range(WATCHERS)]
            flood_over = trio.Event()

            async def send(n: int) -> None:
                async with connections:
                    token = tokens[names[n % TRAINEES]]
                    status, answer = await post(
                        server.port, token, finding(n), chunked=n % 20 == 14
                    )
                    statuses[status] += 1
                    replay_limits.append(b'"replay_limit"' in answer)

            async with trio.open_nursery() as nursery:
                for n, token in enumerate(watchers):
                    nursery.start_soon(watch, server, token, f"watch-{n}", flood_over, rounds)
                async with trio.open_nursery() as flood:
                    for n in range(FINDINGS):
                        flood.start_soon(send, n)
                flood_over.set()

            teacher = {"Authorization": f"Bearer {TEACHER}"}
            health = await http.get("/health")
            assert (health.status_code, health.json()["status"]) == (200, "ok")
            assert (await http.get("/orders", headers=teacher)).json() == []  # twins' orders
            kept = (await http.get("/lab/findings", headers=teacher)).json()["findings"]
    assert sum(statuses.values()) == FINDINGS
    assert set(statuses) <= ANSWERS, statuses
    assert {201, 413, 422, 429} <= set(statuses), statuses
    assert len(kept) == statuses[201]
    assert any(replay_limits)  # the storms: over the limit, told so, and nothing kept
    assert {finding["status"] for finding in kept} == {"confirmed", "not_reproduced"}
    assert len(rounds) == WATCHERS
    assert min(rounds) > 1, rounds  # they kept being answered during the flood
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
