"""The browser pages, served by the service itself, every asset from the package (no CDN, no
external font: the stand works with no internet).

    /                    portal: what this stand is, every URL, live PostgreSQL and Kafka state
    /playground          a WebSocket and REST client for trainees; it records what it sends
                         (in the page only) and reports a bug from it (POST /lab/findings)
    /me                  a trainee's findings and verdicts (GET /lab/findings/mine)
    /docs                Swagger UI (from the swagger-ui-bundle package) over /openapi.json
    /asyncapi            the WebSocket protocols, from /asyncapi.json (also .yaml; asyncapi.py)
    /guides/NAME         the README and the docs a trainee reads, rendered
    /stand.json          what the pages need to know: URLs, profile, which pages are on,
                         whether they sign in (`auth`: QAKIT_AUTH=on; stand.js keeps the token
                         in sessionStorage, sends it as `Authorization: Bearer` and `?token=`)
    /assets/i18n.js      every page's texts in Russian and English (web/languages.py: which
                         language a page opens in, Accept-Language; the RU/EN switch)
  lab pages (QAKIT_LAB_PAGES=1, the default; 0 turns them off: 404):
    /inspector           live connections and traffic   (over /ws/_inspect, web/inspector.py;
                         QAKIT_AUTH=on: the teacher's only, else accepted and closed 4401/4403)
    /tasks               the live trio task tree        (over /debug/tasks, web/task_tree.py)
    /classroom           the teacher's board: who is in, their bugs and findings; deal, clear,
                         reveal, findings.csv               (over /lab/*, web/classroom.py)
    /debug/events/ID     an event's log line and Kafka record (pipeline/trail.py)

The lab pages show everything that passes through the stand: on by default for a local stand,
they must be off on a shared network. No page can change the stand except through the public
API any client has (the playground sends what a trainee types; the inspector only looks).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from functools import cache, partial
from importlib import resources
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
import yaml
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import NotFound

from qakit_trio import __version__
from qakit_trio.pipeline import trail
from qakit_trio.services import Services
from qakit_trio.transport.base import close_within
from qakit_trio.transport.quart_ws import current_websocket
from qakit_trio.web import asyncapi, languages, task_tree
from qakit_trio.web.guides import GUIDES as GUIDES  # re-exported: the tests read pages.GUIDES
from qakit_trio.web.guides import render_guide
from qakit_trio.web.identities import ws_identity
from qakit_trio.web.inspector import Inspector
from qakit_trio.web.origins import inspector_door
from qakit_trio.web.ws_endpoint import refused
from qakit_trio.wire.query import ascii_whole

PAGES = resources.files("qakit_trio") / "pages"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
# Swagger UI: the two files /docs needs, and its icon (not the source maps: 5 MiB nobody needs)
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
POSTMAN = ("qakit-trio.postman_collection.json", "qakit-trio.postman_environment.json")
MAX_TREE_LIMIT = task_tree.MAX_LIMIT  # GET /debug/tasks?limit=, at most
# path -> (the page's file in pages/static/, a lab page: off with QAKIT_LAB_PAGES=0)
HTML_PAGES = {
    "/": ("portal.html", False),
    "/playground": ("playground.html", False),
    "/docs": ("docs.html", False),
    "/asyncapi": ("asyncapi.html", False),
    "/inspector": ("inspector.html", True),
    "/tasks": ("tasks.html", True),
    "/me": ("me.html", False),
    "/classroom": ("classroom.html", True),
}
# the routes that answer HTML or files, not JSON (the OpenAPI document lists the others)
HTML_ROUTES = (
    *HTML_PAGES,
    "/assets/<name>",
    "/assets/i18n.js",
    "/swagger-ui/<name>",
    "/guides/<path:name>",
    "/postman/",
    "/postman/<name>",
    "/asyncapi.json",
    "/asyncapi.yaml",
)


@cache
def asset(name: str) -> bytes:
    return (PAGES / "static" / name).read_bytes()


@cache
def swagger_asset(name: str) -> bytes:
    return (
        (resources.files(swagger_ui_bundle) / "vendor").joinpath(_swagger_dir(), name).read_bytes()
    )


def _swagger_dir() -> str:
    dirs = [
        p.name
        for p in (resources.files(swagger_ui_bundle) / "vendor").iterdir()
        if p.name.startswith("swagger-ui-")
    ]
    return sorted(dirs)[-1]


@cache
def guide(name: str) -> str:
    """A guide as an HTML page: markdown rendered, headings with GitHub's anchors, every link
    working inside the stand (guides.py)."""
    text = (PAGES / "guides" / name).read_text("utf-8")
    lang = "ru" if name.startswith("guide/ru/") else "en"
    body = render_guide(name, text, lang)
    title = GUIDES[name]
    return (
        asset("guide.html")
        .decode()
        .replace("{{lang}}", lang)
        .replace("{{title}}", title)
        .replace("{{body}}", body)
    )


def _file(data: bytes, name: str) -> Response:
    suffix = name[name.rfind(".") :]
    response = Response(data, content_type=TYPES.get(suffix, "application/octet-stream"))
    response.headers["Cache-Control"] = "no-cache"  # a restarted stand may serve new pages
    return response


async def _page(name: str) -> Response:
    return _in_language(_file(page_text(name, _accepted()), name))


@cache
def page_text(name: str, lang: str) -> bytes:
    """A page with the language the browser prefers in <html lang> and <meta name="qakit-lang">
    (stand.js takes it when the trainee has chosen none: web/languages.py)."""
    return asset(name).replace(b"{{lang}}", lang.encode())


def _accepted() -> str:
    return languages.choose(request.headers.get("Accept-Language"))


def _in_language(response: Response) -> Response:
    response.headers["Vary"] = "Accept-Language"  # a cache must not give one browser's to all
    return response


def _known(name: str, names: Collection[str]) -> str:
    """`name` if it is one of `names`; else the app's 404 ({"detail": "Not Found"}, app.py):
    only files listed here are ever read, whatever path a client asks for."""
    if name not in names:
        raise NotFound()
    return name


def register_pages(app: QuartTrio, services: Services) -> None:
    settings = services.settings
    static_names = {p.name for p in (PAGES / "static").iterdir() if p.is_file()}

    for path, (name, lab) in HTML_PAGES.items():
        if settings.lab_pages or not lab:
            app.add_url_rule(path, f"page {name}", partial(_page, name))

    @app.get("/assets/i18n.js")  # both catalogues, as one script (web/languages.py)
    async def i18n_script() -> Response:
        return _file(languages.script(), "i18n.js")

    @app.get("/assets/<name>")
    async def assets(name: str) -> Response:
        return _file(asset(_known(name, static_names)), name)

    @app.get("/swagger-ui/<name>")
    async def swagger(name: str) -> Response:
        return _file(swagger_asset(_known(name, SWAGGER_FILES)), name)

    @app.get("/postman/")
    async def postman_files() -> dict[str, Any]:
        return {
            "files": [f"/postman/{name}" for name in POSTMAN],
            "how": "Postman: File → Import both files, pick the environment, Run collection",
        }

    @app.get("/postman/<name>")
    async def postman_file(name: str) -> Response:
        response = _file((PAGES / "postman" / _known(name, POSTMAN)).read_bytes(), name)
        response.headers["Content-Type"] = "application/json"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @app.get("/guides/<path:name>")
    async def guides(name: str) -> Response:
        page = guide(_known(name, GUIDES)).replace("{{ui_lang}}", _accepted(), 1)  # the header's
        return _in_language(Response(page, content_type=TYPES[".html"]))

    @app.get("/asyncapi.json")
    async def asyncapi_json() -> dict[str, Any]:
        return asyncapi.document()

    @app.get("/asyncapi.yaml")
    async def asyncapi_yaml() -> Response:
        text = yaml.safe_dump(asyncapi.document(), sort_keys=False, allow_unicode=True)
        return Response(text, content_type="application/yaml; charset=utf-8")

    @app.get("/stand.json")
    async def stand() -> dict[str, Any]:
        return {
            "service": "qakit-trio",
            "version": __version__,
            "profile": settings.profile,
            "urls": services.urls,
            "lab_pages": settings.lab_pages,
            "auth": settings.auth,  # QAKIT_AUTH=on: the pages sign in (never a secret here)
            "default_channel": settings.default_channel,
            "orders_channel": settings.orders_channel,
            "kafka": settings.kafka_bootstrap is not None,
            "database": settings.database_url is not None,
            # QAKIT_CLUSTER=kafka: the pages name the instance that served them
            "instance": settings.instance_id,
            "cluster": settings.cluster,
            "guides": [{"name": name, "title": title} for name, title in GUIDES.items()],
        }

    if not settings.lab_pages:
        return

    tree = task_tree.TaskTree()  # cached and paced: reading it never stalls the stand

    @app.get("/debug/tasks")
    async def debug_tasks() -> Response | tuple[dict[str, str], int]:
        limit = ascii_whole(request.args.get("limit", "20"), minimum=1, maximum=MAX_TREE_LIMIT)
        if limit is None:
            return {
                "error": "invalid_limit",
                "detail": f"limit must be a whole number from 1 to {MAX_TREE_LIMIT}",
            }, 400
        expand = {kind for kind in request.args.get("expand", "").split(",") if kind}
        if unknown := sorted(expand - task_tree.ALL_KINDS):
            return {
                "error": "invalid_expand",
                "detail": f"unknown task kind {unknown[0]!r}; "
                f"kinds: {', '.join(sorted(task_tree.ALL_KINDS))}",
            }, 400
        answer = await tree.read(limit, expand)
        if answer is None:  # task_tree.MAX_WAITING readers wait already
            return Response(
                json.dumps(
                    {
                        "error": "busy",
                        "detail": "the task tree is being read by many clients at "
                        "once: try again in a second",
                    }
                ),
                503,
                {"Retry-After": "1"},
                content_type="application/json",
            )
        return Response(answer, content_type="application/json")

    events = services.events.trail
    assert events is not None  # kept whenever the lab pages are on (services.py)

    @app.get("/debug/events/<event_id>")
    async def debug_event(event_id: str) -> dict[str, Any]:
        kafka = services.kafka
        return trail.trail(event_id, events, kafka.health()["state"], kafka.acknowledged)

    @app.websocket("/ws/_inspect")
    async def inspect_route() -> tuple[dict[str, str], int] | None:
        if (answer := refused(inspector_door(services))) is not None:  # own pages only
            return answer
        ws = current_websocket()
        who = ws_identity(services, None, teacher=True)  # QAKIT_AUTH=on: the teacher's only
        if isinstance(who, tuple):
            ws.session = partial(close_within, ws.transport, *who, settings.close_timeout)
            return None
        inspector = Inspector(
            ws.transport,
            settings,
            services.taps,
            [services.hub, services.legacy_hub],
            services.stopping,
        )
        ws.session = inspector.run
        return None
