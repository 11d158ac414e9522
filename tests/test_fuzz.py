"""A fuzz run of the real server: random and malformed messages over real sockets, on every
WebSocket door (the inspector's too) and REST, while a bystander client must keep being
served. Seeded, so a failure repeats; the seed is in the assertion message."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from .support.helpers import connected, request, running_server
from .support.timeouts import LOAD_TIMEOUT

pytestmark = pytest.mark.system  # 8 s a run: 150 messages a door, each waiting 50 ms for replies

MESSAGES = 450
ACTIONS = [
    "echo",
    "triplet_demo",
    "broadcast",
    "get_order",
    "list_orders",
    "create_order",
    "change_status",
    "ping",
    "nope",
    None,
    7,
    ["echo"],
    {"a": 1},
]
NASTY_TEXT = [
    "\ud800",
    "\udfff",
    "\x00",
    "\u202e",
    "😀",
    "é" * 300,
    "' OR 1=1 --",
    "<script>",
    "%s%n",
    "\r\n\r\n",
]


def nasty_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(NASTY_TEXT)
    if kind == 1:
        return rng.choice([0, -1, 2**63, 10**40, 1.5, True, None])
    if kind == 2:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(20)))
    if kind in (3, 4, 5):
        return rng.choice(["paid", "shipped", "created", "Yulia", "", " "])
    if kind == 6:
        return [nasty_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["id", "customer", "status", "message", "limit", "text", "x"]): nasty_value(
            rng, depth + 1
        )
        for _ in range(rng.randrange(4))
    }


def nasty_message(rng: random.Random) -> str | bytes:
    kind = rng.randrange(10)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 1:
        return "".join(
            rng.choice('{}[]":,\\u0123456789abdfnrtNaI ') for _ in range(rng.randrange(80))
        )
    if kind == 2:
        return "[" * rng.randrange(50, 3000)
    frame: dict[str, Any] = {
        "action": rng.choice(ACTIONS),
        "payload": nasty_value(rng),
        "request_id": nasty_value(rng),
    }
    for key in ("customer", "order_id", "status"):  # the legacy protocol's fields
        if rng.random() < 0.3:
            frame[key] = nasty_value(rng)
    if rng.random() < 0.2:
        del frame[rng.choice(list(frame))]
    text = json.dumps(frame, ensure_ascii=rng.random() < 0.5)
    try:
        text.encode()
    except UnicodeEncodeError:  # a raw surrogate cannot go on the wire: its \u escape can
        text = json.dumps(frame)
    return text


async def fuzz_door(url: str, rng: random.Random, count: int) -> int:
    """Send `count` nasty messages on one connection (a new one if the server closes it with a
    documented code); read whatever comes back. Returns how many replies were read."""
    replies = 0
    sent = 0
    closes: list[int | None] = []
    while sent < count:
        try:
            async with open_websocket_url(url) as ws:
                while sent < count:
                    await ws.send_message(nasty_message(rng))
                    sent += 1
                    with trio.move_on_after(0.05):  # a reply may or may not come (events)
                        while True:
                            reply = await ws.get_message()
                            assert isinstance(json.loads(reply), dict)  # always JSON
                            replies += 1
        except ConnectionClosed as closed:
            closes.append(None if closed.reason is None else closed.reason.code)
    assert set(closes) <= {1000, 1009}, closes  # documented closes only: never 1011
    return replies


@pytest.mark.parametrize("seed", [1, 2])
async def test_nasty_input_on_every_door_never_takes_the_stand_down(seed: int) -> None:
    rng = random.Random(seed)
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(max_message_size=64 * 1024) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server, "calm") as (bystander, _),
        ):
            async with trio.open_nursery() as nursery:
                for path in ("/ws?channel=orders", "/ws/orders", "/ws", "/ws/_inspect"):
                    nursery.start_soon(
                        fuzz_door, f"{server.ws}{path}", random.Random(rng.random()), MESSAGES // 3
                    )
                for n in range(40):  # the bystander is served all along
                    frames = await request(bystander, {"action": "echo", "request_id": f"b{n}"})
                    assert [(f["type"], f["request_id"]) for f in frames] == [
                        ("ack", f"b{n}"),
                        ("echo", f"b{n}"),
                        ("event", f"b{n}"),
                    ]
                    body = nasty_value(rng)
                    answer = await http.post("/orders", content=json.dumps(body))
                    assert answer.status_code in (200, 422), (seed, body, answer.text)
                    assert (await http.get(f"/orders/{rng.randrange(5)}")).status_code in (200, 404)
            assert (await http.get("/health")).json()["status"] == "ok"
            health = server.app.services.health()  # /health's report (qa_kit shows only status)
            assert health["status"] == "ok", (seed, health)
            assert all(t["restarts"] == 0 for t in health["tasks"].values()), (seed, health)
