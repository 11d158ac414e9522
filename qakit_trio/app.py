"""The quart-trio application: routes, JSON errors and the service nursery's lifetime.

`create_app(settings)` builds everything explicitly from the settings it is given; it reads no
environment (that is `qakit_trio.asgi`'s and the CLI's job).
"""

from __future__ import annotations

import logging
from typing import Any

from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from qakit_trio.config import Settings
from qakit_trio.services import Services
from qakit_trio.sessions.actions import Action, base_actions
from qakit_trio.sessions.order_actions import order_actions
from qakit_trio.transport import quart_ws
from qakit_trio.transport.quart_ws import QakitASGIWebsocket, QakitWebsocket
from qakit_trio.web.rest import register_rest
from qakit_trio.web.rest_orders import register_orders
from qakit_trio.web.ws_endpoint import register_ws

log = logging.getLogger(__name__)


class QakitApp(QuartTrio):
    asgi_websocket_class = QakitASGIWebsocket
    websocket_class = QakitWebsocket

    services: Services
    settings: Settings


def create_app(settings: Settings, *, extra_actions: dict[str, Action] | None = None) -> QakitApp:
    """The app. `extra_actions` lets tests add actions (e.g. one that fails on purpose)."""
    quart_ws.check_versions()
    app = QakitApp(__name__)
    app.settings = settings
    app.services = Services(settings)
    actions = {**base_actions(), **order_actions(), **(extra_actions or {})}
    register_rest(app, app.services)
    register_orders(app, app.services)
    register_ws(app, app.services, actions)

    @app.before_serving
    async def start_services() -> None:
        await app.nursery.start(app.services.run)

    @app.after_serving
    async def stop_services() -> None:
        app.services.stop()

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[dict[str, Any], int]:
        code = error.code or 500
        name = (error.name or "error").lower().replace(" ", "_")
        return {"error": name, "detail": error.description or name}, code

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> tuple[dict[str, Any], int]:
        log.exception("request failed", exc_info=error)
        detail = "the server failed to handle this request"
        return {"error": "internal_error", "detail": detail}, 500

    return app
