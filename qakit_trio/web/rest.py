"""REST routes: health, stats, broadcast and the OpenAPI document (its page: pages.py).
Every error is JSON (app.py handles 404/405/500; rest_orders.py has the orders API)."""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import request
from quart_trio import QuartTrio

from qakit_trio import __version__, log_fields, logs
from qakit_trio.lab import bugs
from qakit_trio.services import Services
from qakit_trio.transport import hyper_ext
from qakit_trio.web import http_errors, openapi
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Member

log = logging.getLogger(__name__)

JsonResponse = dict[str, Any] | tuple[dict[str, Any], int]


def register_rest(app: QuartTrio, services: Services) -> None:
    settings, hub = services.settings, services.hub

    @app.get("/health")
    async def health() -> JsonResponse:
        """Always 200 while the service runs; `status` is "degraded" when the database is
        down (everything that does not need it keeps working). The qa_kit profile answers
        the original's two fields only."""
        if settings.profile == "qa_kit":
            return {"status": "ok", "service": "qa-websocket"}
        return {
            **services.health(),
            "service": "qa-websocket",
            "version": __version__,
            "connections": services.connections(),
            "fast_path": hyper_ext.installed(),
        }  # our hypercorn extension, or plain ASGI

    stale: list[tuple[float, JsonResponse]] = []  # the lab's stale_stats: (when, answer)

    @app.get("/stats")
    async def stats() -> JsonResponse:
        if services.bugs.stale_stats:  # the lab's defect: an old count, up to 5 s old
            now = trio.current_time()
            if not stale or now - stale[0][0] >= bugs.STALE_STATS_SECONDS:
                stale[:] = [(now, counts())]
            return stale[0][1]
        return counts()

    def counts() -> JsonResponse:
        if settings.profile == "qa_kit":  # the original's shape: /ws clients only
            return {"channels": hub.stats(), "total_connections": hub.total()}
        return {
            "channels": hub.stats(),
            "total_connections": services.connections(),
            "legacy_orders_connections": services.legacy_hub.total(),
        }

    @app.get("/openapi.json")
    async def openapi_json() -> JsonResponse:
        return openapi.document(settings.lab_pages)

    @app.post("/broadcast")
    async def broadcast() -> JsonResponse:
        message = request.args.get("message")
        if message is None:  # a query parameter, as in the original (FastAPI's 422 body)
            raise http_errors.invalid(http_errors.missing(["query", "message"], None))
        channel, problem = protocol.channel_from_query(
            request.args.get("channel"), settings.default_channel
        )
        if problem is not None:
            return protocol.invalid_channel(channel, problem), 400
        frame = protocol.rest_broadcast(channel, message)
        item = Frame.of(protocol.encode(frame))  # made once, shared
        congested: list[Member] = []
        delivered = hub.publish(channel, item, congested=congested)
        logs.info(
            log,
            "broadcast",
            channel=channel,
            delivered=delivered,
            source="rest",
            **log_fields.payload_fields(item.text, settings.log_payload_max),
        )
        services.events.message(frame, channel, None)  # to Kafka, if it is on
        await hub.wait_drained(congested)  # flow control, as for the broadcast action (hub.py)
        return {"ok": True, "channel": channel, "connections": delivered}
