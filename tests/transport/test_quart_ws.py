"""quart's part of a handshake, made cheaper (transport/quart_ws.py, app.py): the WebSocket
routes a path led to are remembered, and only where the outcome cannot differ; the
coroutine-function answers quart asks for on every request; the blueprints of an endpoint."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, cast

import pytest
import trio
from quart import Blueprint
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect, WebsocketMismatch

from qakit_trio.app import QakitApp, create_app
from qakit_trio.transport.quart_ws import QakitASGIWebsocket, QakitWebsocket

from ..support.helpers import TEST_SETTINGS
from ..support.timeouts import TIMEOUT


async def _no_send(message: Any) -> None:
    raise AssertionError(f"nothing is sent here, got {message!r}")


def handshake(app: QakitApp, target: str) -> QakitWebsocket:
    """The websocket object quart makes for a handshake to `target` (path?query)."""
    path, _, query = target.partition("?")
    scope: Any = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"upgrade", b"websocket")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {},
    }
    ws = QakitASGIWebsocket(app, scope)._create_websocket_from_scope(_no_send)
    assert isinstance(ws, QakitWebsocket)
    return ws


def routed(app: QakitApp, target: str) -> QakitWebsocket:
    ws = handshake(app, target)
    app.websocket_context(ws).match_request()
    return ws


def _matcher_not_asked(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("werkzeug's matcher was asked again")


@pytest.fixture
def app() -> QakitApp:
    app = create_app(TEST_SETTINGS)

    @app.websocket("/t/<name>")
    async def with_argument(name: str) -> None:
        return None

    bp = Blueprint("lab_bp", __name__)

    @bp.websocket("/bp/ws")
    async def in_blueprint() -> None:
        return None

    app.register_blueprint(bp)
    return app


def test_a_websocket_path_is_matched_once_then_remembered(app: QakitApp) -> None:
    first = routed(app, "/ws?channel=a")
    assert first.url_rule is not None
    assert first.url_rule.endpoint == "ws_route"
    assert first.routing_exception is None
    assert list(app.websocket_rules) == [("", "/ws", True)]

    ws = handshake(app, "/ws?channel=b")  # another query: the same route
    context = app.websocket_context(ws)
    assert context.url_adapter is not None
    context.url_adapter.match = _matcher_not_asked  # type: ignore[method-assign]
    context.match_request()
    assert ws.url_rule is first.url_rule
    assert ws.view_args == {}
    assert ws.view_args is not first.view_args  # each handshake its own (quart passes it on)


@pytest.mark.parametrize(
    ("target", "refused"),
    [
        ("/nowhere", NotFound),
        ("/health", WebsocketMismatch),  # an HTTP route
        ("/ws//orders", RequestRedirect),  # merged slashes: a redirect, not a match
    ],
)
def test_a_path_routing_refuses_is_refused_every_time_and_not_remembered(
    app: QakitApp, target: str, refused: type[Exception]
) -> None:
    for _ in range(2):
        ws = routed(app, target)
        assert isinstance(ws.routing_exception, refused)
        assert ws.url_rule is None
    assert app.websocket_rules == {}


def test_a_route_with_arguments_is_matched_every_time(app: QakitApp) -> None:
    assert routed(app, "/t/one").view_args == {"name": "one"}
    assert routed(app, "/t/two").view_args == {"name": "two"}
    assert app.websocket_rules == {}


def test_blueprints_as_quarts(app: QakitApp) -> None:
    assert routed(app, "/ws").blueprints == []
    assert routed(app, "/bp/ws").blueprints == ["lab_bp"]
    assert routed(app, "/nowhere").blueprints == []


async def test_the_whole_handshake_reaches_the_remembered_route(app: QakitApp) -> None:
    """Through quart's dispatch twice: the second time from what the first left."""
    seen: list[str] = []

    @app.websocket("/seen")
    async def seen_route() -> tuple[dict[str, str], int]:
        seen.append("here")
        return {"error": "just_looking"}, 400

    with trio.fail_after(TIMEOUT):
        for _ in range(2):
            response = await app.handle_websocket(handshake(app, "/seen"))
            assert response is not None
            assert response.status_code == 400
    assert seen == ["here", "here"]
    assert ("", "/seen", True) in app.websocket_rules


async def test_ensure_async_remembers_coroutine_functions_only(app: QakitApp) -> None:
    async def view() -> str:
        return "async"

    def blocking() -> str:
        return "sync"

    class Hooks:
        async def method(self) -> str:
            return "method"

    assert app.ensure_async(view) is view
    assert app.ensure_async(view) is view  # from what it remembered
    wrapped: Callable[[], Awaitable[str]] = app.ensure_async(blocking)
    assert wrapped is not cast(object, blocking)
    assert await wrapped() == "sync"  # still run in a thread, as quart does
    assert app.ensure_async(blocking) is not blocking
    bound = Hooks().method
    assert app.ensure_async(bound) is bound
    assert app.ensure_async(Hooks().method) is not bound  # each its own bound method
    assert await app.ensure_async(Hooks().method)() == "method"


def test_a_route_added_later_forgets_what_was_remembered(app: QakitApp) -> None:
    routed(app, "/ws?channel=a")
    assert app.websocket_rules

    @app.websocket("/late")
    async def late() -> None:
        return None

    assert app.websocket_rules == {}  # a remembered path might be another route's now
    assert routed(app, "/late").url_rule is not None


async def test_ensure_async_takes_an_unhashable_callable_as_quart_does(app: QakitApp) -> None:
    @dataclasses.dataclass  # eq without frozen: unhashable
    class Hook:
        name: str = "hook"

        def __call__(self) -> str:
            return "called"

    wrapped: Callable[[], Awaitable[str]] = app.ensure_async(Hook())
    assert await wrapped() == "called"
