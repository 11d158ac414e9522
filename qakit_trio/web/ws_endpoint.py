"""The WebSocket routes: `/ws?channel=NAME` (the envelope protocol), `/ws/orders` (the legacy
orders protocol) and `/ws/echo`. Each route checks the request, then hands the connection a
session to run once the route has returned (transport/quart_ws.py runs it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from quart import websocket
from quart_trio import QuartTrio

from qakit_trio.config import Settings
from qakit_trio.pipeline.events import LEGACY_CHANNEL
from qakit_trio.pipeline.request import Pipeline
from qakit_trio.services import Services
from qakit_trio.sessions.actions import Action
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.envelope import EnvelopeDoor, EnvelopeSession
from qakit_trio.sessions.legacy import LegacyDoor, LegacySession
from qakit_trio.sessions.qa_kit import QaKitDoor, QaKitSession
from qakit_trio.transport.base import close_within
from qakit_trio.transport.quart_ws import current_websocket
from qakit_trio.web.identities import ws_identity
from qakit_trio.web.origins import Door, websocket_door
from qakit_trio.wire import protocol
from qakit_trio.wire.channels import Since, since_from_query
from qakit_trio.wire.query import ascii_whole
from qakit_trio.ws.connection import Connection
from qakit_trio.ws.echo import serve_echo
from qakit_trio.ws.hub import Hub
from qakit_trio.ws.session import Session

# a connection's session, given the connection and who its client is (None: QAKIT_AUTH off)
SessionFactory = Callable[..., Session]
MAX_ECHO_DELAY_MS = 60_000  # /ws/echo?delay_ms= (the training lab): at most a minute


def query(name: str) -> str | None:
    """The query's first `name=` value: `websocket.args.get` without the BadRequestKeyError
    werkzeug raises and catches inside it for a name not given (~1.5 µs, three a handshake)."""
    args = websocket.args
    return args[name] if name in args else None  # noqa: SIM401 (the point of it)


def http2_refused() -> tuple[dict[str, str], int] | None:
    """WebSockets over HTTP/2 (RFC 8441, h2c) are refused before the upgrade: neither Postman
    nor browsers' DevTools use them, and their streams get none of what this service adds
    (pings, close codes, aborts: hyper_ext.py extends the HTTP/1.1 stream only)."""
    if websocket.http_version.startswith("2"):
        return {
            "error": "http2_websocket_not_supported",
            "detail": "WebSockets over HTTP/2 are not served here: connect over HTTP/1.1 "
            "(ws://...), as Postman and browsers do",
        }, 400
    return None


def refused(door: Door) -> tuple[dict[str, str], int] | None:
    """Why this upgrade is refused before it is accepted, if it is (a page's Origin that
    the door does not let in: web/origins.py)."""
    return http2_refused() or door.refused() or pongs_refused()


def pongs_refused() -> tuple[dict[str, str], int] | None:
    """`?pongs=off` (the training lab): the server stops answering this client's pings, so
    a client's dead-peer detection can be practised. Only our hypercorn extension can: on
    plain ASGI the server answers pings itself, and the upgrade is refused, saying so."""
    value = query("pongs")
    if value is None or value == "on":
        return None
    if value != "off":
        return {"error": "invalid_pongs", "detail": f"pongs must be on or off, got {value!r}"}, 400
    stop = getattr(current_websocket().transport, "stop_pongs", None)
    if stop is None:
        return {
            "error": "pongs_off_not_available",
            "detail": "pongs=off needs the server's own WebSocket layer (QAKIT_FAST_PATH=1);"
            " this server answers pings itself",
        }, 400
    stop()
    return None


def ws_doors(
    settings: Settings, deps: Deps, actions: dict[str, Action], pipeline: Pipeline
) -> tuple[SessionFactory, SessionFactory]:
    """The sessions of /ws (in the profile's protocol) and of /ws/orders, for a connection:
    each runs its messages through its door's pipeline (sessions/pipeline.py)."""
    legacy_door = LegacyDoor(deps, pipeline)
    legacy: SessionFactory = partial(LegacySession, door=legacy_door)
    if settings.profile == "qa_kit":
        return partial(QaKitSession, door=QaKitDoor(deps, pipeline)), legacy
    return partial(EnvelopeSession, door=EnvelopeDoor(deps, actions, pipeline)), legacy


def register_ws(
    app: QuartTrio,
    services: Services,
    doors: tuple[SessionFactory, SessionFactory],
) -> None:
    settings = services.settings
    ws_session, legacy_session = doors

    def join(
        hub: Hub,
        channel: str,
        session: SessionFactory,
        checked: str | None,
        since: Since | None = None,
    ) -> None:
        """The client, as a connection of `hub`'s `channel` with its session, accepted and run
        by QakitASGIWebsocket once the route has returned; with QAKIT_AUTH=on and no valid
        token (or a `checked` channel it may not join), accepted, then closed 4401 / 4403."""
        ws = current_websocket()
        who = ws_identity(services, checked)
        if isinstance(who, tuple):
            ws.session = partial(close_within, ws.transport, *who, settings.close_timeout)
            return
        services.watch_server(ws.transport.server_terminated or services.stopping)
        ws.session = Connection(
            ws.transport,
            hub,
            channel,
            settings,
            partial(session, identity=who)
            if since is None
            else partial(session, identity=who, since=since),
            user=None if who is None else who.user.name,
        ).run

    ws_door = websocket_door(services)  # the stand's own pages, CORS's and QAKIT_WS_'s

    @app.websocket("/ws")
    async def ws_route() -> tuple[dict[str, str], int] | None:
        if (answer := refused(ws_door)) is not None:
            return answer
        channel, problem = protocol.channel_from_query(query("channel"), settings.default_channel)
        if problem is not None:
            return protocol.invalid_channel(channel, problem), 400  # before accept
        since: Since | None = None
        if settings.profile != "qa_kit":  # ?since=N&epoch=E: recovered at connect
            since, wrong = since_from_query(query("since"), query("epoch"))
            if wrong is not None:
                return {"error": "invalid_since", "detail": wrong}, 400
            if since is not None and services.cluster is not None:
                await services.cluster.reach(since)  # a position another instance gave
        join(services.hub, channel, ws_session, channel, since)
        return None

    @app.websocket("/ws/orders")
    async def legacy_route() -> tuple[dict[str, str], int] | None:
        if (answer := refused(ws_door)) is not None:
            return answer
        join(services.legacy_hub, LEGACY_CHANNEL, legacy_session, None)
        return None

    @app.websocket("/ws/echo")
    async def echo_route() -> tuple[dict[str, str], int] | None:
        if (answer := refused(ws_door)) is not None:
            return answer
        given = query("delay_ms")
        raw_delay = "0" if given is None else given  # (an empty one is refused)
        delay_ms = ascii_whole(raw_delay, maximum=MAX_ECHO_DELAY_MS)  # ASCII digits only
        if delay_ms is None:
            return {
                "error": "invalid_delay",
                "detail": f"delay_ms must be a whole number of "
                f"milliseconds from 0 to {MAX_ECHO_DELAY_MS}, got {raw_delay!r}",
            }, 400
        ws = current_websocket()
        who = ws_identity(services, None)
        if isinstance(who, tuple):
            ws.session = partial(close_within, ws.transport, *who, settings.close_timeout)
            return None
        ws.session = partial(serve_echo, ws.transport, settings, services.stopping, delay_ms / 1000)
        return None
