"""Issue 23, item 3: `ts` never decreases in the order frames arrive on one connection.

`ts` is the time the stand queued the frame for that connection; a frame published to a channel
(a broadcast, an order event) carries the time it was published, the same for every subscriber
(wire/stamps.py). Checked over real sockets, on both paths (conftest.py's BOTH_PATHS), for every
action of both /ws profiles: while other connections publish into the client's channel
(broadcasts from another /ws client and from REST, order events from REST, /ws and /ws/orders),
while the client's own replies wait for room (a client that reads slowly), and with the lab's
faults and defects that send a request's frames late, twice or out of order.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from ..support import wsraw
from ..support.helpers import Server, running_server
from ..support.timeouts import LOAD_TIMEOUT

CHANNEL = "orders"  # the orders channel: order events from every door are published to it
Frames = list[dict[str, Any]]
Done = Callable[[Frames], bool]


def assert_ts_never_decreases(frames: Frames, who: str) -> None:
    stamped = [frame for frame in frames if "ts" in frame]
    for before, after in itertools.pairwise(stamped):
        assert datetime.fromisoformat(after["ts"]) >= datetime.fromisoformat(before["ts"]), (
            f"{who}: {after} arrived after {before}"
        )


def ending_with(kind: str) -> Done:
    return lambda frames: bool(frames) and frames[-1]["type"] == kind


def counted(count: int) -> Done:
    return lambda frames: len(frames) >= count


class Client:
    """One /ws client: a task of its own reads every frame, kept in arrival order."""

    def __init__(self, ws: WebSocketConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.frames: Frames = []
        self.by_id: dict[object, Frames] = {}  # the frames of each request id
        self._grew = trio.Event()
        self._requests = 0

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = json.loads(await self.ws.get_message())
                self.frames.append(frame)
                request_id = frame.get("request_id")
                if isinstance(request_id, str | int | None):
                    self.by_id.setdefault(request_id, []).append(frame)
                self._grew.set()
                self._grew = trio.Event()

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            await self._grew.wait()

    async def ask(
        self, action: str, payload: Any = None, done: Done | None = None, **more: Any
    ) -> Frames:
        """Send one request; return its frames (those carrying its request id) once `done`
        (by default: once the last is its event)."""
        done = done or ending_with("event")
        self._requests += 1
        request_id = f"{self.name}-{self._requests}"
        await self.ws.send_message(
            json.dumps(
                {"action": action, "request_id": request_id, "payload": payload or {}, **more}
            )
        )
        await self.until(lambda: done(self.by_id.get(request_id, [])))
        return self.by_id[request_id]

    async def refused(self, message: str | bytes) -> dict[str, Any]:
        """Send a message that is no request at all; return the error frame it gets."""
        before = len(self.frames)
        await self.ws.send_message(message)
        await self.until(
            lambda: any(
                frame["type"] == "error" and frame.get("request_id") in (None, "no-id")
                for frame in self.frames[before:]
            )
        )
        return next(frame for frame in self.frames[before:] if frame["type"] == "error")


@asynccontextmanager
async def client(server: Server, name: str, nursery: trio.Nursery) -> AsyncIterator[Client]:
    async with open_websocket_url(f"{server.ws}/ws?channel={CHANNEL}") as ws:
        reader = Client(ws, name)
        nursery.start_soon(reader.read)
        yield reader


# --- every action of each profile -----------------------------------------------------------


async def every_envelope_action(o: Client) -> None:
    assert [f["type"] for f in await o.ask("echo", {"text": "hi"})] == ["ack", "echo", "event"]
    await o.ask("triplet_demo")
    await o.ask("broadcast", {"message": "from o"})
    created = await o.ask("create_order", {"customer": "Olga"})
    order_id = created[1]["data"]["id"]
    await o.ask("change_status", {"id": order_id, "status": "paid"})
    await o.ask("get_order", {"id": order_id})
    await o.ask("list_orders", {"limit": 3})
    await o.ask("fly", done=ending_with("error"))  # unknown action
    await o.ask("create_order", {}, done=ending_with("error"))  # validation_error
    await o.ask(
        "change_status", {"id": order_id, "status": "created"}, done=ending_with("error")
    )  # invalid_transition
    await o.refused("{not json")
    await o.refused(b"\x00binary")


async def every_qa_kit_action(o: Client) -> None:
    assert [f["type"] for f in await o.ask("echo", {"text": "hi"})] == ["ack", "echo", "event"]
    await o.ask("triplet_demo")
    message = f"from {o.name}, {len(o.frames)}"
    await o.ask("broadcast", {"message": message}, done=ending_with("ack"))
    await o.until(
        lambda: any(f["type"] == "message" and f["message"] == message for f in o.frames)
    )  # the qa_kit message carries no request id
    await o.ask("get_order", {"id": 1})
    await o.ask("list_orders")
    await o.ask("fly", done=ending_with("error"))
    await o.ask("get_order", {"id": "x"}, done=ending_with("error"))
    await o.refused("{not json")
    await o.refused("[1, 2]")


ACTIONS = {"qakit": every_envelope_action, "qa_kit": every_qa_kit_action}


# --- the others, publishing into the channel -----------------------------------------------


async def rest_publisher(http: httpx.AsyncClient, stop: trio.Event, started: trio.Event) -> None:
    """POST /broadcast, and orders created and paid through REST (order events)."""
    while not stop.is_set():
        response = await http.post("/broadcast", params={"message": "rest", "channel": CHANNEL})
        assert response.status_code == 200
        created = await http.post("/orders", json={"customer": "rest"})
        assert (await http.post(f"/orders/{created.json()['id']}/pay")).status_code == 200
        started.set()


@asynccontextmanager
async def client_beside_rest_publishing(**settings: Any) -> AsyncIterator[Client]:
    """A stand, its client "o" in CHANNEL, and REST publishing into that channel all along (from
    its first publication until the block ends); o's frames are checked on the way out."""
    async with (
        running_server(**settings) as server,
        httpx.AsyncClient(base_url=server.http) as http,
        trio.open_nursery() as readers,
        client(server, "o", readers) as o,
    ):
        stop, started = trio.Event(), trio.Event()
        async with trio.open_nursery() as publishers:
            publishers.start_soon(rest_publisher, http, stop, started)
            await started.wait()
            yield o
            stop.set()
        assert_ts_never_decreases(o.frames, "o")


async def ws_publisher(b: Client, profile: str, stop: trio.Event, started: trio.Event) -> None:
    """Another /ws client of the channel: broadcasts and (its profile has them) orders."""
    while not stop.is_set():
        if profile == "qakit":
            await b.ask("broadcast", {"message": "from b"})
            created = await b.ask("create_order", {"customer": "bee"})
            await b.ask("change_status", {"id": created[1]["data"]["id"], "status": "paid"})
        else:
            await b.ask("broadcast", {"message": "from b"}, done=ending_with("ack"))
            await b.ask("echo")
        started.set()


async def legacy_publisher(server: Server, stop: trio.Event, started: trio.Event) -> None:
    """A /ws/orders client creating orders: their events reach the /ws orders channel too.
    Legacy frames carry no `ts` (the original protocol's), so there is nothing to order."""
    async with open_websocket_url(f"{server.ws}/ws/orders") as legacy:
        while not stop.is_set():
            await legacy.send_message(json.dumps({"action": "create_order", "customer": "legacy"}))
            while (frame := json.loads(await legacy.get_message()))["type"] != "result":
                assert "ts" not in frame  # another client's order event
            assert "ts" not in frame
            started.set()


def foreign(frames: Frames, own: str) -> set[str]:
    """What kinds of other connections' frames arrived: broadcasts from REST and from another
    /ws client, order events from REST, from another /ws client and from /ws/orders."""
    kinds = set()
    for frame in frames:
        if frame["type"] == "broadcast":
            kinds.add("rest broadcast")
        elif frame["type"] == "message" and frame["message"] == "from b":
            kinds.add("ws broadcast")
        elif (
            frame["type"] == "event"
            and frame["name"] == "order.created"
            and (frame.get("request_id") is None or not frame["request_id"].startswith(own))
        ):
            kinds.add(f"{frame['extra']['customer']} order event")
    return kinds


# --- a client whose own replies wait for room ------------------------------------------------


async def held_up_replies(server: Server, b: Client, http: httpx.AsyncClient, profile: str) -> None:
    """A client that reads slowly (a small receive buffer, not reading for a while) sends
    echoes until the stand's reader waits for room for its replies, holding one built; then
    others publish into its channel. Everything it then reads: `ts` never goes back."""
    raw = await wsraw.open_raw(server.port, f"/ws?channel={CHANNEL}", receive_buffer=4096)
    hello = json.loads((await raw.read_frame())[1])
    requests, size = 60, 20_000  # 2.4 MB of replies: far more than fits on the way
    async with trio.open_nursery() as nursery:

        async def flood() -> None:
            for n in range(requests):
                await raw.send_text(
                    json.dumps(
                        {"action": "echo", "request_id": f"r{n}", "payload": {"text": "x" * size}}
                    )
                )

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked(0.05)  # its replies are stuck

        async def publish() -> None:
            await http.post("/broadcast", params={"message": "rest", "channel": CHANNEL})
            if profile == "qakit":
                await b.ask("create_order", {"customer": "bee"})
            await b.ask(
                "broadcast",
                {"message": "from b"},
                done=ending_with("event" if profile == "qakit" else "ack"),
            )

        nursery.start_soon(publish)
        await trio.testing.wait_all_tasks_blocked(0.05)  # published (or waiting for it)
        frames = [hello]
        while (
            sum(
                frame["type"] == "event" and frame["request_id"] == f"r{requests - 1}"
                for frame in frames
            )
            == 0
        ):
            frames.append(json.loads((await raw.read_frame())[1]))
    await raw.stream.aclose()
    kinds = [frame["type"] for frame in frames]
    assert kinds.index("broadcast") < len(frames) - 1  # published while replies waited
    assert {"broadcast", "message"} <= set(kinds)
    assert_ts_never_decreases(frames, "the client that reads slowly")


@pytest.mark.parametrize("profile", ["qakit", "qa_kit"])
async def test_ts_never_decreases_for_every_action_while_others_publish(profile: str) -> None:
    with trio.fail_after(LOAD_TIMEOUT):
        async with (
            running_server(profile=profile, outbox_bytes=16 * 1024) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            trio.open_nursery() as readers,
            client(server, "o", readers) as o,
            client(server, "b", readers) as b,
        ):
            stop = trio.Event()
            started = [trio.Event() for _ in range(3)]
            async with trio.open_nursery() as publishers:
                publishers.start_soon(rest_publisher, http, stop, started[0])
                publishers.start_soon(ws_publisher, b, profile, stop, started[1])
                publishers.start_soon(legacy_publisher, server, stop, started[2])
                for event in started:
                    await event.wait()
                start = len(o.frames)
                wanted = {
                    "rest broadcast",
                    "ws broadcast",
                    "rest order event",
                    "legacy order event",
                } | ({"bee order event"} if profile == "qakit" else set())
                rounds = 0
                while rounds < 2 or not wanted <= foreign(o.frames[start:], "o"):
                    await ACTIONS[profile](o)
                    rounds += 1
                stop.set()
            assert_ts_never_decreases(o.frames, "o")
            assert_ts_never_decreases(b.frames, "b")
            await held_up_replies(server, b, http, profile)
            assert_ts_never_decreases(b.frames, "b")


# --- the lab: faults and defects that send frames late, twice or out of order ----------------


FAULTS: list[tuple[str, Any, dict[str, Any], int]] = [  # action, payload, fault, frames
    ("echo", {"n": 1}, {"reorder": True}, 3),
    ("triplet_demo", None, {"reorder": True}, 4),
    ("create_order", {"customer": "Rita"}, {"reorder": True}, 3),
    ("broadcast", {"message": "late"}, {"reorder": True}, 3),
    ("echo", {"n": 2}, {"duplicate": ["ack", "data", "event"]}, 6),
    ("list_orders", None, {"reorder": True, "duplicate": ["data"], "fragment": 3}, 4),
    ("fly", None, {"reorder": True}, 2),
]


async def test_ts_never_decreases_with_the_labs_faults() -> None:
    with trio.fail_after(LOAD_TIMEOUT):
        async with client_beside_rest_publishing() as o:
            for action, payload, fault, count in FAULTS:
                await o.ask(action, payload, counted(count), fault=fault)
            # a delayed reply arrives after the replies to the requests sent after it
            async with trio.open_nursery() as late:
                late.start_soon(
                    partial(
                        o.ask,
                        "create_order",
                        {"customer": "Dora"},
                        counted(3),
                        fault={"delay_ms": 1000},
                    )
                )
                await o.until(lambda: len(o.by_id.get("o-8", [])) == 1)  # its ack
                await o.ask("echo")
                await o.ask("triplet_demo")
                assert len(o.by_id["o-8"]) == 1  # still waiting: the others overtook it


async def test_ts_never_decreases_with_the_labs_defects() -> None:
    """ack_after_data sends the ack built first after the data; duplicate_event the event
    twice."""
    with trio.fail_after(LOAD_TIMEOUT):
        async with client_beside_rest_publishing(bugs=("ack_after_data", "duplicate_event")) as o:
            echo = await o.ask("echo", None, counted(4))
            assert [f["type"] for f in echo] == ["echo", "ack", "event", "event"]
            await o.ask("triplet_demo", None, counted(5))
            created = await o.ask("create_order", {"customer": "Ada"}, counted(4))
            await o.ask(
                "change_status", {"id": created[0]["data"]["id"], "status": "paid"}, counted(4)
            )
            await o.ask("broadcast", {"message": "both"}, counted(4))
            await o.ask("fly", None, counted(2))
