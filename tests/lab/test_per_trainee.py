"""Bugs per trainee in the kit, on the virtual clock (lab/lab.py `Lab.bugs_of`): a request's bugs
are the stand-wide ones plus its user's, and the bugs about shared state keep to their trainee:
lost_update's window makes another trainee's change wait and be checked strictly,
broadcast_leaks_channels leaks only to the owner's own connections, stale_stats remembers an old
answer per trainee."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
import trio
import trio.testing

from qakit_trio.auth.users import User
from qakit_trio.lab.lab import STALE_STATS_SECONDS
from qakit_trio.lab.store import LOST_UPDATE_WINDOW
from qakit_trio.pipeline.request import Request
from qakit_trio.testing import Stand, StandClient, open_stand

from ..support.class_auth import AUTH, CODE, TEACHER, bearer

pytestmark = pytest.mark.breaks_contract("the lab's bugs break the contract on purpose")


async def tokens(stand: Stand, *names: str) -> dict[str, str]:
    given = {}
    for name in names:
        status, body = await stand.request(
            "POST", "/auth/token", {"name": name, "class_code": CODE}
        )
        assert status == 200, body
        given[name] = body["token"]
    return given


async def assign(stand: Stand, table: dict[str, list[str]]) -> None:
    status, body = await stand.request(
        "PUT", "/lab/assignments", {"assignments": table}, headers=bearer(TEACHER)
    )
    assert status == 200, body


def of(name: str | None) -> Request:
    """What bugs_of reads of a request: its user."""
    user = None if name is None else User(name, "trainee")
    return cast(Request, SimpleNamespace(user=user))


async def test_a_requests_bugs_are_the_stand_wide_ones_and_its_users(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand({**AUTH, "QAKIT_BUGS": "missing_order_is_200"}) as stand:
        lab = stand.app.services.lab
        await tokens(stand, "ivan", "maria")
        assert lab.bugs_of(of("ivan")) == (lab.bugs, frozenset())
        await assign(stand, {"ivan": ["stale_stats", "missing_order_is_200"]})
        view, mine = lab.bugs_of(of("ivan"))
        assert view.names == {"stale_stats", "missing_order_is_200"}
        assert (view.stale_stats, view.missing_order_is_200, view.duplicate_event) == (
            True,
            True,
            False,
        )
        assert mine == {"stale_stats"}  # the stand-wide one acts as the stand's
        assert lab.bugs_of(of("ivan"))[0] is view  # one view per set of bugs
        for other in ("maria", None):
            assert lab.bugs_of(of(other)) == (lab.bugs, frozenset())
        assert not lab.bugs.stale_stats  # the stand's own switches are untouched
        status, _ = await stand.request(
            "PUT", "/lab/bugs", {"enabled": ["duplicate_event"]}, headers=bearer(TEACHER)
        )
        assert status == 200
        view, mine = lab.bugs_of(of("ivan"))
        assert view.names == {"duplicate_event", "stale_stats", "missing_order_is_200"}
        assert mine == {"stale_stats", "missing_order_is_200"}


async def test_the_lab_stage_joins_only_while_something_is_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        lab = stand.app.services.lab
        await tokens(stand, "ivan")
        assert not lab.on
        await assign(stand, {"ivan": []})  # a trainee without bugs: nothing to do
        assert not lab.on
        await assign(stand, {"ivan": ["duplicate_event"]})
        assert lab.on
        await stand.request("DELETE", "/lab/assignments", headers=bearer(TEACHER))
        assert not lab.on


async def test_lost_update_of_one_trainee_loses_only_their_own_writes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        people = await tokens(stand, "ivan", "maria")
        await assign(stand, {"ivan": ["lost_update"]})
        races = stand.app.services.lab.races
        for n in range(5):
            await stand.request("POST", "/orders", {"customer": f"c{n}"}, headers=bearer(TEACHER))
        done: dict[str, tuple[int, float]] = {}

        async def change(who: str, order: int, verb: str, key: str) -> None:
            path = f"/orders/{order}/{verb}"
            status, _ = await stand.request("POST", path, headers=bearer(people[who]))
            done[key] = (status, trio.current_time())

        async def status_of(order: int) -> Any:
            return (await stand.request("GET", f"/orders/{order}", headers=bearer(TEACHER)))[1][
                "status"
            ]

        async with trio.open_nursery() as nursery:  # the owner's double payment: the bug
            nursery.start_soon(change, "ivan", 1, "pay", "first")
            nursery.start_soon(change, "ivan", 1, "pay", "second")
        assert (done["first"][0], done["second"][0]) == (200, 200)

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(change, "ivan", 2, "pay", "ivan")
            await trio.testing.wait_all_tasks_blocked()
            assert races.orders[2].owner == "ivan"  # his window is open on order 2
            nursery.start_soon(change, "maria", 2, "cancel", "maria")
            nursery.start_soon(change, "maria", 3, "pay", "elsewhere")
        assert done["elsewhere"] == (200, start)  # another order: no wait
        assert done["ivan"] == (200, start + LOST_UPDATE_WINDOW)
        assert done["maria"] == (200, start + LOST_UPDATE_WINDOW)  # waited for the window
        assert await status_of(2) == "cancelled"  # ... and her write was not lost
        assert races.orders == {}

        # his windows overlap (a second pay while the first is open): hers waits for both
        async with trio.open_nursery() as nursery:
            nursery.start_soon(change, "ivan", 5, "pay", "ivan1")
            await trio.sleep(0.1)
            nursery.start_soon(change, "ivan", 5, "pay", "ivan2")
            await trio.sleep(0.1)
            nursery.start_soon(change, "maria", 5, "cancel", "maria")
        assert done["maria"][0] == 200
        assert await status_of(5) == "cancelled"  # the last write: hers, not lost
        assert races.orders == {}

        async with trio.open_nursery() as nursery:
            nursery.start_soon(change, "ivan", 4, "pay", "ivan")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(change, "maria", 4, "pay", "maria")
        assert (done["ivan"][0], done["maria"][0]) == (200, 400)  # checked strictly: paid twice


async def hello(ws: StandClient) -> None:
    assert (await ws.receive_json())["type"] == "system"


async def until_event(ws: StandClient, frame: dict[str, Any]) -> list[dict[str, Any]]:
    await ws.send_json(frame)
    frames = [await ws.receive_json()]
    while frames[-1]["type"] != "event":
        frames.append(await ws.receive_json())
    return frames


async def first_reply(ws: StandClient) -> dict[str, Any]:
    """The first frame after an echo is sent: its ack, unless something came before it."""
    frames = await until_event(ws, {"action": "echo", "request_id": "probe"})
    return frames[0]


async def test_broadcast_leaks_of_one_trainee_reach_only_their_own_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        people = await tokens(stand, "ivan", "maria")
        await assign(stand, {"ivan": ["broadcast_leaks_channels"]})
        ivan, maria = bearer(people["ivan"]), bearer(people["maria"])
        async with (
            stand.connect("/ws?channel=room", ivan) as ivan_room,
            stand.connect("/ws?channel=elsewhere", ivan) as ivan_elsewhere,
            stand.connect("/ws?channel=elsewhere", maria) as maria_elsewhere,
            stand.connect("/ws?channel=room", maria) as maria_room,
        ):
            for ws in (ivan_room, ivan_elsewhere, maria_elsewhere, maria_room):
                await hello(ws)
            message = {"action": "broadcast", "payload": {"message": "hi"}}
            await until_event(ivan_room, message)
            leaked = await ivan_elsewhere.receive_json()
            assert (leaked["type"], leaked["channel"], leaked["message"]) == (
                "message",
                "room",
                "hi",
            )
            assert (await first_reply(ivan_elsewhere))["type"] == "ack"  # once
            heard = await maria_room.receive_json()  # her own channel: as always
            assert (heard["type"], heard["message"]) == ("message", "hi")
            assert (await first_reply(maria_elsewhere))["type"] == "ack"  # nothing leaked to her
            await until_event(maria_room, {**message, "payload": {"message": "hers"}})
            assert (await ivan_room.receive_json())["message"] == "hers"
            assert (await first_reply(ivan_elsewhere))["type"] == "ack"  # hers: no leak


async def test_stale_stats_of_one_trainee_is_theirs_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand(AUTH) as stand:
        people = await tokens(stand, "ivan", "maria", "olga")
        await assign(stand, {"ivan": ["stale_stats"], "olga": ["stale_stats"]})

        async def connections(who: str) -> int:
            status, body = await stand.request("GET", "/stats", headers=bearer(people[who]))
            assert status == 200, body
            return int(body["total_connections"])

        assert await connections("ivan") == 0  # remembered: his
        async with stand.connect("/ws?channel=room", bearer(people["maria"])) as ws:
            await hello(ws)
            assert await connections("ivan") == 0  # his old answer
            assert await connections("maria") == 1  # no bug: the truth
            assert await connections("olga") == 1  # the same bug, but her own memory
            await trio.sleep(STALE_STATS_SECONDS)  # (virtual) his answer is too old now
            assert await connections("ivan") == 1


async def test_a_users_bug_names_are_the_stand_s_and_theirs_in_catalogue_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """What a finding's twin with the trainee's bugs gets (web/classroom.py)."""
    async with open_stand({**AUTH, "QAKIT_BUGS": "stale_stats"}) as stand:
        lab = stand.app.services.lab
        await tokens(stand, "ivan")
        await assign(stand, {"ivan": ["duplicate_event", "ack_after_data", "stale_stats"]})
        assert lab.bug_names("ivan") == ("ack_after_data", "duplicate_event", "stale_stats")
        assert lab.bug_names("maria") == ("stale_stats",)
        assert lab.bug_names(None) == ("stale_stats",)
