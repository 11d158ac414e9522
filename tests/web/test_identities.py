"""QAKIT_AUTH=on (web/identities.py, auth/): tokens, the permission table from a real client over
a real socket (on both server paths), the close codes 4401 and 4403, rate limits (429, an error
frame without an ack, 4429). With QAKIT_AUTH off nothing changes: the rest of the suite."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from qakit_trio import logs
from qakit_trio.auth.limits import RateLimit
from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.server import is_loopback, serve
from qakit_trio.testing import StandClosed, open_stand

from ..support.helpers import (
    TEST_SETTINGS,
    Server,
    read_until_closed,
    receive_json,
    running_server,
)
from ..support.kafka_topics import has_count, read_topic
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT

TEACHER = "teacher-token-0123456789"
CODE = "lesson-7"
AUTH: dict[str, Any] = {
    "auth": True,
    "teacher_token": TEACHER,
    "class_code": CODE,
    "jwt_secret": "test-secret-of-thirty-two-bytes!",
    "rate_limit": None,
}
# a token for someone else, a bearer header


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def stand(**overrides: Any) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    async with (
        running_server(**{**AUTH, **overrides}) as server,
        httpx.AsyncClient(base_url=server.http) as http,
    ):
        yield server, http


async def token_for(http: httpx.AsyncClient, name: str) -> str:
    answer = await http.post("/auth/token", json={"name": name, "class_code": CODE})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_auth_on_needs_the_teacher_token_and_the_class_code() -> None:
    with pytest.raises(ConfigError, match="QAKIT_TEACHER_TOKEN and QAKIT_CLASS_CODE"):
        load_settings({"QAKIT_AUTH": "on"})
    with pytest.raises(ConfigError, match="QAKIT_TEACHER_TOKEN: must be at least 16"):
        load_settings({"QAKIT_AUTH": "on", "QAKIT_TEACHER_TOKEN": "short"})
    settings = load_settings(
        {"QAKIT_AUTH": "on", "QAKIT_TEACHER_TOKEN": TEACHER, "QAKIT_CLASS_CODE": CODE}
    )
    assert settings.rate_limit == RateLimit(20.0, 40)  # on with auth, unless said otherwise
    with pytest.raises(ConfigError, match="QAKIT_JWT_SECRET: must be at least 32"):
        load_settings({**KIT_AUTH, "QAKIT_JWT_SECRET": "short-and-crackable"})
    with pytest.raises(ConfigError, match="QAKIT_CLASS_CODE: must be at least 4"):
        load_settings({**KIT_AUTH, "QAKIT_CLASS_CODE": "ab"})
    assert TEACHER not in repr(settings)
    assert CODE not in repr(settings)
    assert load_settings({}).rate_limit is None


async def test_a_trainee_gets_a_token_with_the_class_code() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (_, http):
            given = await http.post("/auth/token", json={"name": "иван", "class_code": CODE})
            wrong = await http.post("/auth/token", json={"name": "ivan", "class_code": "nope"})
            bad_name = await http.post("/auth/token", json={"name": "a b", "class_code": CODE})
            missing = await http.post("/auth/token", json={"name": "ivan"})
            minted = await http.post(
                "/auth/token",
                json={"name": "olga", "role": "teacher", "ttl_s": 60},
                headers=bearer(TEACHER),
            )
    body = given.json()
    assert (given.status_code, body["name"], body["role"], body["token_type"]) == (
        200,
        "иван",
        "trainee",
        "Bearer",
    )
    assert body["expires_in"] == 3600
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert CODE not in wrong.text
    assert bad_name.status_code == 422
    assert bad_name.json()["detail"][0]["loc"] == ["body", "name"]
    assert (missing.status_code, missing.json()["detail"][0]["loc"]) == (
        422,
        ["body", "class_code"],
    )
    assert (minted.json()["role"], minted.json()["expires_in"]) == ("teacher", 60)


@pytest.mark.parametrize(
    ("path", "anonymous", "trainee", "teacher"),
    [
        ("/health", 200, 200, 200),
        ("/openapi.json", 200, 200, 200),
        ("/stats", 401, 200, 200),
        ("/orders", 401, 200, 200),
        ("/lab/bugs", 401, 403, 200),
        ("/metrics", 401, 403, 200),
        ("/debug/tasks", 401, 403, 200),
    ],
)
async def test_each_route_answers_each_role_as_the_table_says(
    path: str, anonymous: int, trainee: int, teacher: int
) -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (_, http):
            token = await token_for(http, "ivan")
            got = [
                (await http.get(path)).status_code,
                (await http.get(path, headers=bearer(token))).status_code,
                (await http.get(path, headers=bearer(TEACHER))).status_code,
            ]
            if anonymous == 401:
                refused = await http.get(path, headers=bearer("not-a-token"))
                assert refused.headers["WWW-Authenticate"] == "Bearer"
                assert refused.json() == {"detail": "Not authenticated: invalid token"}
    assert got == [anonymous, trainee, teacher]


async def test_a_websocket_without_a_valid_token_is_accepted_then_closed_4401() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (server, _):
            for door in ("/ws", "/ws/orders", "/ws/echo"):
                for query in ("", "?token=forged"):
                    async with open_websocket_url(f"{server.ws}{door}{query}") as ws:
                        closed = await read_until_closed(ws)
                    reason = "no token" if not query else "invalid token"
                    assert (closed.code, closed.reason) == (4401, reason), door


async def test_a_token_in_the_header_or_the_query_opens_every_door() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (server, http):
            token = await token_for(http, "ivan")
            async with open_websocket_url(
                f"{server.ws}/ws?channel=room",
                extra_headers=[(b"Authorization", f"Bearer {token}".encode())],
            ) as ws:
                hello = await receive_json(ws)
            assert (hello["user"], hello["role"]) == ("ivan", "trainee")
            async with open_websocket_url(f"{server.ws}/ws/orders?token={token}") as legacy:
                await legacy.send_message(json.dumps({"action": "ping"}))
                assert json.loads(await legacy.get_message()) == {"type": "pong"}
            async with open_websocket_url(f"{server.ws}/ws/echo?token={token}") as echo:
                await echo.send_message("hi")
                assert await echo.get_message() == "hi"


async def test_private_channels_are_their_owners_and_announcements_the_teachers() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (server, http):
            ivan, petr = await token_for(http, "ivan"), await token_for(http, "petr")
            async with open_websocket_url(
                f"{server.ws}/ws?channel=private:ivan&token={petr}"
            ) as ws:
                closed = await read_until_closed(ws)
            assert (closed.code, closed.reason) == (4403, "petr may not join private:ivan")
            async with open_websocket_url(
                f"{server.ws}/ws?channel=private:ivan&token={ivan}"
            ) as ws:
                assert (await receive_json(ws))["channel"] == "private:ivan"
            async with open_websocket_url(
                f"{server.ws}/ws?channel=private:ivan&token={TEACHER}"
            ) as ws:
                assert (await receive_json(ws))["role"] == "teacher"
            async with (
                open_websocket_url(f"{server.ws}/ws?channel=announcements&token={ivan}") as trainee,
                open_websocket_url(
                    f"{server.ws}/ws?channel=announcements&token={TEACHER}"
                ) as teacher,
            ):
                await receive_json(trainee)
                await receive_json(teacher)
                await trainee.send_message(
                    json.dumps(
                        {"action": "broadcast", "request_id": "t", "payload": {"message": "x"}}
                    )
                )
                frames = [await receive_json(trainee) for _ in range(2)]
                assert [(f["type"], f.get("error")) for f in frames] == [
                    ("ack", None),
                    ("error", "forbidden"),
                ]
                await teacher.send_message(
                    json.dumps(
                        {"action": "broadcast", "request_id": "s", "payload": {"message": "hi"}}
                    )
                )
                heard = await receive_json(trainee)  # anyone may listen
                assert (heard["type"], heard["message"], heard["from_user"]) == (
                    "message",
                    "hi",
                    "teacher",
                )


async def test_over_the_rate_limit_rest_is_429_and_a_socket_is_refused_then_closed_4429() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand(rate_limit=RateLimit(0.01, 2)) as (server, http):
            token = await token_for(http, "ivan")  # (anonymous: counted by address)
            codes = [
                (await http.get("/stats", headers=bearer(token))).status_code for _ in range(3)
            ]
            limited = await http.get("/stats", headers=bearer(token))
            assert codes == [200, 200, 429]
            assert (limited.json(), int(limited.headers["Retry-After"]) > 0) == (
                {"detail": "Too Many Requests"},
                True,
            )
            async with open_websocket_url(f"{server.ws}/ws?token={token}") as ws:
                await receive_json(ws)  # the same user: its bucket is already empty
                await ws.send_message(json.dumps({"action": "echo", "request_id": "r1"}))
                refused = await receive_json(ws)
                assert (refused["type"], refused["error"], refused["request_id"]) == (
                    "error",
                    "rate_limited",
                    "r1",
                )
                assert refused["retry_after_ms"] > 0
                # refused: two 429s, and now r1: more than a burst (2) of them, so closed
                closed = await read_until_closed(ws)
            assert (closed.code, closed.reason) == (4429, "rate limit exceeded")


async def test_with_auth_off_there_is_no_token_route() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            answer = await http.post("/auth/token", json={"name": "ivan", "class_code": CODE})
            stats = await http.get("/stats")
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})  # as before
    assert stats.status_code == 200


@pytest.mark.parametrize("auth", [False, True])
async def test_a_stand_open_to_the_network_with_auth_off_says_so(
    auth: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Listening on 0.0.0.0 (every address of the machine): a WARNING at start with auth off,
    none with it on; loopback binds never warn."""
    settings = replace(TEST_SETTINGS, **(AUTH if auth else {}))
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            await nursery.start(serve, settings, ["0.0.0.0:0"], stop.wait)
            stop.set()
    warned = [r for r in caplog.records if "listening beyond this machine" in r.getMessage()]
    assert len(warned) == (0 if auth else 1)
    assert [is_loopback(b) for b in ("127.0.0.1:8002", "[::1]:80", "localhost:1")] == [True] * 3
    assert [is_loopback(b) for b in ("0.0.0.0:8002", "192.168.1.5:80", "stand.lan:8002")] == [
        False
    ] * 3


async def test_no_token_reaches_a_log_line_or_the_inspector(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A scripted session with auth on: tokens in headers and in query strings, a 401, a 4401, a
    429; its secrets appear in no log line (as written to stdout) and no inspector frame."""
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(TIMEOUT):
        async with stand(rate_limit=RateLimit(0.01, 3)) as (server, http):
            token = await token_for(http, "ivan")
            secrets = [TEACHER, CODE, token, "test-secret-of-thirty-two-bytes!"]
            async with open_websocket_url(f"{server.ws}/ws/_inspect?token={token}") as trainee:
                assert (await read_until_closed(trainee)).code == 4403  # the teacher's only
            async with open_websocket_url(f"{server.ws}/ws/_inspect?token={TEACHER}") as spy:
                async with open_websocket_url(f"{server.ws}/ws?token={token}") as ws:
                    await receive_json(ws)
                    # a trainee pastes their token into a frame: the log and the inspector hide it
                    await ws.send_message(
                        json.dumps({"action": "echo", "request_id": "e", "payload": {"t": token}})
                    )
                    await receive_json(ws)
                    refresh = {"action": "refresh", "request_id": "f", "payload": {"token": token}}
                    await ws.send_message(json.dumps(refresh))  # the token in a frame, again
                    while (await receive_json(ws)).get("request_id") != "f":
                        pass
                await http.get("/stats")  # 401
                await http.get("/stats", headers=bearer(token))
                async with open_websocket_url(f"{server.ws}/ws?token={token}x") as refused:
                    assert (await read_until_closed(refused)).code == 4401
                for _ in range(4):
                    await http.get("/stats", headers=bearer(token))  # a 429 among them
                shown = [str(await spy.get_message())]
                while '\\"request_id\\":\\"e\\"' not in shown[-1]:  # the echo request, tapped
                    shown.append(str(await spy.get_message()))
    formatter = logs.JsonFormatter()
    written = "\n".join(  # the stand's lines (not the test clients' own DEBUG lines)
        formatter.format(record)
        for record in caplog.records
        if record.name.startswith(("qakit_trio", "hypercorn"))
    )
    for secret in secrets:
        assert secret not in written, [line for line in written.splitlines() if secret in line]
        assert not any(secret in frame for frame in shown)
    assert "token=***" in written
    assert "***" in shown[-1]


KIT_AUTH = {"QAKIT_AUTH": "on", "QAKIT_TEACHER_TOKEN": TEACHER, "QAKIT_CLASS_CODE": CODE}


async def test_the_in_process_kit_with_auth_on(autojump_clock: trio.testing.MockClock) -> None:
    """What a trainee's pytest does with the kit (qakit_trio.testing): a token, 401 and 403 from
    REST, 4401 without a token, the hello with the user, 4403 on someone's private channel."""
    async with open_stand(KIT_AUTH) as kit:
        status, body = await kit.request(
            "POST", "/auth/token", {"name": "ivan", "class_code": CODE}
        )
        assert status == 200
        token = body["token"]
        assert (await kit.request("GET", "/stats"))[0] == 401
        assert (await kit.request("GET", "/stats", headers=bearer(token)))[0] == 200
        assert (await kit.request("GET", "/lab/bugs", headers=bearer(token)))[0] == 403
        async with kit.connect("/ws") as anonymous:
            with pytest.raises(StandClosed) as closed:
                await anonymous.receive()
            assert closed.value.code == 4401
        async with kit.connect("/ws", headers=bearer(token)) as ws:
            hello = await ws.receive_json()
            assert (hello["user"], hello["role"]) == ("ivan", "trainee")
        async with kit.connect(f"/ws?channel=private:petr&token={token}") as other:
            with pytest.raises(StandClosed) as closed:
                await other.receive()
            assert closed.value.code == 4403


async def test_no_token_reaches_a_kafka_record(kafka_settings: dict[str, Any]) -> None:
    """A real broker: a trainee pastes their token into an echo and refreshes with it; the WS
    topic's records carry the user's name, never the token."""
    bootstrap, topic = kafka_settings["kafka_bootstrap"], kafka_settings["kafka_ws_topic"]
    with trio.fail_after(SERVICE_TIMEOUT):
        async with stand(**kafka_settings) as (server, http):
            token = await token_for(http, "ivan")
            async with open_websocket_url(f"{server.ws}/ws?token={token}") as ws:
                await receive_json(ws)
                for frame in (
                    {"action": "echo", "request_id": "e", "payload": {"t": token}},
                    {"action": "refresh", "request_id": "r", "payload": {"token": token}},
                ):
                    await ws.send_message(json.dumps(frame))
                    while (await receive_json(ws))["type"] != "event":
                        pass
            read = await read_topic(bootstrap, topic, has_count(2))
    assert {record.value["user"] for record in read} == {"ivan"}
    for record in read:
        assert token not in json.dumps(record.value)
    assert "***" in json.dumps(read[0].value)  # the pasted token, hidden


async def test_the_rate_limit_on_the_virtual_clock(autojump_clock: trio.testing.MockClock) -> None:
    """QAKIT_RATE_LIMIT=1/s,2 in the kit: two requests at once pass, the third is refused with
    how long to wait, and once that time has passed (virtual seconds) one passes again."""
    async with open_stand({**KIT_AUTH, "QAKIT_RATE_LIMIT": "1/s,2"}) as kit:
        token = (await kit.request("POST", "/auth/token", {"name": "ivan", "class_code": CODE}))[1]
        async with kit.connect(f"/ws?token={token['token']}") as ws:
            await ws.receive_json()
            answers = []
            for n in range(3):
                await ws.send_json({"action": "echo", "request_id": f"r{n}"})
                answers.append(await ws.receive_json())
                if answers[-1]["type"] == "ack":
                    answers += [await ws.receive_json() for _ in range(2)]
            refused = answers[-1]
            assert [a["type"] for a in answers] == ["ack", "echo", "event"] * 2 + ["error"]
            assert (refused["error"], refused["retry_after_ms"]) == ("rate_limited", 1000)
            await trio.sleep(refused["retry_after_ms"] / 1000)  # the wait it was told, virtual
            await ws.send_json({"action": "echo", "request_id": "again"})
            assert (await ws.receive_json())["type"] == "ack"


async def test_names_that_pass_for_someone_else_are_refused() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (_, http):
            answers = [
                await http.post("/auth/token", json={"name": name, "class_code": CODE})
                for name in ("teacher", "Teacher", "t\u0435acher", "\uff49van", "\u3164")
            ]
    assert [a.status_code for a in answers] == [422] * 5
    assert "the teacher's name" in answers[0].json()["detail"][0]["msg"]


async def test_rest_broadcasts_follow_the_channel_rules_and_say_who() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (server, http):
            ivan = await token_for(http, "ivan")
            refused = [
                await http.post(f"/broadcast?channel={channel}&message=x", headers=bearer(ivan))
                for channel in ("announcements", "private:petr")
            ]
            async with open_websocket_url(
                f"{server.ws}/ws?channel=announcements&token={ivan}"
            ) as ws:
                await receive_json(ws)
                sent = await http.post(
                    "/broadcast?channel=announcements&message=hi", headers=bearer(TEACHER)
                )
                heard = await receive_json(ws)
    assert [r.status_code for r in refused] == [403, 403]
    assert refused[0].json() == {"detail": "ivan may not broadcast to announcements"}
    assert sent.status_code == 200
    assert (heard["type"], heard["from_user"]) == ("broadcast", "teacher")


@pytest.mark.parametrize("stand_profile", ["qa_kit"], indirect=True)
async def test_the_qa_kit_profile_keeps_announcements_the_teachers(stand_profile: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with stand() as (server, http):
            ivan = await token_for(http, "ivan")
            async with open_websocket_url(
                f"{server.ws}/ws?channel=announcements&token={ivan}"
            ) as ws:
                await receive_json(ws)
                await ws.send_message(
                    json.dumps({"action": "broadcast", "payload": {"message": "fake"}})
                )
                frames = [await receive_json(ws) for _ in range(2)]
    assert [f["type"] for f in frames] == ["ack", "error"]
    assert "may not broadcast to announcements" in frames[1]["message"]


async def test_the_teachers_own_token_and_odd_query_spellings_stay_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            stand() as (server, _),
            open_websocket_url(f"{server.ws}/ws?%74oken={TEACHER}") as ws,
        ):
            await receive_json(ws)
            refresh = {"action": "refresh", "request_id": "f", "payload": {"token": TEACHER}}
            await ws.send_message(json.dumps(refresh))
            while (await receive_json(ws))["type"] != "event":
                pass
    formatter = logs.JsonFormatter()
    written = "\n".join(
        formatter.format(r) for r in caplog.records if r.name.startswith(("qakit", "hypercorn"))
    )
    assert TEACHER not in written
    assert "%74oken=***" in written


async def test_guessing_tokens_is_rate_limited_like_any_anonymous_request() -> None:
    with trio.fail_after(TIMEOUT):
        async with stand(rate_limit=RateLimit(0.01, 2)) as (server, http):
            codes = [
                (await http.get("/stats", headers=bearer(f"guess-{n}"))).status_code
                for n in range(3)
            ]
            async with open_websocket_url(f"{server.ws}/ws?token=guess") as ws:
                closed = await read_until_closed(ws)
    assert codes == [401, 401, 429]
    assert (closed.code, closed.reason) == (4429, "rate limit exceeded")
