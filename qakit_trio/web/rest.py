"""REST routes: health, stats, broadcast and the OpenAPI document (its page: pages.py).
Every error is JSON (app.py handles 404/405/500; rest_orders.py has the orders API). The API
routes run as requests of the pipeline (rest_door.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from quart import request as http_request
from quart_trio import QuartTrio

from qakit_trio import __version__, log_fields, logs
from qakit_trio.auth.users import may_broadcast
from qakit_trio.pipeline.request import Request
from qakit_trio.services import Services
from qakit_trio.transport import hyper_ext
from qakit_trio.web import http_errors, openapi
from qakit_trio.web.http_errors import HttpError
from qakit_trio.web.rest_door import Answer, RestDoor, ok
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Member

log = logging.getLogger(__name__)


if TYPE_CHECKING:
    from qakit_trio.cluster.cluster import Cluster


def register_rest(app: QuartTrio, services: Services, door: RestDoor) -> None:
    settings, hub = services.settings, services.hub

    @app.get("/health")
    async def health() -> Answer:
        """Always 200 while the service runs; `status` is "degraded" when the database is
        down (everything that does not need it keeps working). The qa_kit profile answers
        the original's two fields only."""

        async def act(request: Request) -> None:
            if settings.profile == "qa_kit":
                await request.reply(ok({"status": "ok", "service": "qa-websocket"}))
                return
            body = {
                **services.health(),
                "service": "qa-websocket",
                "version": __version__,
                "connections": services.connections(),
                "fast_path": hyper_ext.installed(),  # our hypercorn extension, or plain ASGI
            }
            await request.reply(ok(body))

        return await door.serve("health", act)

    @app.get("/stats")
    async def stats() -> Answer:
        async def act(request: Request) -> None:
            await request.reply(ok(counts()))

        return await door.serve("stats", act)

    def counts() -> dict[str, Any]:
        cluster = services.cluster
        if cluster is not None:  # the whole cluster's, and each instance's (cluster/)
            return cluster_counts(cluster)
        if settings.profile == "qa_kit":  # the original's shape: /ws clients only
            return {"channels": hub.stats(), "total_connections": hub.total()}
        return {
            "channels": hub.stats(),
            "total_connections": services.connections(),
            "legacy_orders_connections": services.legacy_hub.total(),
        }

    def cluster_counts(cluster: Cluster) -> dict[str, Any]:
        own: dict[str, Any] = {
            "connections": services.connections(),
            "channels": hub.stats(),
            "legacy_orders_connections": services.legacy_hub.total(),
        }
        others = cluster.instances()
        channels = dict(hub.stats())
        for channel, count in cluster.view.channel_counts().items():
            channels[channel] = channels.get(channel, 0) + count
        total = own["connections"] + sum(int(i["connections"]) for i in others.values())
        legacy = own["legacy_orders_connections"] + sum(
            int(i["legacy_orders_connections"]) for i in others.values()
        )
        if settings.profile == "qa_kit":  # the original's shape: /ws clients only
            return {"channels": dict(sorted(channels.items())), "total_connections": total - legacy}
        return {
            "channels": dict(sorted(channels.items())),
            "total_connections": total,
            "legacy_orders_connections": legacy,
            "instances": {cluster.instance_id: own, **others},
        }

    @app.get("/openapi.json")
    async def openapi_json() -> dict[str, Any]:
        return openapi.document(settings.lab_pages, settings.auth)

    @app.post("/broadcast")
    async def broadcast() -> Answer:
        async def act(request: Request) -> None:
            message = http_request.args.get("message")
            if message is None:  # a query parameter, as in the original (FastAPI's 422 body)
                raise http_errors.invalid(http_errors.missing(["query", "message"], None))
            channel, problem = protocol.channel_from_query(
                http_request.args.get("channel"), settings.default_channel
            )
            if problem is not None:
                raise HttpError(400, protocol.invalid_channel(channel, problem))
            user = request.user
            if user is not None and not may_broadcast(user, channel):
                detail = f"{user.name} may not broadcast to {channel}"
                raise HttpError(403, {"detail": detail})
            frame = protocol.rest_broadcast(channel, message, None if user is None else user.name)
            channels = services.channels  # its offset and epoch (none in the qa_kit profile)
            congested: list[Member] = []
            if services.cluster is not None:  # through the bus, to every instance (cluster/)
                delivered, congested = await services.cluster.publish(
                    channel, frame, numbered=channels is not None
                )
                text = protocol.encode(frame)
            else:
                item = (  # made once, shared
                    Frame.of(protocol.encode(frame))
                    if channels is None
                    else channels.publish(channel, frame)
                )
                delivered, text = hub.publish(channel, item, congested=congested), item.text
            logs.info(
                log,
                "broadcast",
                channel=channel,
                delivered=delivered,
                source="rest",
                **log_fields.payload_fields(text, settings.log_payload_max),
            )
            sender = None if user is None else user.name
            request.events.message(frame, channel, None, sender)  # to Kafka, if it is on
            await hub.wait_drained(congested)  # flow control, as for the broadcast action
            await request.reply(ok({"ok": True, "channel": channel, "connections": delivered}))

        return await door.serve("broadcast", act)
