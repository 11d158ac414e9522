"""The WebSocket endpoint `/ws?channel=NAME`, served by quart-trio.

quart-trio normally runs a message pump per connection (a task that moves every ASGI message
into a second memory channel and fires a signal for it). We replace its ASGI websocket class
with `QakitASGIWebsocket`, which skips that pump: the connection's reader task reads ASGI
messages itself through a `Transport`. Routing, query parsing and the pre-upgrade HTTP 400
are still quart's.
"""

from __future__ import annotations

from typing import cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart import websocket
from quart.asgi import ASGIWebsocketConnection
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIWebsocketConnection
from quart_trio.wrappers import TrioWebsocket

from . import protocol
from .actions import Action
from .config import Settings
from .connection import Connection
from .events import EventSink
from .hub import Hub
from .services import Services
from .transport import Transport


class QakitWebsocket(TrioWebsocket):
    transport: Transport


class QakitASGIWebsocket(TrioASGIWebsocketConnection):
    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        ws = cast(QakitWebsocket, self._create_websocket_from_scope(send))
        ws.transport = Transport(receive, send, dict(self.scope.get("extensions") or {}), ws.close)
        await ASGIWebsocketConnection.handle_websocket(self, ws, send)


def current_transport() -> Transport:
    return cast(QakitWebsocket, websocket._get_current_object()).transport  # type: ignore[attr-defined]


def channel_from_query(raw: str | None, default: str) -> tuple[str, str | None]:
    """The channel a request asks for (empty or absent: the default) and what is wrong with it."""
    channel = raw or default
    return channel, protocol.channel_problem(channel)


def invalid_channel(channel: str, problem: str) -> tuple[dict[str, str], int]:
    return {"error": "invalid_channel", "detail": f"{problem}; rule: 1-64 printable characters, "
            "no whitespace", "channel": channel}, 400


def register_ws(app: QuartTrio, settings: Settings, hub: Hub, services: Services,
                actions: dict[str, Action], events: EventSink) -> None:
    @app.websocket("/ws")
    async def ws_route() -> tuple[dict[str, str], int] | None:
        channel, problem = channel_from_query(websocket.args.get("channel"),
                                              settings.default_channel)
        if problem is not None:
            return invalid_channel(channel, problem)  # before accept: a real HTTP 400
        transport = current_transport()
        services.watch_server(transport.server_terminated)
        await websocket.accept()
        await Connection(transport, hub, channel, settings, actions, events).run()
        return None
