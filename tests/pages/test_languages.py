"""Every page in Russian and in English, in a real headless Chromium against the stand
started as a process: each text a page shows is its language's catalogue text
(pages/static/i18n.ru.json, i18n.en.json) for the key the element carries, no text is outside
the catalogues but data, no English text and no bare key is left on a Russian page; the
language comes from the browser's Accept-Language, the RU/EN switch changes it in place and
is remembered; error frames are explained in the page's language; the playground and the
inspector draw who sent a frame with the same arrow and colour, as their legend says.

Screenshots (the portal in RU and EN, the playground in RU with frames) go to
test-artifacts/ (ignored by git). Waiting is WebDriverWait on what the page shows, never a
sleep.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from websockets.sync.client import connect

from ..support.browser import (
    ARTIFACTS,
    WAIT,
    StandProcess,
    console_errors,
    open_chromium,
    shown,
    stand_process,
    until,
)

pytestmark = pytest.mark.system  # headless Chromium

STATIC = Path(__file__).resolve().parents[2] / "qakit_trio" / "pages" / "static"
CATALOGUES: dict[str, dict[str, str]] = {
    lang: json.loads((STATIC / f"i18n.{lang}.json").read_text("utf-8")) for lang in ("ru", "en")
}
FORMS = ("one", "few", "many", "other")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PAGES = {  # path -> what shows that the page has drawn what it draws
    "/": "#service-state[data-i18n]",
    "/playground": "#template option",
    "/inspector": "#inspect-state.open",
    "/tasks": "#summary[data-i18n]",
    "/docs": ".opblock",
    "/asyncapi": '.message[data-operation="receiveEchoRequest"]',
    "/guides/guide/ru/start.md": "article.guide h1",
}
RUSSIAN_BROWSER = "ru-RU,ru,en-US,en"  # what a browser set to Russian sends
ENGLISH_BROWSER = "en-US,en"

# What a page shows, read in one go: the texts of the elements that carry a key, the
# attributes that do, the text outside any key and outside data, and the language.
READ_PAGE = """
const keyed = [...document.querySelectorAll("[data-i18n], [data-i18n-html]")].map((node) => ({
  key: node.getAttribute("data-i18n") ?? node.getAttribute("data-i18n-html"),
  args: JSON.parse(node.getAttribute("data-i18n-args") || "{}"),
  text: node.textContent}));
const attrs = [...document.querySelectorAll("[data-i18n-attr]")].flatMap((node) =>
  node.getAttribute("data-i18n-attr").split(";").map((pair) => {
    const [name, key] = pair.split(":");
    return {key, name, text: node.getAttribute(name)};
  }));
const unkeyed = [];
const shown = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  const parent = node.parentElement;
  if (!/\\p{L}/u.test(node.data) || parent.closest("script, style, noscript")) continue;
  if (parent.closest("[data-i18n], [data-i18n-html]")) shown.push(node.data);
  else if (!parent.closest("[data-raw]")) unkeyed.push(node.data.trim());
}
return {keyed, attrs, unkeyed, shown: shown.join("\\n") + "\\n" + document.title,
        lang: Stand.lang, html: document.documentElement.lang,
        header: document.querySelector("header.top")?.lang ?? null};
"""


@pytest.fixture(scope="module")
def stand() -> Iterator[StandProcess]:
    with stand_process() as running:
        yield running


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    """A browser set to English; the tests that change its remembered language use their own."""
    with open_chromium(ENGLISH_BROWSER) as browser:
        yield browser


def open_page(chrome: webdriver.Chrome, url: str, ready: str) -> None:
    chrome.get(url)
    until(
        chrome,
        lambda: shown(chrome, ready) and shown(chrome, "header.top nav a"),
        f"{url} shows {ready} and the header",
    )


def normal(text: str) -> str:
    return " ".join(text.split())


def expected(lang: str, key: str, args: dict[str, Any]) -> set[str]:
    """What t(key, args) may give: the text (or any plural form) with {names} filled, as the
    element's textContent shows it (markup gone)."""
    table = CATALOGUES[lang]
    texts = (
        [table[key]]
        if key in table
        else [table[f"{key}.{form}"] for form in FORMS if f"{key}.{form}" in table]
    )
    assert texts, f"no key {key} in {lang}"

    def fill(match: re.Match[str]) -> str:
        if match[1] not in args:
            return match[0]
        value = args[match[1]]
        return "null" if value is None else str(value)

    return {
        normal(html.unescape(re.sub(r"<[^>]+>", "", PLACEHOLDER.sub(fill, text)))) for text in texts
    }


def english_fragments() -> list[str]:
    """The English catalogue's texts that a Russian page must not show: each text's pieces
    between {placeholders}, markup gone, long enough to mean something, and not also found in
    a Russian text (names such as WebSocket, request_id or KAFKA_BOOTSTRAP_SERVERS are)."""
    russian = "\n".join(CATALOGUES["ru"].values())
    found = set()
    for key, text in CATALOGUES["en"].items():
        if text == CATALOGUES["ru"][key]:
            continue
        for piece in PLACEHOLDER.split(re.sub(r"<[^>]+>", "", html.unescape(text)))[::2]:
            piece = piece.strip(' .,:;()"')
            if len(piece) >= 5 and len(re.findall("[A-Za-z]", piece)) >= 3 and piece not in russian:
                found.add(piece)
    return sorted(found)


def check_page(chrome: webdriver.Chrome, lang: str, where: str) -> dict[str, Any]:
    """Everything the page shows against `lang`'s catalogue; what it read."""
    page: dict[str, Any] = chrome.execute_script(READ_PAGE)
    assert (page["lang"], page["header"]) == (lang, lang), where
    if not where.startswith("/guides/"):  # a guide's <html lang> is its text's own
        assert page["html"] == lang, where
    assert len(page["keyed"]) >= 7, where  # the header's seven links at least
    for item in page["keyed"] + page["attrs"]:
        assert normal(item["text"] or "") in expected(lang, item["key"], item.get("args", {})), (
            f"{where}: {item}"
        )
    assert page["unkeyed"] == [], f"{where}: text outside the catalogues and outside data"
    keys = [key for key in CATALOGUES[lang] if key in page["shown"]]
    assert keys == [], f"{where}: a key shown as text"
    if lang == "ru":
        left = [piece for piece in english_fragments() if piece in page["shown"]]
        assert left == [], f"{where}: English on the Russian page"
    assert console_errors(chrome) == [], where
    return page


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_page_shows_its_languages_catalogue_and_nothing_untranslated(
    chrome: webdriver.Chrome, stand: StandProcess, lang: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for path, ready in PAGES.items():
        open_page(chrome, f"{stand.url}{path}?lang={lang}", ready)
        check_page(chrome, lang, path)
        if path == "/":
            chrome.save_screenshot(str(ARTIFACTS / f"lang-portal-{lang}.png"))


def test_the_browsers_language_picks_the_pages_language(stand: StandProcess) -> None:
    for browser, lang in (
        (RUSSIAN_BROWSER, "ru"),
        (ENGLISH_BROWSER, "en"),
        ("de-DE,de", "en"),
        ("uk-UA,uk,ru", "ru"),
    ):
        with open_chromium(browser) as chrome:  # a fresh profile: nothing remembered
            open_page(chrome, f"{stand.url}/", PAGES["/"])
            page = check_page(chrome, lang, f"/ for {browser}")
            h1 = next(item["text"] for item in page["keyed"] if item["key"] == "portal.h1")
            assert h1 == CATALOGUES[lang]["portal.h1"]


def switch(chrome: webdriver.Chrome, lang: str) -> None:
    chrome.find_element(By.CSS_SELECTOR, f'.lang-switch button[data-lang="{lang}"]').click()
    until(chrome, lambda: chrome.execute_script("return Stand.lang") == lang, f"switched to {lang}")


def heading(chrome: webdriver.Chrome) -> str:
    return str(chrome.find_element(By.TAG_NAME, "h1").text)


def test_the_switch_changes_the_language_in_place_and_it_is_remembered(stand: StandProcess) -> None:
    ru, en = CATALOGUES["ru"], CATALOGUES["en"]
    with open_chromium(ENGLISH_BROWSER) as chrome:
        open_page(chrome, f"{stand.url}/", PAGES["/"])
        assert heading(chrome) == en["portal.h1"]
        pressed = shown(chrome, '.lang-switch button[aria-pressed="true"]')
        assert [button.text for button in pressed] == ["EN"]
        switch(chrome, "ru")
        check_page(chrome, "ru", "/ switched to ru")  # every text, the dynamic ones too
        assert heading(chrome) == ru["portal.h1"]
        chrome.refresh()  # remembered
        until(chrome, lambda: shown(chrome, "header.top nav a"), "the header")
        assert heading(chrome) == ru["portal.h1"]
        open_page(chrome, f"{stand.url}/playground", PAGES["/playground"])  # on every page
        check_page(chrome, "ru", "/playground after the switch")
        open_page(chrome, f"{stand.url}/tasks?lang=en", PAGES["/tasks"])  # the URL wins
        assert heading(chrome) == en["tasks.h1"]
        switch(chrome, "ru")  # and the switch writes itself into the URL's ?lang=
        assert chrome.current_url.endswith("/tasks?lang=ru")
        chrome.refresh()
        until(chrome, lambda: heading(chrome) == ru["tasks.h1"], "still Russian after a reload")


def side_colours(chrome: webdriver.Chrome) -> dict[str, list[str]]:
    """The arrow and colour of each sender, in the legend and in the log's rows."""
    found: dict[str, list[str]] = chrome.execute_script("""
        const seen = {};
        for (const node of document.querySelectorAll(".legend .dir, #log .frame > .dir")) {
          const side = [...node.classList].find((name) => name !== "dir");
          const where = node.closest(".legend") ? "legend" : "row";
          (seen[side] ??= new Set()).add(`${node.textContent} ${getComputedStyle(node).color}`);
          (seen[`${side} in`] ??= new Set()).add(where);
        }
        return Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v].sort()]));""")
    return found


def explanations(chrome: webdriver.Chrome) -> list[str]:
    return [node.text for node in shown(chrome, "#log .frame .explain")]


def send(chrome: webdriver.Chrome, text: str) -> None:
    message = chrome.find_element(By.ID, "message")
    message.clear()
    message.send_keys(text)
    chrome.find_element(By.ID, "send").click()


def test_errors_are_explained_and_both_frame_logs_draw_senders_alike(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    ru, en = CATALOGUES["ru"], CATALOGUES["en"]
    open_page(chrome, f"{stand.url}/playground?lang=ru", PAGES["/playground"])
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected")
    Select(chrome.find_element(By.ID, "template")).select_by_index(0)
    chrome.find_element(By.ID, "insert").click()
    chrome.find_element(By.ID, "send").click()
    until(
        chrome,
        lambda: len(shown(chrome, '#log .frame[data-dir="in"]')) >= 4,
        "the hello, then ack, echo and event",
    )
    send(chrome, "{not json")
    send(chrome, json.dumps({"action": "fly", "request_id": "r9"}))
    wanted = [ru["error.invalid_json"], ru["error.unknown_action"]]
    until(chrome, lambda: explanations(chrome) == wanted, "both errors explained in Russian")
    chrome.find_element(By.ID, "rest-path").clear()
    chrome.find_element(By.ID, "rest-path").send_keys("/orders/424242")
    chrome.find_element(By.ID, "rest-send").click()
    until(
        chrome,
        lambda: chrome.find_element(By.ID, "rest-explain").text == ru["http.404"],
        "the REST 404 explained",
    )
    assert ["/orders/424242" in entry["message"] for entry in console_errors(chrome)] == [True]
    check_page(chrome, "ru", "/playground with frames")  # the dynamic texts too
    playground = side_colours(chrome)
    chrome.execute_script("window.scrollTo(0, 0)")
    chrome.save_screenshot(str(ARTIFACTS / "lang-playground-ru.png"))
    assert [row.text for row in shown(chrome, '#log .frame[data-dir="out"] > .dir')] == ["→"] * 3
    assert {row.text for row in shown(chrome, '#log .frame[data-dir="in"] > .dir')} == {"←"}
    switch(chrome, "en")  # in place: the frames stay, their texts change
    until(
        chrome,
        lambda: explanations(chrome) == [en["error.invalid_json"], en["error.unknown_action"]],
        "the explanations in English",
    )
    check_page(chrome, "en", "/playground switched to en")

    open_page(chrome, f"{stand.url}/inspector?lang=ru", PAGES["/inspector"])
    with connect(f"{stand.ws}/ws?channel=lang") as client:
        json.loads(client.recv(timeout=WAIT))
        client.send("{not json")
        json.loads(client.recv(timeout=WAIT))
    until(
        chrome,
        lambda: explanations(chrome) == [ru["error.invalid_json"]],
        "the client's bad frame and the stand's error, explained",
    )
    assert [row.text for row in shown(chrome, '#log .frame[data-dir="in"] > .dir')] == ["→"]
    check_page(chrome, "ru", "/inspector with frames")
    inspector = side_colours(chrome)
    for side in ("client", "stand"):  # one arrow and one colour, in both legends and logs
        assert len(playground[side]) == 1, side
        assert playground[side] == inspector[side], side
        assert playground[f"{side} in"] == inspector[f"{side} in"] == ["legend", "row"], side
    assert playground["client"] != playground["stand"]


def test_the_asyncapi_page_shows_the_stands_profile_and_the_other_on_demand(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    echo = '.message[data-operation="receiveEchoRequest"] .answers code'
    default, original = (
        ["ack", "echo", "event", "error"],
        ["ack (qa_kit)", "echo (qa_kit)", "event (qa_kit)", "error (qa_kit)"],
    )

    def answers() -> list[str]:
        return [node.text for node in shown(chrome, echo) if node.is_displayed()]

    def original_schemas() -> int:
        return len(
            [
                node
                for node in shown(chrome, '.frame-schema[data-message^="QaKit"]')
                if node.is_displayed()
            ]
        )

    open_page(chrome, f"{stand.url}/asyncapi?lang=ru", PAGES["/asyncapi"])
    assert (answers(), original_schemas()) == (default, 0)  # this stand's profile: qakit
    chrome.find_element(By.ID, "other-profile").click()
    assert (answers(), original_schemas()) == (default + original, 9)
    with stand_process({"QAKIT_PROFILE": "qa_kit"}) as qa_kit:  # the other way round
        open_page(chrome, f"{qa_kit.url}/asyncapi?lang=ru", PAGES["/asyncapi"])
        assert answers() == original
        chrome.find_element(By.ID, "other-profile").click()
        assert answers() == default + original


def test_the_swagger_page_has_the_stands_header_and_switch(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, f"{stand.url}/docs?lang=ru", PAGES["/docs"])
    current = shown(chrome, 'header.top nav a[aria-current="page"]')
    assert [(link.get_attribute("href"), link.text) for link in current] == [
        (f"{stand.url}/docs", CATALOGUES["ru"]["nav.docs"])
    ]
    switch(chrome, "en")
    assert current[0].text == CATALOGUES["en"]["nav.docs"]
    assert shown(chrome, ".opblock")  # Swagger UI itself untouched
