"""The pages over HTTP: every page and asset from the stand itself, nothing from elsewhere;
the lab pages turned off with QAKIT_LAB_PAGES=0. (In a real browser: tests/pages/.)"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import HandshakeError, open_websocket_url

from qakit_trio.web import pages

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

POSTMAN = Path(__file__).resolve().parents[2] / "postman"
PAGES = [
    "/",
    "/playground",
    "/inspector",
    "/tasks",
    "/docs",
    "/asyncapi",
    "/guides/README.md",
    "/guides/concurrency.md",
    "/guides/testing.md",
    "/guides/hardening.md",
    "/guides/guide/README.md",
    "/guides/guide/ru/start.md",
    "/guides/guide/en/exercises.md",
]
LAB_ONLY = ["/inspector", "/tasks", "/debug/tasks", "/debug/events/some-id"]


class Assets(HTMLParser):
    """The URLs a page loads by itself (scripts, stylesheets, icons, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))
        if tag == "img" and found.get("src"):
            self.urls.append(str(found["src"]))


async def test_every_page_and_everything_it_loads_comes_from_the_stand() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            for path in PAGES:
                page = await http.get(path)
                assert page.status_code == 200, path
                assert page.headers["content-type"] == "text/html; charset=utf-8"
                parser = Assets()
                parser.feed(page.text)
                assert parser.urls, path
                for url in parser.urls:
                    if url.startswith("data:"):
                        continue
                    assert url.startswith("/"), f"{path} loads {url} from elsewhere"
                    asset = await http.get(url)
                    assert asset.status_code == 200, url
            # and no asset of ours reaches out either (the browser test watches the network)
            for name in (
                "stand.js",
                "portal.js",
                "playground.js",
                "inspector.js",
                "tasks.js",
                "templates.js",
                "docs.js",
                "asyncapi.js",
                "stand.css",
            ):
                text = (await http.get(f"/assets/{name}")).text
                far = re.search(r"""(fetch|src|href|url)\(?\s*["'`]?(https?:)?//""", text)
                assert far is None, name


async def test_the_docs_page_is_swagger_ui_over_our_openapi_document_offline() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            docs = (await http.get("/docs")).text
            assert "/swagger-ui/swagger-ui-bundle.js" in docs
            assert "cdn" not in docs
            script = await http.get("/assets/docs.js")
            assert 'url: "/openapi.json"' in script.text
            assert "validatorUrl: null" in script.text
            bundle = await http.get("/swagger-ui/swagger-ui-bundle.js")
            assert bundle.status_code == 200
            assert "SwaggerUIBundle" in bundle.text
            assert (await http.get("/swagger-ui/swagger-ui-bundle.js.map")).status_code == 404


async def test_guides_are_rendered_with_anchors_and_keep_their_links_inside_the_stand() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            readme = (await http.get("/guides/README.md")).text
            assert '<h2 id="run-it">Run it</h2>' in readme
            assert 'href="/guides/concurrency.md"' in readme
            concurrency = (await http.get("/guides/concurrency.md")).text
            assert '<a id="task-connection"></a>' in concurrency
            # the lab's answer key is for teachers: not served to the class
            answer_key = await http.get("/guides/lab-answer-key.md")
            assert answer_key.status_code == 404
            assert (await http.get("/assets/../app.py")).status_code == 404
            assert (await http.get("/guides/../app.py")).status_code == 404
            russian = (await http.get("/guides/guide/ru/websocket.md")).text
            assert '<html lang="ru"' in russian
            assert 'href="/guides/guide/README.md"' in readme
            assert 'href="/postman/"' in readme
            exercises = (await http.get("/guides/guide/ru/exercises.md")).text
            assert 'href="/guides/testing.md"' in exercises  # ../../testing.md on GitHub
            # the README's links: the Russian guide first, then English, then the docs
            links = re.findall(r'<li>.*?href="([^"]+)"', readme)
            assert links[:2] == ["/guides/guide/ru/start.md", "/guides/guide/en/start.md"]
            assert {f"/guides/{name}" for name in pages.GUIDES} - {"/guides/README.md"} <= set(
                re.findall(r'href="([^"#]+)', readme)
            )


async def test_the_postman_files_can_be_downloaded_from_the_stand() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            listing = (await http.get("/postman/")).json()
            for url in listing["files"]:
                answer = await http.get(url)
                assert answer.status_code == 200
                name = url.rsplit("/", 1)[1]
                assert answer.json() == json.loads((POSTMAN / name).read_text())
                assert name in answer.headers["content-disposition"]
            assert (await http.get("/postman/nope.json")).status_code == 404


async def test_stand_json_says_where_the_stand_listens(stand_profile: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            stand = (await http.get("/stand.json")).json()
            assert stand["urls"] == [server.http]
            assert stand["lab_pages"] is True
            assert stand["profile"] == stand_profile
            assert [g["name"] for g in stand["guides"]] == list(pages.GUIDES)


async def test_lab_pages_off_answer_404_everywhere() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(lab_pages=False) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            for path in LAB_ONLY:
                answer = await http.get(path)
                assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})
            with pytest.raises(HandshakeError):
                async with open_websocket_url(f"{server.ws}/ws/_inspect"):
                    pass
            assert (await http.get("/stand.json")).json()["lab_pages"] is False
            document = (await http.get("/openapi.json")).json()
            assert not [path for path in document["paths"] if path.startswith("/debug")]
            for path in ("/", "/playground", "/docs"):  # the trainee's pages stay
                assert (await http.get(path)).status_code == 200
