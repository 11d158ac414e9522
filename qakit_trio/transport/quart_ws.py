"""quart-trio's WebSocket connection, without its message pump.

quart-trio normally runs a message pump per connection (a task that moves every ASGI message
into a second memory channel and fires a signal for it). The app uses `QakitASGIWebsocket`
instead (app.py sets it as the app's `asgi_websocket_class`), which skips that pump: the
connection's reader task reads ASGI messages itself through a `Transport`. Routing, query
parsing and the pre-upgrade HTTP 400 are still quart's. This is the only module that reaches
into quart's and quart-trio's internals (pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from importlib.metadata import version
from typing import Any, NoReturn, cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, WebsocketScope
from quart import websocket
from quart.asgi import ASGIWebsocketConnection
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIWebsocketConnection
from quart_trio.wrappers import TrioWebsocket
from werkzeug.datastructures import Headers

from qakit_trio.transport.asgi import open_transport
from qakit_trio.transport.base import Transport

QUART_VERSIONS = {"quart": "0.22.0", "quart-trio": "0.12.0"}  # pinned in pyproject.toml


def check_versions() -> None:
    """This module reaches into quart's and quart-trio's internals (`QakitASGIWebsocket`): stop
    early, with a message, under any other version than the one it was written against."""
    for package, pinned in QUART_VERSIONS.items():
        installed = version(package)
        if installed != pinned:
            raise RuntimeError(
                f"qakit_trio.transport.quart_ws extends {package} {pinned} internals, but "
                f"{package} {installed} is installed (pip install {package}=={pinned})")


class QakitWebsocket(TrioWebsocket):
    transport: Transport
    session: Callable[[], Awaitable[None]] | None = None  # set by a route accepting the client


class _NoPump:
    """Stands in for the memory channel of quart-trio's message pump, which we do not run."""

    async def receive(self) -> NoReturn:
        raise RuntimeError("qakit-trio reads WebSocket messages through its Transport; "
                           "quart's websocket.receive() is not fed")


_NO_PUMP = _NoPump()


class QakitASGIWebsocket(TrioASGIWebsocketConnection):
    def __init__(self, app: QuartTrio, scope: WebsocketScope) -> None:
        # Not super().__init__: it opens the memory channel (~1.8 KiB) of the pump we skip.
        self.app = app
        self.scope = scope
        self._accepted = False
        self._closed = False
        self.receive_channel = _NO_PUMP  # type: ignore[assignment]

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        ws = cast(QakitWebsocket, self._create_websocket_from_scope(send))
        extensions = cast(dict[str, Any], self.scope.get("extensions") or {})
        # Closing goes through quart's close_connection so quart knows the socket is closed.
        ws.transport = open_transport(receive, send, extensions,
                                      partial(self.close_connection, send))
        # quart: routing, the route's checks, or the HTTP response that refuses the upgrade
        await ASGIWebsocketConnection.handle_websocket(self, ws, send)
        session = ws.session
        del ws  # quart's request objects can go now
        if session is not None and not self._accepted:
            # The session runs here, after quart's dispatch has returned: its frames and
            # per-request objects are not kept alive for the connection's lifetime (about
            # 4 KiB per client; see docs/send-path.md).
            await self.accept_connection(send, Headers(), None)
            await session()


def current_websocket() -> QakitWebsocket:
    return cast(QakitWebsocket, websocket._get_current_object())  # type: ignore[attr-defined]
