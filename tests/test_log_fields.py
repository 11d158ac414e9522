"""ECS log lines (log_fields.py): the declared fields, and a whole session's lines, each field
of one JSON type, checked against ECS 8.17's own field definitions (support/ecs_8_17.json)."""

from __future__ import annotations

import ast
import contextlib
import json
import signal
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, open_websocket_url

import qakit_trio
from qakit_trio import __version__
from qakit_trio.log_fields import FIELDS, HEAD, JSON, Texts, place

from .support.helpers import read_until_closed, receive_json, server_process
from .support.timeouts import LOAD_TIMEOUT, SERVICE_TIMEOUT

CLI = [sys.executable, "-m", "qakit_trio"]
ECS = json.loads((Path(__file__).parent / "support" / "ecs_8_17.json").read_text())["fields"]
# ECS field types -> the one JSON type a value of that field has on our lines
ECS_JSON_TYPES = {
    "keyword": "string",
    "wildcard": "string",
    "match_only_text": "string",
    "text": "string",
    "date": "string",
    "long": "integer",
    "float": "float",
    "boolean": "boolean",
}
DECLARED_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    JSON: "string",
    Texts: "array<string>",
}


def json_type(value: object) -> str:
    if isinstance(value, list):
        return f"array<{'|'.join(sorted({json_type(item) for item in value})) or 'empty'}>"
    return {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "float",
        dict: "object",
        type(None): "null",
    }[type(value)]


def test_names_never_nest_and_never_take_the_heads_keys() -> None:
    """A name that is a prefix of another (`qakit.frame` next to `qakit.frame.type`) would be a
    value in one line and an object in the next: Elasticsearch rejects the second."""
    names = [name for name, _ in FIELDS.values()] + list(HEAD)
    for name in names:
        assert not any(other.startswith(f"{name}.") for other in names), name
    assert not {name for name, _ in FIELDS.values()} & set(HEAD)


def test_every_ecs_name_is_an_ecs_8_17_field_of_the_same_type() -> None:
    for key, (name, kind) in FIELDS.items():
        if name.startswith("qakit."):
            continue
        assert name in ECS, f"{key} -> {name}: not an ECS 8.17 field"
        assert ECS_JSON_TYPES[ECS[name]] == DECLARED_TYPES[kind], (key, name, ECS[name])
    assert {name for name in HEAD if name in ECS} == set(HEAD)


def logged_field_names() -> dict[str, str]:
    """Every field name the package's source gives a log line, found in its syntax tree:
    keywords of `logs.info(...)`, keys of `extra={"fields": {...}}` -> where."""
    found: dict[str, str] = {}
    for path in sorted(Path(qakit_trio.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "info"
                and isinstance(func.value, ast.Name)
                and func.value.id == "logs"
            ):
                names: list[object] = [kw.arg for kw in node.keywords if kw.arg is not None]
            else:
                names = [
                    key.value
                    for kw in node.keywords
                    if kw.arg == "extra" and isinstance(kw.value, ast.Dict)
                    for value in kw.value.values
                    if isinstance(value, ast.Dict)
                    for key in value.keys
                    if isinstance(key, ast.Constant)
                ]
            for name in names:
                found.setdefault(str(name), f"{path.name}:{node.lineno}")
    return found


def test_every_field_the_source_logs_is_declared() -> None:
    found = logged_field_names()
    assert len(found) > 30  # the scan sees the calls
    assert {name: where for name, where in found.items() if name not in FIELDS} == {}


ODD_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(key=st.sampled_from(sorted(FIELDS)) | st.text(), value=ODD_VALUES)
def test_any_value_is_placed_with_its_fields_one_type(key: str, value: object) -> None:
    name, placed = place(key, value, json.dumps)
    spec = FIELDS.get(key)
    if spec is None:  # never a declared field's name (qakit.connection_id is `conn`'s)
        declared = {ecs for ecs, _ in FIELDS.values()}
        own = f"qakit.{key}"
        assert (name, type(placed)) == (own if own not in declared else f"{own}_text", str)
    elif name == spec[0]:
        assert json_type(placed) in (DECLARED_TYPES[spec[1]], "array<empty>")
    else:  # not a number where a number belongs: beside it, as text
        assert (name, type(placed)) == (f"{spec[0]}_text", str)


def test_a_request_id_is_always_a_string_and_extra_always_json_text() -> None:
    assert place("request_id", 5, json.dumps) == ("qakit.request_id", "5")
    assert place("request_id", ["a"], json.dumps) == ("qakit.request_id", '["a"]')
    assert place("extra", {"id": 1}, json.dumps) == ("qakit.extra", '{"id": 1}')
    assert place("extra", "x", json.dumps) == ("qakit.extra", '"x"')
    assert place("close_code", True, json.dumps) == ("qakit.close.code_text", "true")
    assert place("stalled_s", float("nan"), json.dumps) == ("qakit.stalled_s_text", "NaN")
    # a field nobody declared never takes a declared field's name
    assert place("connection_id", 1, json.dumps) == ("qakit.connection_id_text", "1")


def test_each_field_has_its_own_name() -> None:
    names = [name for name, _ in FIELDS.values()]
    assert len(names) == len(set(names))


# --- a whole session -----------------------------------------------------------------------


async def ws_session(base: str) -> None:
    """All three WebSocket doors, each with what a class of trainees sends: good requests,
    a number for a request_id, bad JSON, unknown actions, a binary frame, a fault, a close."""
    ws = base.replace("http://", "ws://")
    async with open_websocket_url(f"{ws}/ws?channel=lesson") as conn:
        await conn.get_message()  # hello
        for frame in (
            {"action": "echo", "payload": {"id": 1}, "request_id": "r1"},
            {"action": "echo", "payload": {"id": "x"}, "request_id": 5},
            {"action": "triplet_demo", "request_id": ["list"]},
            {"action": "broadcast", "payload": {"message": "hi"}},
            {"action": {"an": "object"}, "request_id": "r2"},
            {"action": "create_order", "payload": {"customer": "Ann"}, "request_id": "o1"},
            {"action": "echo", "request_id": "f1", "fault": {"duplicate": ["ack"]}},
            {"action": "nope", "request_id": True},
        ):
            await conn.send_message(json.dumps(frame))
        await conn.send_message("{not json")
        await conn.send_message(b"\x00\x01")
        await conn.send_message(json.dumps({"action": "echo", "request_id": "last"}))
        while True:
            frame = json.loads(await conn.get_message())
            if (frame["type"], frame.get("request_id")) == ("event", "last"):
                break
    async with open_websocket_url(f"{ws}/ws/orders") as legacy:
        await legacy.send_message(json.dumps({"action": "create_order", "customer": "Bo"}))
        await legacy.send_message("[1, 2]")
        await legacy.send_message(json.dumps({"action": "list_orders"}))  # not on this door
        while (await receive_json(legacy)).get("raw_action") != "list_orders":
            pass  # the result, the order event and the invalid_json error come first
    async with open_websocket_url(f"{ws}/ws/echo") as echo:
        await echo.send_message("hello")
        assert await echo.get_message() == "hello"
    async with open_websocket_url(f"{ws}/ws?channel=big") as big:
        await big.get_message()
        with contextlib.suppress(ConnectionClosed):  # it may close while we still send
            await big.send_message("x" * 2_000_000)  # too big: closed with 1009
        assert (await read_until_closed(big)).code == 1009


async def rest_session(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        order = (await http.post("/orders", json={"customer": "Cy"})).json()
        for method, path, body in (
            ("GET", "/health", None),
            ("GET", "/orders?limit=5", None),
            ("GET", f"/orders/{order['id']}", None),
            ("GET", "/orders/abc", None),
            ("POST", f"/orders/{order['id']}/pay", None),
            ("POST", "/orders", {"x": 1}),
            ("POST", "/broadcast", {"channel": "lesson", "message": {"n": 1}}),
            (
                "PUT",
                "/lab/faults",
                {"seed": 3, "rules": [{"match": {"action": "echo"}, "fault": {"drop": ["ack"]}}]},
            ),
            ("DELETE", "/lab/faults", None),
            ("PUT", "/lab/bugs", {"enabled": []}),
            ("GET", "/metrics", None),
            ("GET", "/nowhere", None),
        ):
            try:
                await http.request(method, path, json=body, headers={"User-Agent": "trainee/1"})
            except httpx.HTTPError as error:
                error.add_note(f"during {method} {path}")
                raise


OPENSEARCH_TYPES = {
    "keyword": {"type": "keyword", "ignore_above": 1024},
    "wildcard": {"type": "wildcard"},
    "match_only_text": {"type": "match_only_text"},
    "date": {"type": "date"},
    "long": {"type": "long"},
}
QAKIT_TYPES = {
    str: "keyword",
    int: "long",
    float: "double",
    bool: "boolean",
    JSON: "keyword",
    Texts: "keyword",
}


def ecs_mapping() -> dict[str, Any]:
    """An index mapping of every field a line may have: ECS's own types for ECS fields, the
    declared type for ours; `dynamic: strict`, so a field nobody declared rejects the line."""
    root: dict[str, Any] = {"dynamic": "strict", "properties": {}}
    types = {name: OPENSEARCH_TYPES[ECS[name]] for name in HEAD}
    for name, kind in FIELDS.values():
        types[name] = (
            {"type": QAKIT_TYPES[kind]}
            if name.startswith("qakit.")
            else OPENSEARCH_TYPES[ECS[name]]
        )
    for name, mapping in types.items():
        *parents, leaf = name.split(".")
        node = root
        for parent in parents:
            node = node["properties"].setdefault(parent, {"properties": {}})
        node["properties"][leaf] = mapping
    return root


async def ingest(search: httpx.AsyncClient, lines: list[str]) -> str:
    """Index the lines as they are into a fresh index with the ECS mapping; its name."""
    index = f"qa-websocket-{uuid.uuid4().hex[:8]}"
    created = await search.put(f"/{index}", json={"mappings": ecs_mapping()})
    assert created.status_code == 200, created.text
    body = "".join(f'{{"index":{{}}}}\n{line}\n' for line in lines)
    bulk = (
        await search.post(
            f"/{index}/_bulk?refresh=wait_for",
            content=body.encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
    ).json()
    refused = [item["index"]["error"] for item in bulk["items"] if "error" in item["index"]]
    assert (bulk["errors"], refused) == (False, [])
    return index


async def count(search: httpx.AsyncClient, index: str, query: dict[str, Any]) -> int:
    found = await search.post(f"/{index}/_count", json={"query": query})
    assert found.status_code == 200, found.text
    return int(found.json()["count"])


def assert_one_type_per_field(lines: list[dict[str, Any]]) -> None:
    """Every line starts as the ECS logging spec says and names the service; each field has
    one JSON type on every line (never an object or null), no name nests in another, ECS's
    names have ECS's types, and every field is declared in log_fields.FIELDS."""
    types: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        assert list(line)[:3] == ["@timestamp", "log.level", "message"], line
        assert (line["ecs.version"], line["service.name"], line["service.version"]) == (
            "8.17.0",
            "qa-websocket",
            __version__,
        )
        for name, value in line.items():
            types[name].add(json_type(value))
    clashes = {name: seen for name, seen in types.items() if len(seen) > 1}
    assert not clashes, clashes
    for name, [seen] in ((name, list(seen)) for name, seen in types.items()):
        assert seen not in ("object", "null"), name
        assert not any(other.startswith(f"{name}.") for other in types), name
        if not name.startswith("qakit."):
            assert ECS_JSON_TYPES[ECS[name]] == seen.removeprefix("array<").rstrip(">"), name
    undeclared = set(types) - set(HEAD) - {name for name, _ in FIELDS.values()}
    assert not undeclared, undeclared


def test_the_session_check_finds_a_field_with_two_types() -> None:
    head = {
        "@timestamp": "2026-12-01T00:00:00+00:00",
        "log.level": "info",
        "message": "m",
        "ecs.version": "8.17.0",
        "service.name": "qa-websocket",
        "service.version": __version__,
    }
    assert_one_type_per_field([{**head, "qakit.request_id": "5"}])
    with pytest.raises(AssertionError, match=r"qakit\.request_id"):
        assert_one_type_per_field(
            [{**head, "qakit.request_id": "5"}, {**head, "qakit.request_id": 5}]
        )  # the old logs did this


async def test_a_whole_sessions_lines_are_ecs_with_one_type_per_field(
    database_url: str, kafka_settings: dict[str, Any], opensearch_url: str
) -> None:
    """The lines of a session with every door, errors, REST and a shutdown: one type per
    field, ECS's types for ECS's names, and a real OpenSearch indexes every line under a strict
    ECS mapping."""
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings["kafka_bootstrap"],
        "KAFKA_WS_TOPIC": kafka_settings["kafka_ws_topic"],
        "KAFKA_ORDER_TOPIC": kafka_settings["kafka_order_topic"],
        "QAKIT_LAB_PAGES": "1",
        "QAKIT_MAX_MESSAGE_SIZE": "1000000",
    }
    with trio.fail_after(SERVICE_TIMEOUT):
        async with server_process([*CLI, "--bind", "127.0.0.1:0"], env) as server:
            base = server.urls[0]
            await ws_session(base)
            await rest_session(base)
            ws = base.replace("http://", "ws://")
            async with open_websocket_url(f"{ws}/ws?channel=stay") as staying:
                await staying.get_message()
                server.process.send_signal(signal.SIGTERM)  # shut down with a client on
                assert (await read_until_closed(staying)).code == 1001
            assert await server.process.wait() == 0
            await server.wait_for_lines(
                lambda lines: any("kafka publisher stopped" in line for line in lines)
            )
    raw = [line for line in server.lines if line.strip()]
    lines = [json.loads(line) for line in raw]  # every line is JSON
    assert_one_type_per_field(lines)
    by_message = defaultdict(list)
    for line in lines:
        by_message[line["message"]].append(line)
    frames_in = by_message["frame in"]
    assert {"5", "r1"} <= {line.get("qakit.request_id") for line in frames_in}
    errors = [line for line in by_message["frame out"] if line["qakit.frame.type"] == "error"]
    assert {"invalid_json", "unknown_action"} <= {line.get("qakit.error_code") for line in errors}
    events = by_message["event"]
    assert {'{"id":1}', '{"id":"x"}'} <= {line.get("qakit.extra") for line in events}
    assert all(isinstance(line["event.id"], str) and line["event.action"] for line in events)
    access = [line for line in lines if line["log.logger"] == "hypercorn.access"]
    health = next(line for line in access if line["url.path"] == "/health")
    assert (
        health["http.request.method"],
        health["http.response.status_code"],
        health["user_agent.original"],
        health["client.address"],
    ) == ("GET", 200, "trainee/1", "127.0.0.1")
    assert health["event.duration"] > 0
    assert (
        next(line for line in access if line["url.path"] == "/orders" and "url.query" in line)[
            "url.query"
        ]
        == "limit=5"
    )
    assert {"shutting down", "closed", "kafka publisher stopped"} <= set(by_message)
    with trio.fail_after(LOAD_TIMEOUT):
        async with httpx.AsyncClient(base_url=opensearch_url, timeout=60) as search:
            index = await ingest(search, raw)
            assert await count(search, index, {"match_all": {}}) == len(raw)
            assert await count(search, index, {"exists": {"field": "event.action"}}) == len(events)
            assert await count(search, index, {"term": {"event.id": events[0]["event.id"]}}) >= 1
            assert await count(search, index, {"term": {"qakit.request_id": "5"}}) >= 2
            assert await count(
                search, index, {"range": {"http.response.status_code": {"gte": 400}}}
            ) == sum(line.get("http.response.status_code", 0) >= 400 for line in access)
            assert (
                await count(search, index, {"wildcard": {"url.path": {"value": "/orders*"}}}) >= 3
            )
            # and the check bites: the old line format, a field of the wrong type
            for bad in (
                '{"ts":"2026-01-01T00:00:00+00:00","msg":"frame in","conn":"c"}',
                '{"@timestamp":"2026-01-01T00:00:00Z","qakit.frame.size":"big"}',
            ):
                refused = await search.post(
                    f"/{index}/_doc",
                    content=bad.encode(),
                    headers={"Content-Type": "application/json"},
                )
                assert refused.status_code == 400, refused.text
