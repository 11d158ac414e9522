"""The quart-trio application: routes, JSON errors and the service nursery's lifetime.

`create_app(settings)` builds everything explicitly from the settings it is given; it reads no
environment (that is `qakit_trio.asgi`'s and the CLI's job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from types import FunctionType
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakSet

from quart import Response
from quart.json.provider import DefaultJSONProvider
from quart_trio import QuartTrio
from werkzeug.exceptions import BadHost, HTTPException, MethodNotAllowed
from werkzeug.routing import MapAdapter

from qakit_trio.adapters.kafka import Publisher
from qakit_trio.classroom import replay
from qakit_trio.classroom.steps import MakeApp
from qakit_trio.config import Settings
from qakit_trio.pipeline.request import Stage
from qakit_trio.services import Services
from qakit_trio.sessions.actions import Action, base_actions
from qakit_trio.sessions.admit import admission
from qakit_trio.sessions.channel_actions import channel_actions
from qakit_trio.sessions.expiry import auth_actions
from qakit_trio.sessions.order_actions import order_actions
from qakit_trio.sessions.pipeline import pipeline
from qakit_trio.transport import quart_ws
from qakit_trio.transport.quart_ws import (
    QakitASGIWebsocket,
    QakitWebsocket,
    RoutedWebsocketContext,
    RulesSeen,
)
from qakit_trio.web import http_errors, rest_door
from qakit_trio.web.classroom import register_classroom
from qakit_trio.web.cors import register_cors
from qakit_trio.web.http_errors import HttpError
from qakit_trio.web.identities import register_identities
from qakit_trio.web.lab import register_lab
from qakit_trio.web.metrics import Scrapes, register_metrics
from qakit_trio.web.origins import register_origins
from qakit_trio.web.pages import register_pages
from qakit_trio.web.rest import register_rest
from qakit_trio.web.rest_door import RestDoor
from qakit_trio.web.rest_orders import register_orders
from qakit_trio.web.ws_endpoint import register_ws, ws_doors
from qakit_trio.wire import stamps

if TYPE_CHECKING:
    from quart.wrappers import BaseRequestWebsocket, Websocket

log = logging.getLogger(__name__)
UNPARSABLE_HOST = "unparsable.invalid"  # reserved name (RFC 2606): never a stand's own


class FastApiJson(DefaultJSONProvider):
    """JSON bodies as the original stand's FastAPI wrote them: compact, fields in their order,
    UTF-8 text (no \\u escapes), no trailing newline."""

    ensure_ascii = False
    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self.dumps(self._prepare_response_obj(args, kwargs), separators=(",", ":"))
        return cast(Response, self._app.response_class(body, mimetype=self.mimetype))


class QakitApp(QuartTrio):
    json_provider_class = FastApiJson
    asgi_websocket_class = QakitASGIWebsocket
    websocket_class = QakitWebsocket

    services: Services
    settings: Settings
    scrapes: Scrapes  # /metrics (web/metrics.py)

    def __init__(self, import_name: str) -> None:
        self.websocket_rules: RulesSeen = {}  # where WebSocket paths led (RoutedWebsocketContext)
        super().__init__(import_name)  # (its static route: add_url_rule)
        # views and hooks quart found to be coroutine functions (ensure_async); weak: a closure
        # given for one request (after_this_websocket) is not kept
        self._async_known: WeakSet[Callable[..., Any]] = WeakSet()

    def add_url_rule(self, *args: Any, **kwargs: Any) -> None:
        super().add_url_rule(*args, **kwargs)
        self.websocket_rules.clear()  # a route added later may answer a remembered path

    def websocket_context(self, websocket: Websocket) -> RoutedWebsocketContext:
        """quart's context, whose routing remembers the WebSocket routes (transport/quart_ws)."""
        return RoutedWebsocketContext(self, websocket)

    def ensure_async(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """quart asks `iscoroutinefunction` for every view and hook on every request and
        handshake (~1 µs each, 3-6 a request); a plain function's answer does not change, nor
        that of a method made from it (the session interface's, bound per call)."""
        plain = getattr(func, "__func__", func)
        if isinstance(plain, FunctionType) and plain in self._async_known:  # (hashable)
            return func
        checked = super().ensure_async(func)
        if checked is func and isinstance(plain, FunctionType):
            self._async_known.add(plain)
        return checked

    def create_url_adapter(self, request: BaseRequestWebsocket | None) -> MapAdapter | None:
        """Routing for a request whose Host werkzeug cannot even parse (a label over 63
        characters: BadHost, a 500 with a traceback in quart) is bound to a placeholder name,
        so the Host check (web/origins.py) answers it with a 400 like any Host not allowed."""
        try:
            return super().create_url_adapter(request)
        except BadHost:
            return self.url_map.bind(UNPARSABLE_HOST)


def create_app(
    settings: Settings,
    *,
    extra_actions: dict[str, Action] | None = None,
    extra_stages: Sequence[Stage] = (),
    kafka: Publisher | None = None,
) -> QakitApp:
    """The app. `extra_actions` lets tests add actions (e.g. one that fails on purpose), and
    `extra_stages` stages of the request pipeline (sessions/pipeline.py), for every door;
    `kafka`: a publisher instead of the settings' (the classroom's twins keep the records)."""
    quart_ws.check_versions()
    # ids and the times users see: random and the wall clock, or from QAKIT_DETERMINISTIC's
    # seed (wire/protocol.py), process-wide, as the clock it stands for
    stamps.set_deterministic(settings.deterministic)
    if settings.deterministic is not None:
        log.warning(
            "deterministic mode: ids and times come from the seed and a fixed clock; "
            "this is for tests",
            extra={"fields": {"seed": settings.deterministic}},
        )
    app = QakitApp(__name__)
    app.settings = settings
    app.services = Services(settings, kafka)
    register_origins(app, app.services)  # Host and Origin checks: first (web/origins.py)
    register_cors(app, settings.cors_allow_origins)
    actions = {
        **base_actions(),
        **order_actions(),
        **channel_actions(),  # subscribe, unsubscribe, history, presence
        **auth_actions(settings.auth),  # refresh (QAKIT_AUTH=on: sessions/expiry.py)
        **(extra_actions or {}),
    }
    metrics = app.services.metrics  # their labels: known actions only
    metrics["envelope"].actions = frozenset(actions)
    metrics["rest"].actions = rest_door.ACTIONS
    deps = app.services.deps
    admit = [*admission(deps.identities.limiter), *extra_stages]  # QAKIT_RATE_LIMIT, tests'
    stages = pipeline(app.services.lab, admit)
    rest = RestDoor(deps, stages)
    register_identities(app, app.services, rest)  # QAKIT_AUTH=on: who may call what
    register_rest(app, app.services, rest)
    register_orders(app, rest)
    register_ws(app, app.services, ws_doors(settings, deps, actions, stages))
    register_lab(app, app.services)
    register_classroom(app, app.services, partial(replay.judge, twin_factory(settings)))
    register_pages(app, app.services)
    app.scrapes = register_metrics(app, app.services)

    @app.before_serving
    async def start_services() -> None:
        await app.nursery.start(app.services.run)

    @app.after_serving
    async def stop_services() -> None:
        app.services.stop()

    @app.errorhandler(HttpError)
    async def http_answer(error: HttpError) -> tuple[dict[str, Any], int, dict[str, str]]:
        return error.body, error.status, error.headers

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Routing's answers as FastAPI gives them: {"detail": "Not Found"}, and for 405 the
        methods the path has in an Allow header."""
        code = error.code or 500
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            methods = sorted(set(error.valid_methods) - {"HEAD", "OPTIONS"})
            headers["Allow"] = ", ".join(methods)
        return {"detail": http_errors.phrase(code)}, code, headers

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> tuple[dict[str, Any], int]:
        log.exception("request failed", exc_info=error)
        detail = "the server failed to handle this request"
        return {"error": "internal_error", "detail": detail}, 500

    return app


# A replay twin's settings: the live stand's (its profile, channels, limits), without its outside
# world: no database, no Kafka, no identities, no rate limit, any Host (it is in memory).
TWIN_RESETS: dict[str, Any] = {
    "database_url": None,
    "kafka_bootstrap": None,
    "kafka_spool_dir": None,
    "auth": False,
    "teacher_token": None,
    "class_code": None,
    "jwt_secret": None,
    "rate_limit": None,
    "reset_orders_on_start": False,
    "allowed_hosts": None,
    "ws_allowed_origins": None,
}


def twin_factory(live: Settings) -> MakeApp:
    """What builds the classroom's replay twins of a stand with `live` settings
    (classroom/replay.py: `make_app(overrides, kafka)`; the overrides: its bugs and seed)."""
    return partial(_twin, live)


def _twin(live: Settings, overrides: dict[str, Any], kafka: Publisher) -> QakitApp:
    return create_app(replace(live, **{**TWIN_RESETS, **overrides}), kafka=kafka)
