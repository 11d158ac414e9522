"""quart-trio's WebSocket connection, without its message pump.

quart-trio normally runs a message pump per connection (a task that moves every ASGI message
into a second memory channel and fires a signal for it). The app uses `QakitASGIWebsocket`
instead (app.py sets it as the app's `asgi_websocket_class`), which skips that pump: the
connection's reader task reads ASGI messages itself through a `Transport`. Routing, query
parsing and the pre-upgrade HTTP 400 are still quart's. This is the only module that reaches
into quart's and quart-trio's internals (pinned in pyproject.toml).

Two things every door gets here, on both transport paths: a handshake whose Sec-WebSocket-Key is
not 16 bytes in base64 is refused with 400 before routing (RFC 6455 4.2.1; hypercorn checks only
that the header is there), and a second close is a no-op instead of quart's RuntimeError
("Cannot close websocket multiple times", an ERROR with a traceback for every echo and
inspector client open at a shutdown: the 1001 went out, then the client's answer was answered).

quart's part of a handshake is kept small (a connect storm pays it per client): the routes a
WebSocket path led to are remembered (`RoutedWebsocketContext`, through quart's documented
`match_request` override), the blueprints of an endpoint in none are not looked up, and the
accept is sent without quart's header conversion. What of quart this relies on beyond its API:
`_create_websocket_from_scope`, `_accepted`/`_closed` and quart-trio's `receive_channel`.
"""

from __future__ import annotations

import binascii
import codecs
import json
from base64 import b64decode
from collections.abc import Awaitable, Callable
from functools import partial
from importlib.metadata import version
from typing import Any, NoReturn, cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, WebsocketScope
from quart import websocket
from quart.asgi import ASGIWebsocketConnection
from quart.ctx import WebsocketContext
from quart.routing import QuartRule
from quart.wrappers import Websocket
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIWebsocketConnection
from quart_trio.wrappers import TrioWebsocket

from qakit_trio.transport.asgi import open_transport
from qakit_trio.transport.base import Transport

QUART_VERSIONS = {"quart": "0.22.0", "quart-trio": "0.12.0"}  # pinned in pyproject.toml
# where a WebSocket path led: (subdomain, path, a WebSocket bind) -> the rule matched
RulesSeen = dict[tuple[str | None, str, bool], QuartRule]
ROUTES_REMEMBERED = 64  # keys at most; a route has one or two (a trailing slash not strict)

# werkzeug's routing encodes the Host with the idna codec on every request, and Python loads that
# codec (encodings.idna, a file) on first use: at the descriptor limit the first request's import
# failed ("Error in ASGI Framework", again on every request until a descriptor was free). Loaded
# with the app instead.
codecs.lookup("idna")


def check_versions() -> None:
    """This module reaches into quart's and quart-trio's internals (`QakitASGIWebsocket`): stop
    early, with a message, under any other version than the one it was written against."""
    for package, pinned in QUART_VERSIONS.items():
        installed = version(package)
        if installed != pinned:
            raise RuntimeError(
                f"qakit_trio.transport.quart_ws extends {package} {pinned} internals, but "
                f"{package} {installed} is installed (pip install {package}=={pinned})"
            )


class QakitWebsocket(TrioWebsocket):
    transport: Transport
    session: Callable[[], Awaitable[None]] | None = None  # set by a route accepting the client

    @property
    def blueprints(self) -> list[str]:
        """quart's, without its import statement and two properties when the endpoint is in
        no blueprint (ours: it is asked three times a handshake, ~2 µs each)."""
        endpoint = None if self.url_rule is None else self.url_rule.endpoint
        if not isinstance(endpoint, str) or "." not in endpoint:
            return []
        return super().blueprints


class RoutedWebsocketContext(WebsocketContext):
    """quart's WebSocket context, whose routing remembers the rules without arguments that
    WebSocket paths matched (app.py's `websocket_context`): werkzeug's matcher (a lock, its
    state machine, a re.compile per dynamic part tried: ~13 µs, a tenth of quart's part of a
    handshake) runs once per route, not per handshake. Only successful matches of rules with
    neither arguments nor defaults are kept, and not with host matching (then the Host is part
    of the key a client chooses): their outcome is the same for the same subdomain and path.
    `match_request` is quart's documented override for this. The rules are the app's
    `websocket_rules` (its routes are all added before it serves: create_app)."""

    def __init__(self, app: QuartTrio, websocket: Websocket, session: Any = None) -> None:
        super().__init__(app, websocket, session)
        seen = getattr(app, "websocket_rules", None)  # (none on another app: nothing kept)
        self.routes: RulesSeen = {} if seen is None else seen

    def match_request(self) -> None:
        adapter = self.url_adapter
        ws = self.request_websocket
        if adapter is None or adapter.map.host_matching:
            super().match_request()
            return
        key = (adapter.subdomain, adapter.path_info, adapter.websocket)
        rule = self.routes.get(key)
        if rule is not None:
            ws.url_rule, ws.view_args = rule, {}
            return
        super().match_request()
        rule = ws.url_rule
        if (
            isinstance(rule, QuartRule)
            and ws.routing_exception is None
            and not rule.arguments
            and not rule.defaults
            and len(self.routes) < ROUTES_REMEMBERED
        ):
            self.routes[key] = rule


class _NoPump:
    """Stands in for the memory channel of quart-trio's message pump, which we do not run."""

    async def receive(self) -> NoReturn:
        raise RuntimeError(
            "qakit-trio reads WebSocket messages through its Transport; "
            "quart's websocket.receive() is not fed"
        )


_NO_PUMP = _NoPump()


class QakitASGIWebsocket(TrioASGIWebsocketConnection):
    def __init__(self, app: QuartTrio, scope: WebsocketScope) -> None:
        # Not super().__init__: it opens the memory channel (~1.8 KiB) of the pump we skip.
        self.app = app
        self.scope = scope
        self._accepted = False
        self._closed = False
        self._closing = False  # our close was called (quart's `_closed` is set after the send)
        self.receive_channel = _NO_PUMP  # type: ignore[assignment]

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        problem = key_problem(self.scope)
        if problem is not None:
            await _refuse(send, self.scope, problem)
            return
        ws = cast(QakitWebsocket, self._create_websocket_from_scope(send))
        extensions = cast(dict[str, Any], self.scope.get("extensions") or {})
        # Closing goes through quart's close_connection so quart knows the socket is closed.
        ws.transport = open_transport(receive, send, extensions, partial(self._close_once, send))
        # quart: routing, the route's checks, or the HTTP response that refuses the upgrade
        await ASGIWebsocketConnection.handle_websocket(self, ws, send)
        session = ws.session
        del ws  # quart's request objects can go now
        if session is not None and not self._accepted:
            # The session runs here, after quart's dispatch has returned: its frames and
            # per-request objects are not kept alive for the connection's lifetime (about
            # 4 KiB per client; see docs/send-path.md).
            # quart's accept_connection, without its empty Headers and spec-version parsing
            self._accepted = True
            await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
            await session()

    async def _close_once(self, send: ASGISendCallable, code: int, reason: str) -> None:
        """quart's close, the first time only: after the shutdown's 1001 (or a 1009) the
        client's answering close has nothing left to say."""
        if self._closing:
            return
        self._closing = True
        await self.close_connection(send, code, reason)


def key_problem(scope: WebsocketScope) -> str | None:
    """Why the handshake's Sec-WebSocket-Key is not a key (16 bytes in base64), if it is not.
    A missing one is hypercorn's to refuse (it does, on both paths)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"sec-websocket-key":
            try:
                if len(b64decode(value.strip(), validate=True)) == 16:
                    return None
            except binascii.Error:
                pass
            shown = value[:40].decode("latin-1")
            return (
                f"the Sec-WebSocket-Key header must be 16 random bytes in base64 (24 "
                f'characters, as "dGhlIHNhbXBsZSBub25jZQ=="), got {shown!r}'
            )
    return None


async def _refuse(send: ASGISendCallable, scope: WebsocketScope, detail: str) -> None:
    """A 400 before the upgrade, saying why (as hyper_ext's answer to a bad handshake); a plain
    refusal where the server cannot send an HTTP answer to a WebSocket request."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1002, "reason": ""})
        return
    body = json.dumps({"error": "invalid_handshake", "detail": detail}).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"sec-websocket-version", b"13"),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


def current_websocket() -> QakitWebsocket:
    return cast(QakitWebsocket, websocket._get_current_object())  # type: ignore[attr-defined]
