"""The classroom's pages (issue 26): the teacher's board (/classroom), a trainee's own page (/me)
and "report a bug" in the playground.

Fast: both pages are served, in the browser's language, with every text key they name in both
catalogues; /classroom is a lab page (QAKIT_LAB_PAGES=0: 404), /me is not; with QAKIT_AUTH=on
both are page shells anyone may load (their data needs the token).

In a real headless Chromium (system), against the stand started as a process with QAKIT_AUTH=on:
a trainee signs in on the portal, the teacher signs in on /classroom and deals bugs from the
board, the trainee sends a frame that shows one of them in the playground, points at the wrong
frame and submits it: a fabricated pick is "not reproduced" (both replies side by side), the
right one "confirmed" with the bug's name; the board shows the confirmed finding and the
progress, /me names only the bug found until the teacher reveals the rest, findings.csv
downloads with the teacher's token. Waiting is WebDriverWait on what a page shows, never a sleep.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from qakit_trio.testing import open_stand

from ..support.browser import (
    ARTIFACTS,
    StandProcess,
    console_errors,
    open_chromium,
    shown,
    stand_process,
    until,
)
from ..support.class_auth import AUTH, CODE, SECRET, TEACHER
from ..support.timeouts import TIMEOUT
from .test_languages import check_page, switch

STATIC = Path(__file__).resolve().parents[2] / "qakit_trio" / "pages" / "static"
CATALOGUES: dict[str, dict[str, str]] = {
    lang: json.loads((STATIC / f"i18n.{lang}.json").read_text("utf-8")) for lang in ("ru", "en")
}
FILES = ("classroom.html", "classroom.js", "me.html", "me.js", "report.js", "playground.html")
HTML_KEYS = re.compile(r'data-i18n(?:-html)?="([^"]+)"|data-i18n-attr="[^"]*?:([^";]+)')
JS_KEYS = re.compile(r'"((?:cls|me|rep|find)\.[A-Za-z_.]+)"')
PLURAL = ("one", "few", "many", "other")
AUTH_ON = {**AUTH, "QAKIT_JWT_SECRET": SECRET}
TRAINEE = "ivan"
BUG, OTHER = "duplicate_event", "list_orders_off_by_one"  # dealt both: one found, one not
EXPECTED = "<b>one</b> event per request"  # markup a trainee typed: shown as text, never run


def keys_named(name: str) -> set[str]:
    text = (STATIC / name).read_text("utf-8")
    if name.endswith(".html"):
        return {key for pair in HTML_KEYS.findall(text) for key in pair if key}
    return set(JS_KEYS.findall(text))


def test_every_key_the_classroom_pages_name_is_in_both_catalogues() -> None:
    named = set().union(*(keys_named(name) for name in FILES))
    assert {"cls.h1", "cls.dealButton", "me.h1", "rep.submit", "find.confirmed"} <= named
    for lang, table in CATALOGUES.items():
        missing = [
            key
            for key in sorted(named)
            if key not in table and f"{key}.other" not in table  # a plural: t() picks the form
        ]
        assert missing == [], lang
    for plural in ("cls.count", "me.count"):
        assert all(f"{plural}.{form}" in CATALOGUES["ru"] for form in PLURAL)


async def page(settings: dict[str, str], path: str, lang: str | None = None) -> tuple[int, str]:
    async with open_stand(settings) as stand:
        headers = {"Accept-Language": lang} if lang else None
        status, body = await stand.request("GET", path, headers=headers)
        return status, str(body)


async def test_classroom_and_me_are_served_in_the_browsers_language() -> None:
    with trio.fail_after(TIMEOUT):
        for path, script, title in (
            ("/classroom", "classroom.js", "cls.title"),
            ("/me", "me.js", "me.title"),
        ):
            for lang in ("ru", "en"):
                status, text = await page({}, path, f"{lang}-RU,{lang};q=0.9")
                assert status == 200, path
                assert text.startswith(f'<!doctype html>\n<html lang="{lang}">'), path
                assert f'<script src="/assets/{script}"></script>' in text
                assert f'data-i18n="{title}"' in text
        assert (await page({"QAKIT_LAB_PAGES": "0"}, "/classroom"))[0] == 404  # a lab page
        assert (await page({"QAKIT_LAB_PAGES": "0"}, "/me"))[0] == 200  # a trainee's
        for path in ("/classroom", "/me", "/assets/report.js"):  # shells: no token needed
            assert (await page(AUTH_ON, path))[0] == 200, path
        status, shell = await page(AUTH_ON, "/playground")
        assert status == 200
        assert '<script src="/assets/report.js"></script>' in shell
        assert 'id="rep-submit"' in shell


# ---- in a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand() -> Iterator[StandProcess]:
    with stand_process(AUTH_ON) as running:
        yield running


def script_errors(chrome: webdriver.Chrome) -> list[str]:
    """The page's own JavaScript errors (not a 401 the page answered by asking for a token)."""
    return [
        entry["message"]
        for entry in console_errors(chrome)
        if "Failed to load resource" not in entry["message"]
    ]


def sign_in_trainee(chrome: webdriver.Chrome, stand: StandProcess) -> None:
    chrome.get(stand.url + "/")
    until(chrome, lambda: shown(chrome, "#auth:not(.hidden) #sign-in"), "the sign-in box")
    chrome.find_element(By.ID, "auth-name").send_keys(TRAINEE)
    chrome.find_element(By.ID, "auth-code").send_keys(CODE)
    chrome.find_element(By.ID, "auth-submit").click()
    until(chrome, lambda: TRAINEE in chrome.find_element(By.ID, "auth-welcome").text, "in")


def open_board(chrome: webdriver.Chrome, stand: StandProcess) -> None:
    chrome.get(stand.url + "/classroom?lang=en")
    until(chrome, lambda: shown(chrome, "#teacher-box #teacher-token"), "asked for the token")
    chrome.find_element(By.ID, "teacher-token").send_keys(TEACHER)
    chrome.find_element(By.ID, "teacher-sign-in").click()
    until(chrome, lambda: shown(chrome, f'#people tr[data-name="{TRAINEE}"]'), "the trainee")
    until(chrome, lambda: shown(chrome, f'#pool input[value="{BUG}"]'), "the pool")


def cell(chrome: webdriver.Chrome, column: str) -> str:
    found = shown(chrome, f'#people tr[data-name="{TRAINEE}"] td.{column}')
    return str(found[0].text) if found else ""


def dealt(chrome: webdriver.Chrome) -> list[str]:
    return [
        str(code.text) for code in shown(chrome, f'#people tr[data-name="{TRAINEE}"] .bugs code')
    ]


def deal(chrome: webdriver.Chrome) -> None:
    chrome.find_element(By.ID, "pool-none").click()
    for bug in (BUG, OTHER):
        chrome.find_element(By.CSS_SELECTOR, f'#pool input[value="{bug}"]').click()
    chrome.find_element(By.ID, "per-trainee").clear()
    chrome.find_element(By.ID, "per-trainee").send_keys("2")
    chrome.find_element(By.ID, "seed").send_keys("7")
    chrome.find_element(By.ID, "deal").click()
    until(chrome, lambda: "seed 7" in chrome.find_element(By.ID, "deal-result").text, "dealt")
    until(chrome, lambda: sorted(dealt(chrome)) == sorted([BUG, OTHER]), "ivan's bugs")
    assert cell(chrome, "progress") == "0/2"


def send_echo(chrome: webdriver.Chrome, stand: StandProcess) -> None:
    chrome.get(stand.url + "/playground?lang=en")
    until(chrome, lambda: shown(chrome, "#template option"), "the playground")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, '#log .frame[data-type="system"]'), "the hello")
    assert not shown(chrome, "#log .frame .pick")  # the hello answers no step
    Select(chrome.find_element(By.ID, "template")).select_by_index(0)  # echo
    chrome.find_element(By.ID, "insert").click()
    chrome.find_element(By.ID, "send").click()
    until(
        chrome,
        lambda: len(shown(chrome, '#log .frame[data-type="event"][data-step="1"]')) == 2,
        "the event frame, twice: the trainee's bug",
    )


def report(chrome: webdriver.Chrome, frame: int) -> str:
    """Point at reply `frame` of step 1, submit; the verdict's status."""
    chrome.find_element(
        By.CSS_SELECTOR, f'#log .frame[data-step="1"][data-frame="{frame}"] .pick'
    ).click()
    assert chrome.find_element(By.ID, "rep-picked").text == f"step 1, reply {frame}"
    chrome.find_element(By.ID, "rep-expected").clear()
    chrome.find_element(By.ID, "rep-expected").send_keys(EXPECTED)
    chrome.execute_script("document.getElementById('rep-verdict').replaceChildren()")
    chrome.find_element(By.ID, "rep-submit").click()
    verdict = until(chrome, lambda: shown(chrome, "#rep-verdict #verdict"), "the verdict")
    return str(verdict[0].get_attribute("data-status"))


def my_bugs(chrome: webdriver.Chrome) -> list[str]:
    return [str(node.text) for node in shown(chrome, "#my-bugs code")]


@pytest.mark.system
def test_deal_report_and_see_it_confirmed_on_the_board_and_on_me(
    stand: StandProcess, tmp_path: Path
) -> None:
    with open_chromium() as trainee, open_chromium() as teacher:
        sign_in_trainee(trainee, stand)  # a token first: the trainee is on the roster
        open_board(teacher, stand)
        assert cell(teacher, "signedIn") == "yes"
        deal(teacher)

        send_echo(trainee, stand)
        recorded = trainee.execute_script("return Report.steps")
        assert [step["path"] for step in recorded] == ["/ws?channel=general"]
        assert "token" not in json.dumps(recorded)  # the socket's ?token= is left out
        events = shown(trainee, '#log .frame[data-type="event"][data-step="1"]')
        first, second = (int(str(row.get_attribute("data-frame"))) for row in events)
        assert report(trainee, first) == "not_reproduced"  # the same on a clean stand
        sides = [node.text for node in shown(trainee, "#verdict pre.clean, #verdict pre.buggy")]
        assert len(sides) == 2
        assert all('"type": "event"' in side for side in sides)
        assert report(trainee, second) == "confirmed"
        assert trainee.find_element(By.ID, "verdict-bug").text == BUG
        assert script_errors(trainee) == []
        switch(trainee, "ru")  # the panel and the verdict in the other language, in place
        check_page(trainee, "ru", "/playground with a verdict")
        ARTIFACTS.mkdir(exist_ok=True)
        trainee.execute_script("document.getElementById('report').scrollIntoView()")
        trainee.save_screenshot(str(ARTIFACTS / "classroom-report-ru.png"))

        def confirmed_on_board() -> bool:
            rows = shown(teacher, f'#people tr[data-name="{TRAINEE}"] .finding')
            return [row.get_attribute("data-status") for row in rows] == [
                "confirmed",
                "not_reproduced",
            ]

        until(teacher, confirmed_on_board, "the confirmed finding on the board")
        assert BUG in cell(teacher, "findings")
        assert cell(teacher, "progress") == "1/2"

        trainee.get(stand.url + "/me?lang=en")
        until(trainee, lambda: len(shown(trainee, "#findings tbody tr")) == 2, "both findings")
        assert trainee.find_element(By.ID, "me-progress").text == "1/2"
        assert my_bugs(trainee) == [BUG]  # not the one not found: its name is never sent
        assert OTHER not in trainee.page_source
        latest = trainee.find_element(By.CSS_SELECTOR, "#findings tbody tr")
        assert latest.get_attribute("data-status") == "confirmed"
        expected = latest.find_elements(By.CSS_SELECTOR, "td")[4]
        assert expected.text == EXPECTED  # as text
        assert expected.find_elements(By.TAG_NAME, "b") == []  # not as markup

        teacher.find_element(By.CSS_SELECTOR, f'#people tr[data-name="{TRAINEE}"] .reveal').click()
        until(teacher, lambda: shown(teacher, "td.actions .revealed"), "revealed")
        trainee.find_element(By.ID, "refresh").click()
        until(trainee, lambda: sorted(my_bugs(trainee)) == sorted([BUG, OTHER]), "both named")

        teacher.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
        )
        teacher.find_element(By.ID, "csv").click()
        saved = tmp_path / "findings.csv"
        until(teacher, saved.exists, "findings.csv downloaded")
        rows = list(csv.DictReader(saved.read_text("utf-8").splitlines()))
        assert [(row["trainee"], row["status"], row["bug"]) for row in rows] == [
            (TRAINEE, "not_reproduced", ""),
            (TRAINEE, "confirmed", BUG),
        ]
        assert rows[1]["expected"] == EXPECTED
        teacher.save_screenshot(str(ARTIFACTS / "classroom-board.png"))
        assert script_errors(teacher) == []
        for chrome, path, ready in (
            (teacher, "/classroom", f'#people tr[data-name="{TRAINEE}"] .finding'),
            (trainee, "/me", "#findings tbody tr"),
        ):
            chrome.get(f"{stand.url}{path}?lang=ru")  # still signed in: this tab's token
            until(chrome, lambda: shown(chrome, ready), f"{path} in Russian")  # noqa: B023
            check_page(chrome, "ru", path)
