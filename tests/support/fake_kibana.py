"""A stand-in for Kibana 8's HTTP API, as far as compose/kibana/setup-data-view.sh uses it,
answering as Kibana's documentation says it does (the data views API of Kibana 8.15; the
OpenAPI schema create_data_view_request_object.yaml): /api/status answers 503 while Kibana
starts, then 200; GET /api/data_views/data_view/<id> 200 or 404; POST /api/data_views/data_view
creates one (400 without the kbn-xsrf header, with a body not of the documented shape, or for a
title that exists unless `override`); POST /api/data_views/default sets the default data view
(it keeps the one set unless `force`). It records every write, so a test can say what the
script sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .http_thread import serving_in_thread

# the data_view object's properties in the documented request body (all optional but title)
DATA_VIEW_FIELDS = {
    "allowNoIndex",
    "fieldAttrs",
    "fieldFormats",
    "fields",
    "id",
    "name",
    "namespaces",
    "runtimeFieldMap",
    "sourceFilters",
    "timeFieldName",
    "title",
    "type",
    "typeMeta",
    "version",
}
VIEW_PATH = "/api/data_views/data_view"


@dataclass
class Write:
    path: str
    body: Any


@dataclass
class Kibana:
    """The fake's state: `starting` 503s before it is available."""

    starting: float = 0
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    default: str | None = None
    writes: list[Write] = field(default_factory=list)
    status_asked: int = 0


def _problem(body: Any) -> str | None:
    """Why a create request's body is not the documented shape, or None."""
    if not isinstance(body, dict) or "data_view" not in body:
        return "[request body.data_view]: expected value of type [object]"
    if set(body) - {"data_view", "override", "refresh_fields"}:
        return f"[request body]: definition for {sorted(set(body))} not allowed"
    view = body["data_view"]
    if not isinstance(view, dict) or not isinstance(view.get("title"), str):
        return "[request body.data_view.title]: expected value of type [string]"
    if set(view) - DATA_VIEW_FIELDS:
        return f"[request body.data_view]: definition for {sorted(set(view) - DATA_VIEW_FIELDS)}"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        error = {400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}[status]
        self._answer(status, {"statusCode": status, "error": error, "message": message})

    def do_GET(self) -> None:
        kibana = self.server.kibana
        if self.path == "/api/status":
            kibana.status_asked += 1
            if kibana.starting > 0:
                kibana.starting -= 1
                self._error(503, "Kibana server is not ready yet")
            else:
                self._answer(200, {"status": {"overall": {"level": "available"}}})
        elif self.path.startswith(VIEW_PATH + "/"):
            view = kibana.views.get(self.path[len(VIEW_PATH) + 1 :])
            if view is None:
                self._error(404, "Saved object not found")
            else:
                self._answer(200, {"data_view": view})
        else:
            self._error(404, "Not Found")

    def do_POST(self) -> None:
        kibana = self.server.kibana
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "kbn-xsrf" not in self.headers:
            self._error(400, "Request must contain a kbn-xsrf header.")
            return
        if self.headers.get("Content-Type") != "application/json":
            self._error(400, "Unsupported Content-Type")
            return
        body = json.loads(raw)
        kibana.writes.append(Write(self.path, body))
        if self.path == VIEW_PATH:
            self._create(kibana, body)
        elif self.path == "/api/data_views/default":
            if set(body) - {"data_view_id", "force"} or not isinstance(
                body.get("data_view_id"), str | None
            ):
                self._error(400, "[request body.data_view_id]: expected value of type [string]")
                return
            if kibana.default is None or body.get("force") is True:
                kibana.default = body["data_view_id"]
            self._answer(200, {"acknowledged": True})
        else:
            self._error(404, "Not Found")

    def _create(self, kibana: Kibana, body: Any) -> None:
        problem = _problem(body)
        if problem is not None:
            self._error(400, problem)
            return
        view = body["data_view"]
        same = [key for key, known in kibana.views.items() if known["title"] == view["title"]]
        if same and not body.get("override"):
            self._error(400, f"Duplicate data view: {view['title']}")
            return
        for key in same:
            del kibana.views[key]
        kibana.views[view.get("id", f"view-{len(kibana.writes)}")] = view
        self._answer(200, {"data_view": view})


class _Server(ThreadingHTTPServer):
    kibana: Kibana


@contextmanager
def serving(kibana: Kibana) -> Iterator[str]:
    """Serve `kibana` on a free port of 127.0.0.1 (in a thread); yield its URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.kibana = kibana
    with serving_in_thread(server) as url:
        yield url
