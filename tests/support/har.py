"""HAR files checked as HAR 1.2 and as Chrome DevTools writes a WebSocket's entry.

HAR 1.2: the JSON Schema of the npm package har-schema 2.0.0 (the one har-validator uses),
vendored in har_schema/ (source, commit and ISC license: har_schema/README.md). The WebSocket
part is no part of HAR 1.2 but Chrome's own ("Save all as HAR with content", devtools-frontend
HARFormat: `_resourceType: "websocket"`, `_webSocketMessages` of {type, time, opcode, data});
WEBSOCKET_ENTRY checks it as HTTP Toolkit, mitmproxy and qakit_trio/wire/sessions.py read it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

SCHEMA_DIR = Path(__file__).resolve().parent / "har_schema"

WEBSOCKET_ENTRY: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["_resourceType", "_webSocketMessages", "request", "response", "time"],
    "properties": {
        "_resourceType": {"const": "websocket"},
        "time": {"type": "number", "minimum": 0},
        "connection": {"type": "string", "minLength": 1},
        "request": {
            "type": "object",
            "required": ["method", "url"],
            "properties": {
                "method": {"const": "GET"},
                "url": {"type": "string", "pattern": "^wss?://[^/?#]+"},
            },
        },
        "response": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": 101}},
        },
        "_webSocketMessages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "time", "opcode", "data"],
                "properties": {
                    "type": {"enum": ["send", "receive"]},
                    "time": {"type": "number", "exclusiveMinimum": 0},  # epoch seconds
                    "opcode": {"enum": [1, 2]},
                    "data": {"type": "string"},
                },
            },
        },
    },
}


@cache
def _har_validator() -> jsonschema.Draft6Validator:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text("utf-8"))
        resources.append(
            (path.name, Resource.from_contents(contents, default_specification=DRAFT6))
        )
    registry: Registry[Any] = Registry().with_resources(resources)
    root = json.loads((SCHEMA_DIR / "har.json").read_text("utf-8"))
    return jsonschema.Draft6Validator({**root, "$id": "har.json"}, registry=registry)


def har_errors(document: Any) -> list[str]:
    """What is wrong with `document` as a HAR 1.2 file of WebSocket connections: every
    error of the HAR schema, then of each WebSocket entry; [] when it is right."""
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _har_validator().iter_errors(document)
    ]
    entries = document.get("log", {}).get("entries", []) if isinstance(document, dict) else []
    entry_validator = jsonschema.Draft7Validator(WEBSOCKET_ENTRY)
    for index, entry in enumerate(entries):
        errors += [
            f"log/entries/{index}/{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in entry_validator.iter_errors(entry)
        ]
    return errors
