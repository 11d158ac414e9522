"""Hypercorn's access lines as structured ECS fields instead of Apache-style text.

Hypercorn logs one access line per HTTP request and per WebSocket handshake through
`config.logger_class.access`. Its own version formats an Apache-style text line (and copies
every environment variable into a dict for it, per request); this one logs the parts as fields,
which log_fields.py writes as `http.request.method`, `url.path`, `url.query`,
`http.response.status_code`, `client.address`, `user_agent.original` and `event.duration`
(nanoseconds, as ECS says), with a short message for people reading the raw lines:
`GET /orders 200`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hypercorn.logging import Logger

from qakit_trio import log_fields, logs

if TYPE_CHECKING:
    from hypercorn.typing import ResponseSummary, WWWScope


def client_address(scope: WWWScope) -> str | None:
    """The client's host ((host, port) in the ASGI scope), without the port: ECS's address."""
    client = scope.get("client")
    return str(client[0]) if client else None


def user_agent(scope: WWWScope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"user-agent":
            return value.decode("latin-1")
    return None


class AccessLogger(Logger):
    """hypercorn's Logger, with `access` writing fields (see module docstring)."""

    async def access(
        self, request: WWWScope, response: ResponseSummary | None, request_time: float
    ) -> None:
        logger = self.access_logger
        if logger is None or not logger.isEnabledFor(logging.INFO):
            return
        method = request["method"] if request["type"] == "http" else "GET"
        status = None if response is None else response["status"]
        query = request["query_string"].decode("latin-1")
        path = request["path"]
        logs.info(
            logger,
            f"{method} {path} {'-' if status is None else status}",
            http_method=method,
            url_path=path,
            url_query=log_fields.redacted_query(query) or None,
            status=status,
            http_version=request.get("http_version"),
            client=client_address(request),
            user_agent=user_agent(request),
            duration_ns=round(request_time * 1e9),
        )
