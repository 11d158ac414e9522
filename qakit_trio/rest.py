"""REST routes: health, stats, broadcast. Every error is JSON (see app.py for 404/405/500)."""

from __future__ import annotations

import logging
from typing import Any

from quart import request
from quart_trio import QuartTrio

from . import __version__, logs, protocol
from .config import Settings
from .hub import Hub
from .outbox import Frame
from .ws_endpoint import channel_from_query, invalid_channel

log = logging.getLogger(__name__)

JsonResponse = dict[str, Any] | tuple[dict[str, Any], int]


def register_rest(app: QuartTrio, settings: Settings, hub: Hub) -> None:
    @app.get("/health")
    async def health() -> JsonResponse:
        return {"status": "ok", "service": "qa-websocket", "version": __version__,
                "connections": hub.total()}

    @app.get("/stats")
    async def stats() -> JsonResponse:
        return {"channels": hub.stats(), "total_connections": hub.total()}

    @app.post("/broadcast")
    async def broadcast() -> JsonResponse:
        message = request.args.get("message")
        if message is None:
            return {"error": "validation_error", "field": "message",
                    "detail": "query parameter 'message' is required"}, 422
        channel, problem = channel_from_query(request.args.get("channel"),
                                              settings.default_channel)
        if problem is not None:
            return invalid_channel(channel, problem)
        frame = protocol.rest_broadcast(channel, message)
        delivered = hub.publish(channel, Frame.of(protocol.encode(frame)))  # made once, shared
        logs.info(log, "broadcast", channel=channel, delivered=delivered, source="rest")
        return {"ok": True, "channel": channel, "connections": delivered}
