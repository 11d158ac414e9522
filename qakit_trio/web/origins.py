"""The Host and Origin checks on every door (the rules, pure: wire/origins.py).

    every route and WebSocket door  a Host not in QAKIT_ALLOWED_HOSTS: 400, before routing (DNS
                                    rebinding); redirects carry a relative Location
    POST/PUT/PATCH/DELETE           an Origin neither the stand's own nor in CORS_ALLOW_ORIGINS:
                                    403, nothing changed
    /ws, /ws/orders, /ws/echo       an Origin neither the stand's own nor in CORS_ALLOW_ORIGINS or
                                    QAKIT_WS_ALLOWED_ORIGINS: 403 before the upgrade
    /ws/_inspect                    the stand's own origin only (it shows every client's frames)

The HTTP checks are hooks (`register_origins`, before CORS's); each WebSocket route asks its
`Door`. The stand's own pages are those of the scheme (X-Forwarded-Proto behind a TLS proxy),
host and port the request was sent to, or of another port the stand listens on (every route
is served on each). Requests without Origin (Postman, curl, Python) pass: a browser always
sends one on a cross-site form POST, a `fetch` that changes state, and a WebSocket.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from quart import request, websocket
from quart_trio import QuartTrio
from werkzeug.datastructures import Headers
from werkzeug.routing import RequestRedirect

from qakit_trio.services import Services
from qakit_trio.wire.origins import HostRule, OriginRule, own_origin, show, split_host

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SHOWN_MAX = 200  # characters of a refused Host or Origin repeated in a detail
Refusal = tuple[dict[str, str], int]


def page_scheme(scheme: str, headers: Headers) -> str:
    """The scheme the browser used: a TLS proxy's X-Forwarded-Proto (a page cannot set it on
    a WebSocket or a form, and a `fetch` with it is preflighted), else the request's own."""
    forwarded = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded if forwarded in ("http", "https") else scheme


class Listening:
    """Where the stand listens: QAKIT_BIND's addresses and, once serving, the real ones our
    launcher reports (`services.urls`); the Host rule and the stand's ports follow them."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._hostname = socket.gethostname()
        self._urls: tuple[str, ...] | None = None
        self.hosts = HostRule(frozenset())
        self.ports: frozenset[int] = frozenset()

    def update(self) -> Listening:
        urls = tuple(self._services.urls)
        if urls != self._urls:
            settings = self._services.settings
            netlocs = [urlsplit(url).netloc for url in urls]
            self.hosts = HostRule.of(
                settings.allowed_hosts, [*settings.binds, *netlocs], self._hostname
            )
            self.ports = frozenset(
                parts[1]
                for parts in map(split_host, netlocs)
                if parts is not None and parts[1] is not None
            )
            self._urls = urls
        return self

    def host_refused(self, host: str | None, server: object) -> Refusal | None:
        """400 for a Host the stand does not answer to (`server`: the scope's, where the
        connection came in)."""
        arrived_on = server[0] if isinstance(server, tuple) and server else None
        if self.update().hosts.permits(host, arrived_on if isinstance(arrived_on, str) else None):
            return None
        return {
            "error": "host_not_allowed",
            "detail": f"Host {str(host)[:SHOWN_MAX]!r} is not served here (a guard against "
            "DNS rebinding): use localhost or 127.0.0.1, or add the name to "
            "QAKIT_ALLOWED_HOSTS (* turns the check off)",
        }, 400


class Door:
    """One WebSocket door's Origin check."""

    def __init__(self, services: Services, rule: OriginRule) -> None:
        self._listening = Listening(services)
        self._rule = rule

    def refused(self) -> Refusal | None:
        """403 for an upgrade from a page whose origin the rule does not let in."""
        origin = websocket.headers.get("Origin")
        if origin is None:
            return None
        host = websocket.headers.get("Host")
        scheme = page_scheme(websocket.scheme, websocket.headers)
        if self._rule.permits(origin, scheme, host, self._listening.update().ports):
            return None
        own = show(own_origin(scheme, host))
        if self._rule.allowed_by:
            why = (
                f"only this stand's own pages ({own}) and the origins in "
                f"{self._rule.allowed_by} may (add it to QAKIT_WS_ALLOWED_ORIGINS, or * for "
                "any)"
            )
        else:
            why = f"it shows every client's frames: only this stand's own pages ({own}) may"
        return {
            "error": "origin_not_allowed",
            "detail": f"Origin {origin[:SHOWN_MAX]} may not open {websocket.path} here: "
            f"{why}; clients that send no Origin (Postman, Python, curl) are let "
            "in",
        }, 403


def websocket_door(services: Services) -> Door:
    """/ws, /ws/orders and /ws/echo: the stand's own pages, CORS_ALLOW_ORIGINS's and
    QAKIT_WS_ALLOWED_ORIGINS's."""
    settings = services.settings
    return Door(
        services,
        OriginRule.of(
            "CORS_ALLOW_ORIGINS or QAKIT_WS_ALLOWED_ORIGINS",
            settings.cors_allow_origins,
            settings.ws_allowed_origins,
        ),
    )


def inspector_door(services: Services) -> Door:
    """/ws/_inspect: the stand's own pages only."""
    return Door(services, OriginRule())


def _relative(redirect: object) -> None:
    """Routing's redirects (`/postman` -> `/postman/`, `//` merged) say where to go without
    the Host: werkzeug builds an absolute URL from it."""
    if isinstance(redirect, RequestRedirect):
        parts = urlsplit(redirect.new_url)
        redirect.new_url = urlunsplit(("", "", "/" + parts.path.lstrip("/"), parts.query, ""))


def register_origins(app: QuartTrio, services: Services) -> None:
    """Register before CORS (app.py): a refused Host is answered before anything else."""
    listening = Listening(services)
    rest = OriginRule.of("CORS_ALLOW_ORIGINS", services.settings.cors_allow_origins)

    @app.before_request
    async def check_request() -> Refusal | None:
        headers = request.headers
        host = headers.get("Host")
        if (answer := listening.host_refused(host, request.scope.get("server"))) is not None:
            return answer
        _relative(request.routing_exception)
        origin = headers.get("Origin")
        if origin is None or request.method not in STATE_CHANGING:
            return None
        scheme = page_scheme(request.scheme, headers)
        if rest.permits(origin, scheme, host, listening.ports):
            return None
        return {
            "detail": f"Origin {origin[:SHOWN_MAX]} may not send {request.method} here: "
            f"only this stand's own pages ({show(own_origin(scheme, host))}) and "
            "the origins in CORS_ALLOW_ORIGINS may change the stand from a "
            "browser (add it to CORS_ALLOW_ORIGINS, or * for any); clients that "
            "send no Origin (Postman, Python, curl) are let in"
        }, 403

    @app.before_websocket
    async def check_websocket() -> Refusal | None:
        _relative(websocket.routing_exception)
        return listening.host_refused(websocket.headers.get("Host"), websocket.scope.get("server"))
