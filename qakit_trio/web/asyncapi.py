"""The AsyncAPI 3.0 document of the WebSocket protocols (/asyncapi.json, /asyncapi.yaml) and its
page (/asyncapi). The messages are in asyncapi_envelope.py (/ws), asyncapi_qa_kit.py (/ws in
the qa_kit profile), asyncapi_legacy.py (/ws/orders) and asyncapi_messages.py (what they share,
and /ws/echo's).

Operations are the server's: `receive` what a client sends, `send` what the server sends
(AsyncAPI describes the application, here the stand). Each /ws action is a `receive`
operation whose `reply` lists the frames that answer it. The suite validates this document
against the official schema (@asyncapi/specs), every frame its end-to-end tests receive against
these messages, and sends every client example to a live server (tests/web/test_asyncapi.py).
Import into Postman: New → WebSocket, or APIs → Import the /asyncapi.json URL (see the guide).
"""

from __future__ import annotations

from typing import Any

from qakit_trio import __version__
from qakit_trio.web.asyncapi_channels import DATA_FRAMES
from qakit_trio.web.asyncapi_envelope import ENVELOPE_FRAMES, ENVELOPE_REQUESTS
from qakit_trio.web.asyncapi_legacy import LEGACY_FRAMES, LEGACY_REQUESTS
from qakit_trio.web.asyncapi_messages import ECHO_MESSAGE, Message
from qakit_trio.web.asyncapi_qa_kit import QA_KIT_FRAMES
from qakit_trio.wire.close_codes import LOCAL_ONLY, MATRIX

# The codes the server puts in a close frame: the matrix (wire/close_codes.py) without those
# that only report what happened locally (1006).
CLOSE_CODES = {c.code: c.when for c in MATRIX if c.code not in LOCAL_ONLY}
BEARER = "bearer"
TOKEN_QUERY = "tokenQuery"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "QAKIT_AUTH=on: `Authorization: Bearer <token>` on the handshake (Postman, "
        "any client that sets headers): a token from POST /auth/token, or the teacher's "
        "QAKIT_TEACHER_TOKEN. With QAKIT_AUTH=off (the default) no token is needed.",
    },
    TOKEN_QUERY: {
        "type": "httpApiKey",
        "name": "token",
        "in": "query",
        "description": "QAKIT_AUTH=on: `?token=<token>` in the URL (browsers cannot set headers "
        "on a WebSocket); the access log shows it as token=***.",
    },
}
SECURITY = [{"$ref": f"#/components/securitySchemes/{name}"} for name in SECURITY_SCHEMES]
CHANNEL_QUERY = {
    "type": "object",
    "properties": {
        "channel": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": "^[^\\s]+$",
            "default": "general",
            "description": "The channel to join (WS_DEFAULT_CHANNEL if missing or empty); "
            "1-64 printable characters, no whitespace, else HTTP 400 invalid_channel before the "
            "upgrade",
        },
        "since": {
            "type": "string",
            "pattern": "^[0-9]{1,18}$",
            "description": "With epoch: recover from this position at connect (the hello says "
            "recovered, the missed messages follow it); else HTTP 400 invalid_since",
        },
        "epoch": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}

# channel key -> (address, description, what the client sends, what the server sends)
CHANNELS: dict[str, tuple[str, str, list[Message], list[Message]]] = {
    "envelope": (
        "/ws",
        "The envelope protocol: one request, several replies (ack, data, "
        "event) with the same request_id. In the qa_kit profile (QAKIT_PROFILE) the "
        "frames are the original stand's (the QaKit* messages).",
        ENVELOPE_REQUESTS,
        ENVELOPE_FRAMES + QA_KIT_FRAMES,
    ),
    "legacyOrders": (
        "/ws/orders",
        "The legacy orders protocol of the original stand, byte "
        "for byte (Python json.dumps text). Every client gets every order event.",
        LEGACY_REQUESTS,
        LEGACY_FRAMES,
    ),
    "echo": (
        "/ws/echo",
        "Every message comes back unchanged (?delay_ms=N: N ms later).",
        [ECHO_MESSAGE],
        [ECHO_MESSAGE],
    ),
}


def _message(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": message.name,
        "title": message.title,
        "summary": message.summary,
        "contentType": "application/json",
        "payload": message.payload,
    }
    if message.examples:
        body["examples"] = [
            {"name": f"{message.name}-{n + 1}", "payload": example}
            for n, example in enumerate(message.examples)
        ]
    return body


def _ref(channel: str, message: Message) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel}/messages/{message.name}"}


def _reply_frames(request: Message) -> list[Message]:
    """The frames that answer a /ws request (both profiles)."""
    names = {"Ack", "Event", "Error", "QaKitAck", "QaKitEvent", "QaKitError"}
    action = request.payload["properties"]["action"]["const"]
    data = {
        "echo": {"Echo", "QaKitEcho"},
        "triplet_demo": {"Step", "QaKitStep"},
        "broadcast": {"ChannelMessage", "QaKitChannelMessage"},
        "list_orders": {"Orders", "QaKitOrders"},
        "refresh": {"Token"},
        **DATA_FRAMES,
    }.get(action, {"Order", "QaKitOrder"})
    return [m for m in ENVELOPE_FRAMES + QA_KIT_FRAMES if m.name in names | data]


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for key, (address, description, receives, sends) in CHANNELS.items():
        messages = {m.name: _message(m) for m in [*receives, *sends]}
        channel: dict[str, Any] = {
            "address": address,
            "description": description,
            "messages": messages,
        }
        if key == "envelope":
            channel["bindings"] = {"ws": {"query": CHANNEL_QUERY, "bindingVersion": "0.1.0"}}
        channels[key] = channel
        for message in receives:
            operation: dict[str, Any] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": message.summary,
                "messages": [_ref(key, message)],
            }
            if key == "envelope":
                operation["reply"] = {
                    "channel": {"$ref": f"#/channels/{key}"},
                    "messages": [_ref(key, m) for m in _reply_frames(message)],
                }
            operations[f"receive{message.name}"] = operation
        if key != "echo":
            operations[f"send{key[0].upper()}{key[1:]}Frames"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": "Frames the server sends on this channel",
                "messages": [_ref(key, m) for m in sends],
            }
    operations["sendEchoAny"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/echo"},
        "messages": [_ref("echo", ECHO_MESSAGE)],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "QA Kit WebSocket protocols (qakit-trio)",
            "version": __version__,
            "description": "The WebSocket side of the QA Kit training stand. Requests "
            "without a request_id get one assigned by the server: srv-<connection_id>-"
            "<n>.\n\nWith QAKIT_AUTH=on every channel needs a token (the servers' security: "
            "a bearer header or ?token=); a handshake without a valid one is accepted, then "
            "closed with 4401.\n\n" + close_code_table(),
        },
        "x-close-codes": close_code_matrix(),
        "defaultContentType": "application/json",
        "servers": {
            "current": {
                "host": "127.0.0.1:8002",
                "protocol": "ws",
                "description": "Every route is served on both ports",
                "security": SECURITY,
            },
            "legacy": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "The port of the original stand's legacy guides",
                "security": SECURITY,
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"securitySchemes": SECURITY_SCHEMES},
    }


def close_code_matrix() -> list[dict[str, Any]]:
    """wire/close_codes.py's MATRIX as the document's `x-close-codes`."""
    return [
        {"code": c.code, "reason": c.reason, "when": c.when, "reconnect": c.reconnect}
        for c in MATRIX
    ]


def close_code_table() -> str:
    """The matrix as a Markdown table, for the document's description."""
    rows = [f"| {c.code} | {c.reason or '(none)'} | {c.when} | {c.reconnect} |" for c in MATRIX]
    header = (
        "Close codes (x-close-codes):\n\n| code | reason | when | reconnect? |\n|---|---|---|---|"
    )
    return "\n".join([header, *rows])


def messages_of(doc: dict[str, Any], address: str) -> dict[str, Any]:
    """The messages of the channel at `address` (for the suite's frame checks)."""
    for channel in doc["channels"].values():
        if channel["address"] == address:
            return dict(channel["messages"])
    raise KeyError(address)
