"""The AsyncAPI document is the contract: every frame an end-to-end test receives on /ws or
/ws/orders must match one of the messages the server sends on that channel (conftest.py
checks each one as trio-websocket hands it over). Tests of the lab's bugs, which break the
contract on purpose, are marked `breaks_contract` and not checked."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import jsonschema

from qakit_trio.web import asyncapi

DOCUMENT = asyncapi.document()
CHECKED = ("/ws", "/ws/orders")  # /ws/echo sends back anything; the inspector is a page's
SEEN: Counter[str] = Counter()  # message name -> frames that matched it (the session summary)


def _server_messages(address: str) -> list[tuple[str, jsonschema.Draft7Validator]]:
    channel = next(key for key, c in DOCUMENT["channels"].items() if c["address"] == address)
    names = [
        ref["$ref"].rsplit("/", 1)[1]
        for operation in DOCUMENT["operations"].values()
        if operation["action"] == "send" and operation["channel"]["$ref"] == f"#/channels/{channel}"
        for ref in operation["messages"]
    ]
    messages = DOCUMENT["channels"][channel]["messages"]
    return [(name, jsonschema.Draft7Validator(messages[name]["payload"])) for name in names]


VALIDATORS = {address: _server_messages(address) for address in CHECKED}


def check(path: str, message: str | bytes) -> None:
    """Raise AssertionError if `message`, received on `path`, matches no message of the
    document."""
    address = path.split("?", 1)[0]
    if address not in VALIDATORS:
        return
    assert isinstance(message, str), f"a binary frame on {address}: the document has none"
    value: Any = json.loads(message)
    for name, validator in VALIDATORS[address]:
        if validator.is_valid(value):
            SEEN[name] += 1
            return
    raise AssertionError(
        f"a frame on {address} matches no message of the AsyncAPI document: {message[:500]}"
    )
