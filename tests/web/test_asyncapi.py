"""The AsyncAPI document: valid AsyncAPI 3.0 (the spec's own JSON Schema, from npm's
@asyncapi/specs), served as JSON and YAML, every client example accepted by a live server, and
the protocol tables of docs/protocol.md in step with it. (Every frame the suite receives is checked
against it by conftest.py: support/contract.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import trio
import yaml
from trio_websocket import open_websocket_url

from qakit_trio.errors import ErrorCode
from qakit_trio.web import asyncapi
from qakit_trio.web.asyncapi_envelope import ENVELOPE_REQUESTS, NEEDS_AUTH
from qakit_trio.web.asyncapi_legacy import LEGACY_REQUESTS
from qakit_trio.web.asyncapi_messages import ECHO_MESSAGE

from ..support import npm
from ..support.helpers import connected, receive_json, running_server, send_json
from ..support.timeouts import TIMEOUT

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.mark.system  # npm installs @asyncapi/specs the first time
def test_the_document_is_valid_asyncapi_3() -> None:
    schema = json.loads(npm.asyncapi_schema("3.0.0").read_text())
    validator = jsonschema.Draft7Validator(schema)
    document = json.loads(json.dumps(asyncapi.document()))  # as served: JSON types only
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)
    ]
    assert errors == []
    broken = {**document, "operations": {"x": {"action": "publish"}}}  # AsyncAPI 2's verb
    assert not validator.is_valid(broken)  # the check can fail


def test_every_message_has_a_schema_and_every_request_an_example() -> None:
    document = asyncapi.document()
    messages = [m for c in document["channels"].values() for m in c["messages"].values()]
    assert len(messages) >= 30
    for message in messages:
        assert "payload" in message, message["name"]
        assert message["summary"], message["name"]
    for operation in document["operations"].values():
        if operation["action"] == "receive":
            channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
            name = operation["messages"][0]["$ref"].rsplit("/", 1)[1]
            assert document["channels"][channel]["messages"][name]["examples"], name


async def test_served_as_json_yaml_and_a_page() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            as_json = (await http.get("/asyncapi.json")).json()
            assert as_json == json.loads(json.dumps(asyncapi.document()))
            as_yaml = await http.get("/asyncapi.yaml")
            assert as_yaml.headers["content-type"].startswith("application/yaml")
            assert yaml.safe_load(as_yaml.text) == as_json
            page = await http.get("/asyncapi")
            assert page.status_code == 200
            assert "/assets/asyncapi.js" in page.text


async def test_every_client_example_is_accepted_by_the_server() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server, "examples") as (ws, _):
            for message in ENVELOPE_REQUESTS:  # create_order comes before get and change
                if message.payload["properties"]["action"]["const"] in NEEDS_AUTH:
                    continue  # refresh needs QAKIT_AUTH=on and a real token: test_identities.py
                for example in message.examples:
                    await send_json(ws, example)
                    frames = [await receive_json(ws)]
                    while frames[-1]["type"] != "event":
                        frames.append(await receive_json(ws))
                    assert [f["type"] for f in frames if f["type"] == "error"] == [], frames
                    assert {f["request_id"] for f in frames} == {example["request_id"]}
        async with (
            running_server() as server,  # a new store: the examples' order is id 1
            open_websocket_url(f"{server.ws}/ws/orders") as legacy,
        ):
            for message in LEGACY_REQUESTS:
                for example in message.examples:
                    await send_json(legacy, example)
                    reply = await receive_json(legacy)
                    assert reply["type"] in ("pong", "result"), (example, reply)
                    if example["action"] in ("create_order", "change_status"):
                        assert (await receive_json(legacy))["type"].startswith("order_")
            async with open_websocket_url(f"{server.ws}/ws/echo") as echo:
                example = ECHO_MESSAGE.examples[0]
                await send_json(echo, example)
                assert json.loads(await echo.get_message()) == example


def protocol_section(title: str) -> str:
    text = PROTOCOL.read_text()
    start = text.index(title)
    return text[start : text.index("\n## ", start + 1)]


def test_the_protocol_tables_match_the_document() -> None:
    protocol = protocol_section("## Protocol: `ws://HOST:PORT/ws?channel=NAME`")
    actions = set(re.findall(r"^\| `([a-z_]+)`", protocol, re.MULTILINE)) - {
        str(c) for c in ErrorCode
    }
    documented: set[Any] = {m.payload["properties"]["action"]["const"] for m in ENVELOPE_REQUESTS}
    assert actions == documented
    codes = set(re.findall(r"^\| `([a-z_]+)` \| ", protocol, re.MULTILINE)) & {
        str(c) for c in ErrorCode
    }
    error = asyncapi.messages_of(asyncapi.document(), "/ws")["Error"]
    assert codes == set(error["payload"]["properties"]["error"]["enum"])
    legacy = protocol_section("## The legacy protocol on `/ws/orders`")
    legacy_actions = set(re.findall(r'^\| `\{"action": "([a-z_]+)"', legacy, re.MULTILINE))
    assert legacy_actions == {m.payload["properties"]["action"]["const"] for m in LEGACY_REQUESTS}
    close_table = protocol[protocol.index("**Close codes**") : protocol.index("**Pings.**")]
    closes = {int(code) for code in re.findall(r"\b(1\d{3}|4\d{3})\b", close_table)}
    assert closes == set(asyncapi.CLOSE_CODES)
