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
from qakit_trio.web.asyncapi_envelope import ENVELOPE_FRAMES, ENVELOPE_REQUESTS
from qakit_trio.web.asyncapi_legacy import LEGACY_FRAMES, LEGACY_REQUESTS
from qakit_trio.web.asyncapi_messages import ECHO_MESSAGE, Message
from qakit_trio.web.asyncapi_qa_kit import QA_KIT_FRAMES

CLOSE_CODES = {
    1000: "answer to the client's close (its own code is echoed)",
    1001: "server shutting down",
    1002: "the client broke the WebSocket protocol",
    1007: "a text message that is not UTF-8",
    1009: "a message larger than QAKIT_MAX_MESSAGE_SIZE",
    1011: "internal error, or keepalive timeout: no pong",
    1013: "too many inspectors (/ws/_inspect only, past QAKIT_MAX_INSPECTORS)",
    4008: "slow consumer: outbox full, or no progress",
}
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
        }
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
    close_codes = "\n".join(f"- {code}: {why}" for code, why in CLOSE_CODES.items())
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "QA Kit WebSocket protocols (qakit-trio)",
            "version": __version__,
            "description": "The WebSocket side of the QA Kit training stand. Requests "
            "without a request_id get one assigned by the server: srv-<connection_id>-"
            f"<n>.\n\nClose codes the server uses:\n{close_codes}",
        },
        "defaultContentType": "application/json",
        "servers": {
            "current": {
                "host": "127.0.0.1:8002",
                "protocol": "ws",
                "description": "Every route is served on both ports",
            },
            "legacy": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "description": "The port of the original stand's legacy guides",
            },
        },
        "channels": channels,
        "operations": operations,
    }


def messages_of(doc: dict[str, Any], address: str) -> dict[str, Any]:
    """The messages of the channel at `address` (for the suite's frame checks)."""
    for channel in doc["channels"].values():
        if channel["address"] == address:
            return dict(channel["messages"])
    raise KeyError(address)
