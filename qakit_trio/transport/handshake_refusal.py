"""The answer to a bad WebSocket handshake (hyper_ext.QakitWSStream._send_error_response):
hypercorn answers with an empty 400; ours says why, as JSON, and names the version we speak
(RFC 6455 4.4: Sec-WebSocket-Version on a refusal)."""

from __future__ import annotations

import json
from typing import Any

from hypercorn.protocol.events import Body, EndBody, Response


def refusal(stream_id: int, handshake: Any) -> list[Response | Body | EndBody]:
    """The events of the 400 that refuses `handshake` (hypercorn's Handshake), in order."""
    body = json.dumps({"error": "invalid_handshake", "detail": handshake_problem(handshake)})
    data = body.encode()
    return [
        Response(
            stream_id=stream_id,
            status_code=400,
            headers=[
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
                (b"sec-websocket-version", b"13"),
            ],
        ),
        Body(stream_id=stream_id, data=data),
        EndBody(stream_id=stream_id),
    ]


def handshake_problem(handshake: Any) -> str:
    """Why hypercorn's Handshake.is_valid() said no, in a sentence."""
    if handshake.http_version < "1.1":
        return "a WebSocket handshake needs HTTP/1.1"
    if handshake.key is None:
        return "the Sec-WebSocket-Key header is missing"
    if not any(token.lower() == "upgrade" for token in handshake.connection_tokens or []):
        return "the Connection header must include Upgrade"
    if (handshake.upgrade or b"").lower() != b"websocket":
        return "the Upgrade header must be websocket"
    version = (handshake.version or b"").decode("latin-1") or "(none)"
    return f"Sec-WebSocket-Version {version} is not supported: this server speaks 13"
