"""The pages in a real headless Chromium (Debian's chromium + chromium-driver, driven with
selenium), against the stand started as a process: what a trainee with only a browser does.

Every page loads with no console error and asks no other host for anything (the browser's own
network log says so); screenshots and page weights go to test-artifacts/ (ignored by git).
Waiting is WebDriverWait on what the page shows, bounded, never a sleep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
from websockets.sync.client import connect

from ..support.browser import (
    ARTIFACTS,
    WAIT,
    StandProcess,
    console_errors,
    network,
    open_chromium,
    shown,
    stand_process,
    until,
)
from ..support.http_thread import serving_in_thread

pytestmark = pytest.mark.system  # headless Chromium

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide"
PAGES = {  # path -> what shows that the page has done its work
    "/": "#urls tbody tr",
    "/playground": "#template option",
    "/inspector": "#inspect-state.open",
    "/tasks": ".task.service",
    "/docs": ".opblock",
    "/asyncapi": '.message[data-operation="receiveEchoRequest"]',
    "/guides/README.md": "article.guide h2#run-it",
}


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    with open_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def stand() -> Iterator[StandProcess]:
    with stand_process() as running:
        yield running


def open_page(chrome: webdriver.Chrome, stand: StandProcess, path: str) -> None:
    chrome.get(stand.url + path)
    until(chrome, lambda: shown(chrome, PAGES[path]), f"{path} shows {PAGES[path]}")


def test_every_page_loads_with_no_error_and_nothing_from_another_host(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    own = urlsplit(stand.url).netloc
    weights = []
    for path in PAGES:
        network(chrome)  # empty the log: what follows is this page's
        open_page(chrome, stand, path)
        seen = network(chrome)
        elsewhere = [
            url for url in seen.urls if not url.startswith("data:") and urlsplit(url).netloc != own
        ]
        assert elsewhere == [], f"{path} asked another host: {elsewhere}"
        assert seen.failed == [], f"{path}: {seen.failed}"
        assert console_errors(chrome) == [], path
        name = "portal" if path == "/" else path.strip("/").replace("/", "-")
        chrome.save_screenshot(str(ARTIFACTS / f"page-{name}.png"))
        weights.append((path, len([u for u in seen.urls if u.startswith("http")]), seen.bytes))
    rows = [f"| `{path}` | {count} | {size / 1024:.1f} |" for path, count, size in weights]
    (ARTIFACTS / "page-weights.md").write_text(
        "| page | requests | KiB on the wire |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    assert all(size > 0 for _, _, size in weights)


def frames_of(chrome: webdriver.Chrome, request_id: str) -> list[str]:
    group = shown(chrome, f'#log .group[data-request-id="{request_id}"] .frame')
    return [row.get_attribute("data-type") or "" for row in group]


def test_the_playground_groups_a_request_and_speaks_the_legacy_protocol(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/playground")
    channel = chrome.find_element(By.ID, "channel")
    channel.clear()
    channel.send_keys("x")
    assert chrome.find_element(By.ID, "url").get_attribute("value") == f"{stand.ws}/ws?channel=x"
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected")
    Select(chrome.find_element(By.ID, "template")).select_by_visible_text("echo")
    chrome.find_element(By.ID, "insert").click()
    chrome.find_element(By.ID, "message").send_keys(Keys.CONTROL, Keys.ENTER)  # the shortcut
    sent = json.loads(chrome.find_element(By.ID, "message").get_attribute("value") or "")
    request_id = sent["request_id"]
    until(
        chrome,
        lambda: frames_of(chrome, request_id) == ["echo", "ack", "echo", "event"],
        "the request, then ack, echo and event, in one group",
    )
    group = shown(chrome, f'#log .group[data-request-id="{request_id}"] .frame')
    assert [row.get_attribute("data-dir") for row in group] == ["out", "in", "in", "in"]
    assert all(
        row.find_element(By.CSS_SELECTOR, ".since").text.startswith("+") for row in group[1:]
    )  # the time since the request
    group[-1].click()  # the pretty JSON of the event
    assert '"event_id"' in group[-1].find_element(By.CSS_SELECTOR, "pre").text

    chrome.find_element(By.ID, "connect").click()  # disconnect, with code and reason
    until(
        chrome,
        lambda: "code 1000" in chrome.find_element(By.ID, "close-info").text,
        "closed with 1000",
    )
    Select(chrome.find_element(By.ID, "path")).select_by_value("/ws/orders")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected to /ws/orders")
    Select(chrome.find_element(By.ID, "template")).select_by_visible_text("ping")
    chrome.find_element(By.ID, "insert").click()
    chrome.find_element(By.ID, "send").click()
    until(chrome, lambda: shown(chrome, '#log .frame[data-dir="in"][data-type="pong"]'), "pong")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.closed"), "closed")


def test_the_playground_rest_panel_shows_status_headers_and_body(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/playground")
    Select(chrome.find_element(By.ID, "method")).select_by_visible_text("POST")
    path = chrome.find_element(By.ID, "rest-path")
    path.clear()
    path.send_keys("/orders")
    chrome.find_element(By.ID, "rest-body").send_keys('{"customer": "Юлия"}')
    chrome.find_element(By.ID, "rest-send").click()
    until(chrome, lambda: chrome.find_element(By.ID, "rest-status").text == "200", "200")
    assert json.loads(chrome.find_element(By.ID, "rest-result").text)["customer"] == "Юлия"
    headers = chrome.find_element(By.ID, "rest-headers").get_attribute("textContent") or ""
    assert "content-type: application/json" in headers


def test_the_inspector_shows_another_clients_broadcast_live_with_its_event_id(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/inspector")
    with connect(f"{stand.ws}/ws?channel=lecture") as client:
        hello = json.loads(client.recv(timeout=WAIT))
        row = f'#connections tr[data-conn="{hello["connection_id"]}"]'
        until(chrome, lambda: shown(chrome, row), "the new connection in the table")
        client.send(
            json.dumps(
                {
                    "action": "broadcast",
                    "request_id": "from-pytest",
                    "payload": {"message": "hello, class"},
                }
            )
        )
        replies = [json.loads(client.recv(timeout=WAIT)) for _ in range(3)]
    event = replies[-1]
    assert event["type"] == "event"
    link = f'#log a.event-link[data-event-id="{event["event_id"]}"]'
    until(chrome, lambda: shown(chrome, link), "the broadcast's event, with its event_id")
    assert shown(chrome, '#log .frame[data-dir="publish"][data-request-id="from-pytest"]')
    shown(chrome, link)[0].click()
    until(
        chrome,
        lambda: event["event_id"] in chrome.find_element(By.ID, "event-log").text,
        "the event's log line",
    )
    assert "Kafka is off" in chrome.find_element(By.ID, "event-kafka").text
    chrome.save_screenshot(str(ARTIFACTS / "page-inspector-live.png"))


def tree_connections(chrome: webdriver.Chrome) -> list[str]:
    """The labels of the connection tasks, read in one go (the page redraws every second)."""
    labels = chrome.execute_script(
        "return [...document.querySelectorAll('li.task.connection > .label')]"
        ".map((node) => node.textContent)"
    )
    assert isinstance(labels, list)
    return [str(label) for label in labels]


def count(chrome: webdriver.Chrome, css: str) -> int:
    found = chrome.execute_script(f"return document.querySelectorAll({json.dumps(css)}).length")
    assert isinstance(found, int)
    return found


def test_the_task_tree_shows_two_connection_nurseries_then_one(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/tasks")
    with connect(f"{stand.ws}/ws?channel=one") as first:
        first_id = json.loads(first.recv(timeout=WAIT))["connection_id"]
        with connect(f"{stand.ws}/ws?channel=two") as second:
            second_id = json.loads(second.recv(timeout=WAIT))["connection_id"]
            until(
                chrome,
                lambda: (
                    len(tree_connections(chrome)) == 2
                    and any(first_id in label for label in tree_connections(chrome))
                    and any(second_id in label for label in tree_connections(chrome))
                ),
                "two connection nurseries",
            )
            # an idle client has no writer yet (ws/outbox.py, LazyOutbox); a request starts it
            assert count(chrome, "li.task.connection li.task.writer") == 0
            for client in (first, second):
                client.send(json.dumps({"action": "echo", "request_id": "r"}))
                for _ in range(3):  # ack, echo, event
                    client.recv(timeout=WAIT)
            until(
                chrome,
                lambda: count(chrome, "li.task.connection li.task.writer") == 2,
                "each connection's nursery with its writer",
            )
            chrome.save_screenshot(str(ARTIFACTS / "page-tasks-two-connections.png"))
        until(
            chrome,
            lambda: [first_id in label for label in tree_connections(chrome)] == [True],
            "the closed connection gone, the other still there",
        )
    assert count(chrome, 'li.task.service > a.kind[href="/guides/concurrency.md#task-service"]')


def test_the_docs_page_renders_the_operations_offline(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/docs")
    until(chrome, lambda: len(shown(chrome, ".opblock")) >= 10, "the operations")
    paths = {node.text for node in shown(chrome, ".opblock-summary-path")}
    assert {"/orders", "/health", "/broadcast"} <= paths


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_guides_devtools_console_snippet_works_in_the_browser(
    chrome: webdriver.Chrome, stand: StandProcess, language: str
) -> None:
    guide = (GUIDE / language / "websocket.md").read_text()
    snippet = guide.split("```javascript\n", 1)[1].split("```", 1)[0]
    snippet = snippet.replace("127.0.0.1:8002", urlsplit(stand.url).netloc)
    open_page(chrome, stand, "/")
    # what the snippet logs, kept where the test can read it (the console is for people)
    chrome.execute_script(
        "window.logged = []; console.log = (value) => window.logged.push(value);" + snippet
    )
    until(
        chrome,
        lambda: len(chrome.execute_script("return window.logged")) >= 4,
        "the greeting and the three replies in the console",
    )
    logged = chrome.execute_script("return window.logged")
    assert [frame["type"] for frame in logged[:4]] == ["system", "ack", "echo", "event"]
    assert {frame["request_id"] for frame in logged[1:4]} == {"r1"}


SOCKETS = ["inspect", "ws", "orders"]  # what the foreign page tries to open
FOREIGN_PAGE = """<!doctype html><meta charset="utf-8"><title>another site</title>
<form id="pay" method="post" action="{stand}/orders/{order}/pay" target="sink">
  <input name="confirm" value="1"></form>
<script>
window.results = {{}};
function attempt(name, url, first) {{
  const seen = window.results[name] = [];
  const ws = new WebSocket(url);
  ws.onopen = () => {{ seen.push("open"); if (first) ws.send(first); }};
  ws.onmessage = (event) => seen.push("message " + event.data.slice(0, 80));
  ws.onclose = (event) => seen.push("close " + event.code);
}}
attempt("inspect", "{ws}/ws/_inspect", JSON.stringify({{watch: {{}}}}));
attempt("ws", "{ws}/ws?channel=lecture");
attempt("orders", "{ws}/ws/orders", JSON.stringify({{action: "ping"}}));
const sink = document.createElement("iframe");
sink.name = "sink";
document.body.append(sink);  // its about:blank has loaded: the next load is the answer
sink.onload = () => {{ window.results.form = "answered"; }};
document.getElementById("pay").submit();
</script>"""


@contextmanager
def foreign_site(page: str) -> Iterator[str]:
    """A second local origin (another port of 127.0.0.1: another origin to the browser)
    serving one page; its URL."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serving_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Page)) as url:
        yield url + "/"


def call(stand: StandProcess, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A REST call as Postman makes it: no Origin."""
    data = None if body is None else json.dumps(body).encode()
    request = Request(
        stand.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urlopen(request, timeout=WAIT) as answer:
        body = json.loads(answer.read())
    assert isinstance(body, dict)
    return body


def test_a_page_from_another_origin_can_neither_read_nor_change_the_stand(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    order = call(stand, "POST", "/orders", {"customer": "Yulia"})
    page = FOREIGN_PAGE.format(stand=stand.url, ws=stand.ws, order=order["id"])
    with foreign_site(page) as url, connect(f"{stand.ws}/ws?channel=lecture") as client:
        json.loads(client.recv(timeout=WAIT))  # the hello: a client without Origin is served
        chrome.get(url)
        until(
            chrome,
            lambda: chrome.execute_script(
                "const r = window.results; return r.form === 'answered' && "
                f"{json.dumps(SOCKETS)}.every((name) => r[name].some("
                "(seen) => seen.startsWith('close') || seen.startsWith('message')))"
            ),
            "the foreign page's three sockets ended or read something, and its form answered",
        )
        client.send(json.dumps({"action": "echo", "payload": {"password": "hunter2"}}))
        json.loads(client.recv(timeout=WAIT))
        results = chrome.execute_script("return window.results")
    seen = {name: [event[:60] for event in results[name][:3]] for name in SOCKETS}
    status = call(stand, "GET", f"/orders/{order['id']}")["status"]
    # refused before the upgrade: never opened, nothing read; the form changed nothing
    assert (seen, status) == ({name: ["close 1006"] for name in SOCKETS}, "created")
    console_errors(chrome)  # empty the log: the refusals are this page's errors, not the stand's
    open_page(chrome, stand, "/inspector")  # the stand's own pages keep working
    assert call(stand, "POST", f"/orders/{order['id']}/pay")["status"] == "paid"  # no Origin
