"""PUT /lab/faults: bounded (rules and body size) and strict (every unknown key named), so the
lab cannot be used to slow every /ws request or to store junk (issue 22, item 6)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import httpx
import trio

from qakit_trio.lab.fault_rules import FaultRules, Rule
from qakit_trio.testing import open_stand

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
