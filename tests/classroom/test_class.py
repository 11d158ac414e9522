"""A scripted class (issue 26, "Done when"): five trainees with five different assigned bugs and
one without any play THE SAME scenarios (scenarios.py) on one live stand, in the kit and on a
real socket. Each sees the symptom of their own bug and of no other: their pointed reply differs
from the bug-free trainee's exactly where their bug is; the bug-free trainee sees what the clean
replay twin sees. And for every assignable bug: its trainee sees it, another does not."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from functools import cache, partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from qakit_trio import logs
from qakit_trio.app import create_app, twin_factory
from qakit_trio.classroom.replay import KeptRecords, run_twin
from qakit_trio.config import Settings
from qakit_trio.lab.bugs import ASSIGNABLE
from qakit_trio.lab.lab import STALE_STATS_SECONDS
from qakit_trio.server import serve
from qakit_trio.testing import open_stand

from ..support.class_auth import AUTH, CODE, SETTINGS, TEACHER
from ..support.helpers import TEST_SETTINGS
from ..support.timeouts import TIMEOUT, VIRTUAL_TIMEOUT
from .live import Client, KitLive, Live, SocketLive, bearer, play, view
from .scenarios import SCENARIOS

pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")

# one bug each: the envelope protocol, REST, the orders domain, the log, Kafka
CLASS = {
    "vera": "ack_after_data",
    "roman": "missing_order_is_200",
    "denis": "any_transition_allowed",
    "lena": "event_log_without_event_id",
    "kira": "kafka_record_without_event_id",
}
CLEAN = "olga"  # signed in, no bugs
Settle = Callable[[], Awaitable[None]]
Request = Callable[..., Awaitable[tuple[int, Any]]]

TWIN = twin_factory(Settings())  # the replay twins of a default stand


Twins = dict[tuple[str, bool], Any]


@cache
def twin(bug: str, with_bug: bool) -> Any:
    """The pointed reply of `bug`'s scenario on a replay twin, clean or with the bug, viewed.
    Its own trio.run: called by the sync fixtures below, before a test's run."""
    evidence = SCENARIOS[bug].evidence()
    deadline = time.monotonic() + TIMEOUT
    replies = run_twin(TWIN, evidence.steps, (bug,) if with_bug else (), deadline)
    return view(replies.pick(evidence.wrong), 0)


def twins_of(bugs: Iterable[str]) -> Twins:
    return {(bug, on): twin(bug, on) for bug in bugs for on in (False, True)}


@pytest.fixture
def class_twins() -> Twins:
    return twins_of(CLASS.values())


@pytest.fixture
def bug_twins(bug: str) -> Twins:
    return twins_of([bug])


async def enrol(
    request: Request, table: dict[str, list[str]], names: Iterable[str]
) -> dict[str, str]:
    """Tokens for `names` (each takes one, as a trainee does), then the teacher's table."""
    tokens: dict[str, str] = {}
    for name in names:
        status, body = await request("POST", "/auth/token", {"name": name, "class_code": CODE})
        assert status == 200, body
        tokens[name] = body["token"]
    status, body = await request(
        "PUT", "/lab/assignments", {"assignments": table}, headers=bearer(TEACHER)
    )
    assert (status, body["assignments"]) == (200, table), body
    return tokens


@asynccontextmanager
async def kit_class(
    table: dict[str, list[str]], names: Iterable[str]
) -> AsyncIterator[tuple[Live, dict[str, str]]]:
    """The kit's stand (auth on), its trainees signed in, the table set."""
    records = KeptRecords()
    with logs.captured_lines() as lines:
        async with open_stand(AUTH, kafka=records) as stand:
            tokens = await enrol(stand.request, table, names)
            yield KitLive(stand, records, lines), tokens


@asynccontextmanager
async def socket_class(
    table: dict[str, list[str]], names: Iterable[str]
) -> AsyncIterator[tuple[Live, dict[str, str]]]:
    """The stand served by hypercorn on a real socket (auth on), as kit_class."""
    settings = replace(TEST_SETTINGS, **SETTINGS)
    records = KeptRecords()
    with logs.captured_lines() as lines:
        app = create_app(settings, kafka=records)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(serve, settings, ["127.0.0.1:0"], stop.wait, app)
            async with httpx.AsyncClient(base_url=urls[0]) as http:

                async def request(method: str, path: str, body: Any = None, **extra: Any) -> Any:
                    answer = await http.request(method, path, json=body, **extra)
                    return answer.status_code, answer.json()

                tokens = await enrol(request, table, names)
                ws_url = urls[0].replace("http://", "ws://")
                yield SocketLive(http, ws_url, app, records, lines), tokens
            stop.set()


async def play_class(
    live: Live, tokens: dict[str, str], settle: Settle
) -> dict[str, dict[str, Any]]:
    """Every trainee plays every scenario of the class, one after the other: the pointed
    replies, per trainee and scenario."""
    seen: dict[str, dict[str, Any]] = {}
    for name, token in tokens.items():
        seen[name] = {}
        for bug in CLASS.values():
            played = await play(live, SCENARIOS[bug], token, settle)
            seen[name][bug] = played.pick(SCENARIOS[bug])
    return seen


def check_class(seen: dict[str, dict[str, Any]], twin: Twins) -> None:
    for bug in CLASS.values():
        assert seen[CLEAN][bug] == twin[bug, False], bug  # a correct stand: the clean twin's
        assert twin[bug, True] != twin[bug, False], bug
    for name, own in CLASS.items():
        for bug in CLASS.values():
            if bug == own:  # their symptom: what the twin with their bug shows
                assert seen[name][bug] != seen[CLEAN][bug], (name, bug)
                assert seen[name][bug] == twin[bug, True], (name, bug)
            else:  # another's bug: the correct reply
                assert seen[name][bug] == seen[CLEAN][bug], (name, bug)


TABLE = {name: [bug] for name, bug in CLASS.items()}


async def test_a_class_of_five_in_the_kit_each_sees_only_their_own_bug(
    autojump_clock: trio.testing.MockClock, class_twins: Twins
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        async with kit_class(TABLE, [*CLASS, CLEAN]) as (live, tokens):
            seen = await play_class(live, tokens, trio.testing.wait_all_tasks_blocked)
    check_class(seen, class_twins)


@pytest.mark.system  # a real socket: hypercorn on 127.0.0.1, the trainees' clients over TCP
async def test_a_class_of_five_on_a_real_socket_each_sees_only_their_own_bug(
    class_twins: Twins,
) -> None:
    settle = partial(trio.testing.wait_all_tasks_blocked, 0.01)  # the loopback is quiet
    with trio.fail_after(TIMEOUT):
        async with socket_class(TABLE, [*CLASS, CLEAN]) as (live, tokens):
            seen = await play_class(live, tokens, settle)
    check_class(seen, class_twins)


async def every_bug(open_class: Any, bug: str, settle: Settle, twin: Twins) -> None:
    scenario = SCENARIOS[bug]
    async with open_class({"owner": [bug]}, ["other", "owner"]) as (live, tokens):
        before = await play(live, scenario, tokens["other"], settle)
        mine = await play(live, scenario, tokens["owner"], settle)
        after = await play(live, scenario, tokens["other"], settle)
    assert before.pick(scenario) == after.pick(scenario) == twin[bug, False]
    assert mine.pick(scenario) == twin[bug, True]
    assert mine.pick(scenario) != after.pick(scenario)
    fabricated = [run.pick(scenario, scenario.fabricated) for run in (before, mine, after)]
    assert fabricated[0] == fabricated[1] == fabricated[2] is not None


@pytest.mark.parametrize("bug", sorted(ASSIGNABLE))
async def test_every_assignable_bug_shows_to_its_trainee_only_in_the_kit(
    bug: str, autojump_clock: trio.testing.MockClock, bug_twins: Twins
) -> None:
    """The trainee with `bug` sees its symptom; another trainee's same steps, before and after,
    see the correct reply (the clean twin's)."""
    with trio.fail_after(VIRTUAL_TIMEOUT):
        await every_bug(kit_class, bug, trio.testing.wait_all_tasks_blocked, bug_twins)


@pytest.mark.system  # a real socket
@pytest.mark.parametrize("bug", sorted(ASSIGNABLE))
async def test_every_assignable_bug_shows_to_its_trainee_only_on_a_real_socket(
    bug: str, bug_twins: Twins
) -> None:
    settle = partial(trio.testing.wait_all_tasks_blocked, 0.01)
    with trio.fail_after(TIMEOUT):
        await every_bug(socket_class, bug, settle, bug_twins)


# Shared state: what the bug of one trainee's must never do to another's (lab/lab.py).


async def test_stale_stats_is_stale_for_its_trainee_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The owner's /stats is an old answer of theirs; the other trainee's is fresh, and so is
    the first answer of a third trainee who has the bug too (never the owner's old one)."""
    table = {"owner": ["stale_stats"], "also": ["stale_stats"]}
    async with kit_class(table, ["owner", "also", "other"]) as (live, tokens):

        async def counted(name: str) -> int:
            status, body = await live.request("GET", "/stats", None, tokens[name])
            assert status == 200, body
            return int(body["total_connections"])

        with trio.fail_after(VIRTUAL_TIMEOUT):
            assert (await counted("owner"), await counted("other")) == (0, 0)
            async with live.connect("/ws", tokens["other"]) as ws:
                assert (await ws.receive())["type"] == "system"
                seen = [await counted("other"), await counted("owner"), await counted("also")]
                await trio.sleep(STALE_STATS_SECONDS)
                seen.append(await counted("owner"))
    assert seen == [1, 0, 1, 1]  # other: fresh; owner: stale; also: fresh; owner 5 s later


async def first_frame(ws: Client, request_id: str) -> dict[str, Any]:
    """What a connection received first after it sends an echo (its ack, if nothing came)."""
    await ws.send(json.dumps({"action": "echo", "request_id": request_id}))
    frames = [await ws.receive()]
    while frames[-1].get("type") != "event":
        frames.append(await ws.receive())
    return dict(frames[0])


async def test_broadcast_leaks_only_to_its_trainees_own_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    table = {"owner": ["broadcast_leaks_channels"]}
    async with kit_class(table, ["owner", "other"]) as (live, tokens):
        with trio.fail_after(VIRTUAL_TIMEOUT):
            opened = {}
            async with AsyncExitStack() as stack:
                for key, who, channel in (
                    ("a", "owner", "room"),
                    ("c", "owner", "elsewhere"),
                    ("b", "other", "room"),
                    ("d", "other", "elsewhere"),
                ):
                    ws = await stack.enter_async_context(
                        live.connect(f"/ws?channel={channel}", tokens[who])
                    )
                    assert (await ws.receive())["type"] == "system"
                    opened[key] = ws
                firsts = []
                for sender in ("a", "b"):  # the owner's broadcast, then the other's
                    firsts.append(await first_frame(opened[sender], f"{sender}-bc"))
                    await opened[sender].send(json.dumps(BROADCAST))
                    await trio.testing.wait_all_tasks_blocked()
                    firsts += [await first_frame(opened[x], f"{x}-{sender}") for x in "cd"]
    types = [(frame["type"], frame.get("channel")) for frame in firsts]
    assert types == [
        ("ack", None),
        ("message", "room"),  # the owner's own connection in another channel: the leak
        ("ack", None),  # the other trainee's connection there: nothing
        ("message", "room"),  # (b is in room: the owner's broadcast, as it should)
        ("ack", None),  # the other's broadcast leaks nowhere
        ("ack", None),
    ]


BROADCAST = {"action": "broadcast", "request_id": "hi", "payload": {"message": "hi"}}


@pytest.mark.parametrize("first", ["owner", "other"])
async def test_lost_update_never_loses_another_trainees_change(
    first: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The owner pays an order while the other trainee cancels it, at once: the other's change
    is applied after the owner's window (or refuses the owner's): never overwritten."""
    async with kit_class({"owner": ["lost_update"]}, ["owner", "other"]) as (live, tokens):
        with trio.fail_after(VIRTUAL_TIMEOUT):
            status, created = await live.request(
                "POST", "/orders", {"customer": "a"}, tokens["owner"]
            )
            assert status == 200, created
            wants = {"owner": "paid", "other": "cancelled"}
            answers: dict[str, list[dict[str, Any]]] = {}
            async with AsyncExitStack() as stack:
                clients = {
                    who: await stack.enter_async_context(live.connect("/ws", tokens[who]))
                    for who in wants
                }
                for ws in clients.values():
                    assert (await ws.receive())["type"] == "system"
                for who in sorted(wants, key=lambda name: name != first):
                    change = {"id": created["id"], "status": wants[who]}
                    await clients[who].send(
                        json.dumps(
                            {"action": "change_status", "request_id": who, "payload": change}
                        )
                    )
                    await trio.testing.wait_all_tasks_blocked()  # (the owner's: in its window)
                for who, ws in clients.items():
                    answers[who] = [await ws.receive()]
                    while answers[who][-1]["type"] not in ("event", "error"):
                        answers[who].append(await ws.receive())
            status, final = await live.request(
                "GET", f"/orders/{created['id']}", None, tokens["other"]
            )
    assert [frame["type"] for frame in answers["other"]] == ["ack", "order", "event"]
    assert final["status"] == "cancelled"  # the other's change stands
    assert [frame["type"] for frame in answers["owner"]][-1] == (
        "event" if first == "owner" else "error"
    )
