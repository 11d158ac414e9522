"""No served link answers 404: a crawler starts at every page and every guide of a live stand,
follows every href and src on every page it reaches (same origin only), and checks that each
answers neither 404 nor 5xx, and that an anchor (`page#x`) names an element of that page. It
also follows the links the pages make in JavaScript: the guides of /stand.json, the task
tree's links into docs/concurrency.md, and the /guides/... paths in the scripts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import trio

from qakit_trio.web import pages

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

SCRIPT_LINK = re.compile(r"""["'`](/guides/[\w./#-]+)["'`]""")


class Links(HTMLParser):
    """Every URL a page links to or loads, and the ids it gives its elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.append(value)
            if name in ("id", "name") and value and tag != "meta":
                self.ids.add(value)


def followed(base: str, page: str, href: str) -> str | None:
    """The same-origin URL (path, query, fragment) that `href` on `page` leads to, or None."""
    url = urljoin(base + page, href)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != base:
        return None  # another site, ws://, mailto:, data:
    return url[len(base) :]


class Crawler:
    def __init__(self, base: str, http: httpx.AsyncClient, follow: bool = True) -> None:
        self.base, self.http, self.follow = base, http, follow
        self.seen: dict[str, tuple[int, set[str] | None]] = {}  # path -> status, its ids
        self.broken: list[str] = []

    async def fetch(self, path: str) -> tuple[int, set[str] | None, list[str]]:
        """GET `path` once: its status, the ids of an HTML page, the links on it."""
        answer = await self.http.get(path)
        kind = answer.headers.get("content-type", "")
        if "html" not in kind:
            found = SCRIPT_LINK.findall(answer.text) if "javascript" in kind else []
            self.seen[path] = (answer.status_code, None)
            return answer.status_code, None, found
        parser = Links()
        parser.feed(answer.text)
        self.seen[path] = (answer.status_code, parser.ids)
        return answer.status_code, parser.ids, parser.urls

    async def crawl(self, start: list[tuple[str, str]]) -> None:
        queue = list(start)  # (the page that links, the link)
        while queue:
            page, href = queue.pop(0)
            target = followed(self.base, page, href)
            if target is None:
                continue
            path, _, anchor = target.partition("#")
            path = path or page
            if path not in self.seen:
                status, _, links = await self.fetch(path)
                queue += [(path, link) for link in links if self.follow]
            status, ids = self.seen[path]
            if status == 404 or status >= 500:
                self.broken.append(f"{page} links to {href}: {status}")
            elif anchor and ids is not None and anchor not in ids:
                self.broken.append(f"{page} links to {href}: no id {anchor!r} on {path}")


async def crawl_stand() -> Crawler:
    async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
        crawler = Crawler(server.http, http)
        start = [("/", page) for page in pages.HTML_PAGES]
        start += [("/", f"/guides/{name}") for name in pages.GUIDES]
        stand = (await http.get("/stand.json")).json()
        start += [("/", f"/guides/{guide['name']}") for guide in stand["guides"]]
        tree = (await http.get("/debug/tasks", params={"limit": 1})).json()
        start += [("/tasks", doc) for doc in re.findall(r'"doc": ?"([^"]+)"', json.dumps(tree))]
        await crawler.crawl(start)
    return crawler


async def test_no_link_on_any_served_page_answers_404() -> None:
    with trio.fail_after(TIMEOUT):
        crawler = await crawl_stand()
    assert not crawler.broken, "\n".join(crawler.broken)
    # it went everywhere: every page, every guide, their assets and the code they load
    assert {f"/guides/{name}" for name in pages.GUIDES} <= set(crawler.seen)
    assert {"/assets/stand.js", "/assets/stand.css", "/postman/", "/tasks"} <= set(crawler.seen)
    assert any(path.startswith("/swagger-ui/") for path in crawler.seen)
    assert len(crawler.seen) >= 50


async def test_the_crawler_reports_a_broken_link_and_a_missing_anchor() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            crawler = Crawler(server.http, http, follow=False)
            await crawler.crawl(
                [
                    ("/", "/guides/lab-answer-key.md"),
                    ("/", "/guides/concurrency.md#no-such-heading"),
                    ("/", "/guides/concurrency.md#task-root"),
                    ("/", "ws://elsewhere/ws"),
                    ("/", "https://example.org/"),
                ]
            )
    assert crawler.broken == [
        "/ links to /guides/lab-answer-key.md: 404",
        "/ links to /guides/concurrency.md#no-such-heading: no id 'no-such-heading' on "
        "/guides/concurrency.md",
    ]
