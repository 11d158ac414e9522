"""CORS on every HTTP route, as the original QA Kit stand answered (Starlette's CORSMiddleware
with allow_credentials, every method and every header): a page on another origin (the
original's portal and playground on :8090/:8091) can call the REST API with `fetch`.

    CORS_ALLOW_ORIGINS  comma list of origins, or *   (default: the original's four)

Preflight (OPTIONS with Origin and Access-Control-Request-Method): 200 "OK" with the allow
headers for an allowed origin, 400 "Disallowed CORS origin" otherwise. Other requests from an
allowed origin get Access-Control-Allow-Origin (the origin itself; `*` when every origin is
allowed), Access-Control-Allow-Credentials and Vary: Origin. WebSocket upgrades are not
covered by CORS; web/origins.py checks their Origin, and refuses state-changing requests from
origins not listed here (a form POST is never preflighted).
"""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

ALL_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
MAX_AGE = "600"


def register_cors(app: QuartTrio, origins: tuple[str, ...]) -> None:
    allow_all = "*" in origins
    allowed = frozenset(origins)

    @app.before_request
    async def preflight() -> Response | None:
        headers = request.headers
        origin = headers.get("Origin")
        if (
            request.method != "OPTIONS"
            or origin is None
            or "Access-Control-Request-Method" not in headers
        ):
            return None
        answer = {
            "Access-Control-Allow-Methods": ALL_METHODS,
            "Access-Control-Max-Age": MAX_AGE,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
        requested = headers.get("Access-Control-Request-Headers")
        if requested:
            answer["Access-Control-Allow-Headers"] = requested
        if not (allow_all or origin in allowed):
            return Response(
                "Disallowed CORS origin", 400, answer, content_type="text/plain; charset=utf-8"
            )
        answer["Access-Control-Allow-Origin"] = origin  # with credentials: never "*"
        return Response("OK", 200, answer, content_type="text/plain; charset=utf-8")

    @app.after_request
    async def simple(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is None or "Access-Control-Allow-Origin" in response.headers:
            return response
        if allow_all:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        else:
            return response
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response
