"""A connection's token expiry and the `refresh` action (sessions/expiry.py), QAKIT_AUTH=on: on
trio's virtual clock with the in-memory kit (the stand's wall clock tied to it), and once over a
real socket with a token of two seconds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from qakit_trio.auth.users import TEACHER, TRAINEE, User
from qakit_trio.testing import Stand, StandClient, StandClosed, open_stand
from qakit_trio.web import task_tree
from qakit_trio.wire import stamps

from ..support.helpers import read_until_closed, receive_json, running_server
from ..support.timeouts import TIMEOUT, VIRTUAL_TIMEOUT

TEACHER_TOKEN = "teacher-token-0123456789"
CODE = "lesson-7"
AUTH = {
    "QAKIT_AUTH": "on",
    "QAKIT_TEACHER_TOKEN": TEACHER_TOKEN,
    "QAKIT_CLASS_CODE": CODE,
    "QAKIT_JWT_SECRET": "test-secret-of-thirty-two-bytes!",
}
T0 = 1_700_000_000  # the stand's wall clock at trio time 0 (tokens' `exp` are wall seconds)
IVAN = User("ivan", TRAINEE)


@asynccontextmanager
async def auth_stand(limit: float = VIRTUAL_TIMEOUT, **more: str) -> AsyncIterator[Stand]:
    """The kit with QAKIT_AUTH=on, its wall clock moving with trio's (virtual) clock; the
    test fails after `limit` virtual seconds."""
    with trio.fail_after(limit):
        async with open_stand({**AUTH, **more}) as stand:
            stand.app.services.identities.wall = lambda: T0 + trio.current_time()
            yield stand


def mint(stand: Stand, user: User = IVAN, ttl: float = 100) -> tuple[str, float]:
    """A token for `user` valid `ttl` s from now, and when it expires on trio's clock."""
    identities = stand.app.services.identities
    token, expires_at = identities.tokens.mint(user, identities.wall(), ttl)
    return token, expires_at - T0


async def frame(ws: StandClient) -> dict[str, Any]:
    value = await ws.receive_json()
    assert isinstance(value, dict)
    return value


async def closed(ws: StandClient) -> int | None:
    """The close code, once the stand closes the connection (no frame may come before it)."""
    with pytest.raises(StandClosed) as raised:
        await ws.receive()
    return raised.value.code


@contextmanager
def at(when: float) -> Iterator[None]:
    """The block's frames must arrive exactly at trio time `when`."""
    yield
    assert trio.current_time() == pytest.approx(when)


async def test_a_warning_30_s_before_the_expiry_then_4401_at_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with auth_stand() as stand:
        token, expires = mint(stand, ttl=100)
        async with stand.connect(f"/ws?channel=room&token={token}") as ws:
            assert (await frame(ws))["user"] == "ivan"
            with at(expires - 30):
                warning = await frame(ws)
            assert warning["type"] == "system"
            assert warning["event"] == "token_expiring"
            assert warning["expires_in_ms"] == 30_000
            assert set(warning) == {"type", "event", "expires_in_ms", "ts"}
            with at(expires):
                assert await closed(ws) == 4401


async def test_a_refresh_moves_the_warning_and_the_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with auth_stand() as stand:
        token, expires = mint(stand, ttl=100)
        async with stand.connect(f"/ws?channel=room&token={token}") as ws:
            await frame(ws)  # hello
            with at(expires - 30):
                assert (await frame(ws))["event"] == "token_expiring"
            new_token, new_expires = mint(stand, ttl=100)  # now, after the warning
            request = {"action": "refresh", "request_id": "r1", "payload": {"token": new_token}}
            await ws.send_json(request)
            ack, data, event = [await frame(ws) for _ in range(3)]
            assert (ack["type"], ack["request_id"]) == ("ack", "r1")
            expires_at = stamps.iso_utc(T0 + new_expires)
            assert {k: data[k] for k in ("type", "request_id", "expires_at")} == {
                "type": "token",
                "request_id": "r1",
                "expires_at": expires_at,
            }
            assert (event["name"], event["extra"]) == (
                "auth.refreshed",
                {"user": "ivan", "expires_at": expires_at},
            )
            assert new_token not in json.dumps([ack, data, event])
            with at(new_expires - 30):  # not at the old expiry: warned again before the new
                assert (await frame(ws))["expires_in_ms"] == 30_000
            with at(new_expires):
                assert await closed(ws) == 4401


async def test_a_refresh_with_another_users_or_a_bad_token_is_refused_and_changes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with auth_stand() as stand:
        token, expires = mint(stand, ttl=100)
        others = [
            mint(stand, User("petr", TRAINEE), ttl=1000)[0],  # another user
            mint(stand, User("ivan", TEACHER), ttl=1000)[0],  # the same name, another role
            TEACHER_TOKEN,  # the teacher's
            "not-a-token",
            mint(stand, ttl=-10)[0],  # expired
            "",
        ]
        async with stand.connect(f"/ws?channel=room&token={token}") as ws:
            await frame(ws)
            for n, other in enumerate(others):
                request_id = f"r{n}"
                await ws.send_json(
                    {"action": "refresh", "request_id": request_id, "payload": {"token": other}}
                )
                ack, error = await frame(ws), await frame(ws)
                assert ack["type"] == "ack"
                assert (error["type"], error["error"], error["field"]) == (
                    "error",
                    "validation_error",
                    "token",
                ), error
                assert error["request_id"] == request_id
                assert other not in error["message"] or other == ""
            await ws.send_json({"action": "refresh", "request_id": "none", "payload": {}})
            assert (await frame(ws))["type"] == "ack"
            assert (await frame(ws))["field"] == "token"
            with at(expires - 30):  # the old expiry stays
                assert (await frame(ws))["event"] == "token_expiring"
            with at(expires):
                assert await closed(ws) == 4401


async def test_the_teachers_own_token_never_expires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        auth_stand(limit=2 * 3600) as stand,
        stand.connect(f"/ws?channel=room&token={TEACHER_TOKEN}") as ws,
    ):
        assert (await frame(ws))["role"] == TEACHER
        await trio.sleep(3700)  # past QAKIT_TOKEN_TTL's default hour: nothing came
        await ws.send_json({"action": "echo", "request_id": "e1", "payload": {}})
        assert [(await frame(ws))["type"] for _ in range(3)] == ["ack", "echo", "event"]
        tree = await task_tree.snapshot()
        assert "token-expiry" not in tree["by_kind"]


async def test_the_watch_is_a_task_of_the_connection_and_ends_with_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with auth_stand() as stand:
        token, _ = mint(stand, ttl=1000)
        async with stand.connect(f"/ws?channel=room&token={token}") as ws:
            await frame(ws)
            tree = await task_tree.snapshot()
            assert tree["by_kind"]["token-expiry"] == 1
            left = trio.current_time()
            await ws.close()
            assert await closed(ws) == 1000
        # the connection ended at once, long before its token: its watch went with it (a
        # watch left running would hold it until the kit cancels it, LEAVE_TIMEOUT later)
        assert trio.current_time() == left
        assert "token-expiry" not in (await task_tree.snapshot())["by_kind"]


async def test_orders_and_the_qa_kit_profile_close_at_expiry_without_a_warning(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for profile, path in [("qakit", "/ws/orders"), ("qa_kit", "/ws"), ("qa_kit", "/ws/orders")]:
        async with auth_stand(QAKIT_PROFILE=profile) as stand:
            token, expires = mint(stand, ttl=100)
            async with stand.connect(f"{path}?token={token}") as ws:
                if path == "/ws":
                    assert (await frame(ws))["type"] == "system"  # the original hello
                with at(expires):
                    assert await closed(ws) == 4401, (profile, path)


async def test_without_auth_there_is_no_refresh_action(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand() as stand, stand.connect("/ws?channel=room") as ws:
        await frame(ws)
        await ws.send_json({"action": "refresh", "request_id": "r1", "payload": {"token": "x"}})
        assert (await frame(ws))["type"] == "ack"
        assert (await frame(ws))["error"] == "unknown_action"


async def test_a_short_token_over_a_real_socket_is_warned_at_once_then_closed_4401() -> None:
    settings: dict[str, Any] = {
        "auth": True,
        "teacher_token": TEACHER_TOKEN,
        "class_code": CODE,
        "jwt_secret": "test-secret-of-thirty-two-bytes!",
        "rate_limit": None,
    }
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            answer = await http.post(
                "/auth/token",
                json={"name": "ivan", "role": "trainee", "ttl_s": 2},
                headers={"Authorization": f"Bearer {TEACHER_TOKEN}"},
            )
            assert answer.status_code == 200, answer.text
            token = answer.json()["token"]
            async with open_websocket_url(f"{server.ws}/ws?channel=room&token={token}") as ws:
                assert (await receive_json(ws))["user"] == "ivan"
                warning = await receive_json(ws)  # under 30 s left: at once
                assert warning["event"] == "token_expiring"
                assert 0 <= warning["expires_in_ms"] <= 2000
                ended = await read_until_closed(ws)
                assert (ended.messages, ended.code, ended.reason) == ([], 4401, "token expired")
