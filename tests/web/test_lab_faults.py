"""PUT /lab/faults: bounded (rules and body size) and strict (every unknown key named), so the
lab cannot be used to slow every /ws request or to store junk (issue 22, item 6). POST
/lab/blip (issue 27): its history reset, its 422s and its role (the 1012 closes on a real
socket, both paths: sessions/test_faults.py)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import httpx
import pytest
import trio
import trio.testing

from qakit_trio.lab.fault_rules import FaultRules, Rule
from qakit_trio.testing import Stand, StandClosed, open_stand

from ..support.class_auth import AUTH, TEACHER, bearer, token_for
from ..support.helpers import Server, running_server
from ..support.timeouts import TIMEOUT

MAX_RULES = 100  # the limits the README states (lab/fault_rules.py)
MAX_BODY_BYTES = 64 * 1024
RULE = {
    "match": {"action": "echo", "channel": "room"},
    "fault": {"drop": ["ack"]},
    "probability": 0.5,
}


async def test_at_most_max_rules() -> None:
    async with open_stand() as stand:
        status, body = await stand.request(
            "PUT", "/lab/faults", json={"rules": [RULE] * (MAX_RULES + 1)}
        )
        assert status == 422
        [problem] = body["detail"]
        assert (problem["type"], problem["loc"]) == ("value_error", ["body", "rules"])
        assert f"at most {MAX_RULES} rules ({MAX_RULES + 1} given)" in problem["msg"]
        assert (await stand.request("GET", "/lab/faults"))[1] == {"seed": None, "rules": []}
        status, body = await stand.request(
            "PUT", "/lab/faults", json={"seed": 1, "rules": [RULE] * MAX_RULES}
        )
        assert status == 200
        assert len(body["rules"]) == MAX_RULES


async def test_unknown_keys_at_every_level_are_each_named_and_nothing_is_stored() -> None:
    async with open_stand() as stand:
        status, body = await stand.request(
            "PUT",
            "/lab/faults",
            json={
                "seed": 1,
                "comment": "x",
                "rules": [
                    RULE,
                    {
                        "match": {"action": "echo", "colour": "red"},
                        "probabilty": 0.5,
                        "fault": {"drop": ["ack"], "dely_ms": 5},
                        "junk": "j" * 1000,
                    },
                ],
            },
        )
        assert status == 422
        assert body["detail"] == [
            {
                "type": "extra_forbidden",
                "loc": loc,
                "msg": "Extra inputs are not permitted",
                "input": value,
            }
            for loc, value in [
                (["body", "comment"], "x"),
                (["body", "rules", 1, "probabilty"], 0.5),
                (["body", "rules", 1, "junk"], "j" * 1000),
                (["body", "rules", 1, "match", "colour"], "red"),
                (["body", "rules", 1, "fault", "dely_ms"], 5),
            ]
        ]
        assert (await stand.request("GET", "/lab/faults"))[1] == {"seed": None, "rules": []}


async def test_a_bad_value_is_named_where_it_is() -> None:
    async with open_stand() as stand:
        status, body = await stand.request(
            "PUT", "/lab/faults", json={"rules": [RULE, {"fault": {"delay_ms": -5}}]}
        )
        assert status == 422
        [problem] = body["detail"]
        assert (problem["type"], problem["loc"], problem["input"]) == (
            "value_error",
            ["body", "rules", 1, "fault", "delay_ms"],
            -5,
        )
        assert problem["msg"].startswith("Value error, rules[1].fault.delay_ms: must be")


async def chunked_put(server: Server, path: str, body: bytes) -> tuple[int, bytes]:
    """PUT `body` in chunks (no Content-Length: the stand judges it as it arrives), the last
    chunk left unsent: the answer must come from what arrived. Its status and body."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for start in range(0, len(body), 4096):
            chunk = body[start : start + 4096]
            await stream.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += await stream.receive_some()
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        assert length is not None
        while len(rest) < int(length[1]):
            rest += await stream.receive_some()
        return int(head.split()[1]), rest


async def test_a_body_over_the_limit_is_413_and_changes_nothing() -> None:
    too_big = json.dumps({"rules": [RULE] * 2000}).encode()  # 2000 rules: ~190 KiB
    assert len(too_big) > MAX_BODY_BYTES
    detail = {
        "detail": f"the body is larger than {MAX_BODY_BYTES} bytes, the limit of PUT /lab/faults"
    }
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            answer = await http.put(
                "/lab/faults", content=too_big, headers={"Content-Type": "application/json"}
            )
            assert (answer.status_code, answer.json()) == (413, detail)
            status, text = await chunked_put(
                server, "/lab/faults", too_big[: MAX_BODY_BYTES + 8192]
            )
            assert (status, json.loads(text)) == (413, detail)
            assert (await http.get("/lab/faults")).json() == {"seed": None, "rules": []}
            fits = await http.put("/lab/faults", json={"rules": [RULE] * MAX_RULES})
            assert fits.status_code == 200


class Walked(list[Rule]):
    """The rules, counting how many a walk over them looks at."""

    looked_at = 0

    def __iter__(self) -> Iterator[Rule]:
        for rule in super().__iter__():
            Walked.looked_at += 1
            yield rule


def first_match(rules: list[Rule], action: object, channel: str) -> Rule | None:
    """The rule the README describes: the first whose action and channel are the request's
    or any."""
    return next(
        (
            rule
            for rule in rules
            if rule.action in (None, action) and rule.channel in (None, channel)
        ),
        None,
    )


def test_a_request_finds_its_rule_without_walking_the_rules() -> None:
    """Every /ws request asks; with 100 rules it must not look at each of them (the issue's
    100,000 rules took an echo from 0.39 to 10.4 ms)."""
    rules = FaultRules()
    rules.replace(
        {
            "seed": 3,
            "rules": [
                {"match": {"action": "echo", "channel": f"room-{n}"}, "fault": {"drop": ["ack"]}}
                for n in range(MAX_RULES - 1)
            ]
            + [{"match": {"channel": "last"}, "probability": 0.5, "fault": {"drop": ["event"]}}],
        }
    )
    rules.rules = Walked(rules.rules)
    for channel in ("nowhere", "last", "room-50"):
        rules.pick("echo", channel)
    assert Walked.looked_at <= 3  # none, or one a request: not 100

    generator = random.Random(5)  # and it is the rule a walk finds, drawn for the same way
    actions: list[object] = ["echo", "broadcast", None, 7, ["x"]]
    for _ in range(200):
        spec = {
            "seed": 9,
            "rules": [
                {
                    "match": {
                        key: generator.choice(values)
                        for key, values in (
                            ("action", ["echo", "broadcast"]),
                            ("channel", ["a", "b"]),
                        )
                        if generator.random() < 0.5
                    },
                    "fault": {"drop": ["ack"], "duplicate": [generator.choice(["data", "event"])]},
                    "probability": generator.choice([0, 0.5, 1]),
                }
                for _ in range(generator.randrange(4))
            ],
        }
        rules.replace(spec)
        draws = random.Random(9)
        for _ in range(5):
            action, channel = generator.choice(actions), generator.choice(["a", "b", "c"])
            expected = first_match(rules.rules, action, channel)
            fault = (
                None
                if expected is None or not draws.random() < expected.probability
                else expected.fault
            )
            assert rules.pick(action, channel) == fault, (spec, action, channel)


# --- POST /lab/blip (issue 27): reconnect practice -------------------------------------------


async def test_a_blip_with_reset_history_starts_the_channel_again_under_a_new_epoch() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            open_stand() as stand,
            stand.connect("/ws?channel=x") as ws,
            stand.connect("/ws?channel=y") as y,
        ):
            hello = await ws.receive_json()
            y_hello = await y.receive_json()
            for n in range(2):
                await ws.send_json(
                    {"action": "broadcast", "request_id": n, "payload": {"message": "m"}}
                )
                assert [(await ws.receive_json())["type"] for _ in range(3)] == [
                    "ack",
                    "message",
                    "event",
                ]
            status, body = await stand.request(
                "POST", "/lab/blip", json={"channel": "x", "reset_history": True}
            )
            assert (status, body) == (200, {"closed": 1, "channel": "x", "history_reset": 1})
            with pytest.raises(StandClosed) as closed:
                await ws.receive()
            assert closed.value.code == 1012
            old = f"since=2&epoch={hello['epoch']}"
            async with stand.connect(f"/ws?channel=x&{old}") as back:
                again = await back.receive_json()
                assert (again["recovered"], again["offset"]) == (False, 0)
                assert again["epoch"] != hello["epoch"]
            async with stand.connect("/ws?channel=y") as y_again:
                same = await y_again.receive_json()  # another channel: untouched, open
                assert same["epoch"] == y_hello["epoch"]


async def test_a_blip_of_every_channel_can_reset_every_history() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand:
            epochs = {}
            for channel in ("a", "b"):
                async with stand.connect(f"/ws?channel={channel}") as ws:
                    epochs[channel] = (await ws.receive_json())["epoch"]
                    await ws.send_json(
                        {"action": "broadcast", "request_id": "p", "payload": {"message": "m"}}
                    )
                    assert [(await ws.receive_json())["type"] for _ in range(3)][-1] == "event"
            status, body = await stand.request("POST", "/lab/blip", json={"reset_history": True})
            assert (status, body) == (200, {"closed": 0, "channel": None, "history_reset": 2})
            for channel, epoch in epochs.items():
                async with stand.connect(f"/ws?channel={channel}") as ws:
                    hello = await ws.receive_json()
                    assert (hello["offset"], hello["epoch"] != epoch) == (0, True)
            status, body = await stand.request("POST", "/lab/blip", json={"channel": "nobody"})
            assert (status, body) == (200, {"closed": 0, "channel": "nobody", "history_reset": 0})


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        ({"channel": "two words"}, "value_error", ["body", "channel"]),
        ({"channel": "x" * 65}, "value_error", ["body", "channel"]),
        ({"channel": 5}, "value_error", ["body", "channel"]),
        ({"reset_history": "yes"}, "bool_type", ["body", "reset_history"]),
        ({"reset_history": 1}, "bool_type", ["body", "reset_history"]),
        ({"channel": "x", "colour": "red"}, "extra_forbidden", ["body", "colour"]),
    ],
)
async def test_a_bad_blip_is_422_naming_the_field_and_closes_nothing(
    body: dict[str, object], kind: str, loc: list[str]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand() as stand, stand.connect("/ws?channel=x") as ws:
            await ws.receive_json()
            status, answer = await stand.request("POST", "/lab/blip", json=body)
            assert status == 422
            [problem] = answer["detail"]
            assert (problem["type"], problem["loc"]) == (kind, loc)
            await ws.send_json({"action": "echo", "request_id": "still"})
            assert (await ws.receive_json())["type"] == "ack"  # still open
            assert stand.app.services.hub.total() == 1


async def test_a_blip_is_the_teachers_with_auth_on() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand(AUTH) as stand:
            trainee = await token_for(stand, "ivan")
            async with stand.connect("/ws?channel=x", bearer(trainee)) as ws:
                await ws.receive_json()
                status, _ = await stand.request(
                    "POST", "/lab/blip", json={}, headers=bearer(trainee)
                )
                assert status == 403
                assert stand.app.services.hub.total() == 1
                status, _ = await stand.request("POST", "/lab/blip", json={})
                assert status == 401
                status, body = await stand.request(
                    "POST", "/lab/blip", json={}, headers=bearer(TEACHER)
                )
                assert (status, body["closed"]) == (200, 1)
                with pytest.raises(StandClosed) as closed:
                    await ws.receive()
                assert closed.value.code == 1012


async def test_a_blip_of_join_leave_watchers_closes_each_with_1012_and_evicts_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Twelve members of `room` that all watch its joins and leaves, with the smallest outbox:
    the blip closes every one with 1012; none is told of the others' leaving (a storm of
    `leave` frames would evict them with 4008 before their 1012)."""
    closes: dict[int, int | None] = {}

    async def member(n: int, stand: Stand, ready: trio.Event) -> None:
        async with stand.connect(f"/ws?channel=home-{n}") as ws:
            await ws.receive_json()  # hello
            payload = {"channel": "room", "join_leave": True}
            await ws.send_json({"action": "subscribe", "request_id": "s", "payload": payload})
            while True:
                try:
                    frame = await ws.receive_json()
                except StandClosed as closed:
                    closes[n] = closed.code
                    return
                if frame.get("type") == "event":
                    ready.set()

    with trio.fail_after(60):
        async with open_stand({"QAKIT_OUTBOX_SIZE": "4"}) as stand:
            async with trio.open_nursery() as nursery:
                for n in range(12):
                    ready = trio.Event()
                    nursery.start_soon(member, n, stand, ready)
                    await ready.wait()
                status, body = await stand.request("POST", "/lab/blip", json={"channel": "room"})
                assert (status, body["closed"]) == (200, 12)
            hub = stand.app.services.hub
            assert hub.evictions == 0
            assert hub.presence.clients("room") == []
    assert closes == dict.fromkeys(range(12), 1012)
