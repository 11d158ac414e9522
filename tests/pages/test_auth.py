"""The pages with QAKIT_AUTH=on in a real headless Chromium (issue 25): the portal's sign-in box
keeps the token in sessionStorage, the playground sends it (`?token=` on its WebSocket URLs,
`Authorization: Bearer` on REST), a teacher page asks for the teacher token when its call
answers 401/403. With QAKIT_AUTH off nothing of it shows, and no token is ever sent.

Waiting is WebDriverWait on what the page shows, bounded, never a sleep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ..support.browser import (
    StandProcess,
    browser_log,
    network,
    open_chromium,
    shown,
    stand_process,
    until,
)

pytestmark = pytest.mark.system  # headless Chromium

TEACHER = "teacher-token-0123456789"
CODE = "lesson-7"
AUTH_ON = {
    "QAKIT_AUTH": "on",
    "QAKIT_TEACHER_TOKEN": TEACHER,
    "QAKIT_CLASS_CODE": CODE,
    "QAKIT_JWT_SECRET": "pages-test-secret-of-thirty-two!",
}


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    with open_chromium() as browser:
        yield browser


def kept(chrome: webdriver.Chrome) -> dict[str, object] | None:
    """What the pages keep in this tab's sessionStorage (stand.js's Stand.AUTH_KEY)."""
    value = chrome.execute_script("return sessionStorage.getItem('qakit.auth')")
    return None if value is None else dict(json.loads(str(value)))


def hello_frames(chrome: webdriver.Chrome) -> list[dict[str, object]]:
    """The hello frames the playground logged (`system`, with its `connection_id`)."""
    rows = shown(chrome, '#log .frame[data-dir="in"][data-type="system"] .text')
    frames = [json.loads(row.get_attribute("textContent") or "{}") for row in rows]
    return [frame for frame in frames if "connection_id" in frame]


def connect_playground(chrome: webdriver.Chrome, stand: StandProcess) -> list[str]:
    """Open /playground, connect to /ws; the WebSocket URLs the browser opened."""
    chrome.get(f"{stand.url}/playground")
    until(chrome, lambda: shown(chrome, "#template option"), "the playground is ready")
    network(chrome)  # empty the log: what follows is the connection's
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: hello_frames(chrome), "the hello frame")
    return [url for url in network(chrome).urls if url.startswith("ws://")]


def test_signed_in_on_the_portal_the_playground_opens_ws_as_that_user(
    chrome: webdriver.Chrome,
) -> None:
    with stand_process(AUTH_ON) as stand:
        chrome.get(stand.url + "/")
        until(chrome, lambda: shown(chrome, "#auth:not(.hidden) #sign-in"), "the sign-in box")
        assert chrome.find_element(By.ID, "auth-needs").is_displayed()  # what needs a token
        assert kept(chrome) is None
        chrome.find_element(By.ID, "auth-name").send_keys("ivan")
        chrome.find_element(By.ID, "auth-code").send_keys("wrong")
        chrome.find_element(By.ID, "auth-submit").click()
        until(
            chrome, lambda: "401" in chrome.find_element(By.ID, "auth-error").text, "refused: 401"
        )
        assert kept(chrome) is None
        chrome.find_element(By.ID, "auth-code").clear()
        chrome.find_element(By.ID, "auth-code").send_keys(CODE)
        chrome.find_element(By.ID, "auth-submit").click()
        until(chrome, lambda: "ivan" in chrome.find_element(By.ID, "auth-welcome").text, "in")
        assert not chrome.find_element(By.ID, "auth-needs").is_displayed()
        assert "ivan" in chrome.find_element(By.ID, "auth-user").text  # the header says who
        token = kept(chrome)
        assert token is not None
        assert (token["name"], token["role"]) == ("ivan", "trainee")
        assert CODE not in json.dumps(token)  # the class code is not kept

        opened = connect_playground(chrome, stand)
        hello = hello_frames(chrome)[0]
        assert (hello["user"], hello["role"]) == ("ivan", "trainee")
        assert len(opened) == 1
        assert f"token={token['token']}" in opened[0]  # a browser's way: ?token=
        shown_url = chrome.find_element(By.ID, "url").get_attribute("value") or ""
        assert "token" not in shown_url  # the URL field does not show it
        assert chrome.find_element(By.ID, "pg-token").is_displayed()

        Select(chrome.find_element(By.ID, "method")).select_by_visible_text("GET")
        path = chrome.find_element(By.ID, "rest-path")
        path.clear()
        path.send_keys("/stats")  # a trainee's route: 200 with the bearer the page sends
        chrome.find_element(By.ID, "rest-send").click()
        until(chrome, lambda: chrome.find_element(By.ID, "rest-status").text == "200", "200")

        # a teacher's page: 403 for a trainee, so the page asks for the teacher token
        chrome.get(f"{stand.url}/tasks")
        until(chrome, lambda: shown(chrome, "#teacher-box #teacher-token"), "asked for it")
        chrome.find_element(By.ID, "teacher-token").send_keys(TEACHER)
        chrome.find_element(By.ID, "teacher-sign-in").click()
        until(chrome, lambda: shown(chrome, ".task.service"), "the task tree, as the teacher")
        assert not shown(chrome, "#teacher-box")
        teacher = kept(chrome)
        assert teacher is not None
        assert teacher["role"] == "teacher"
        assert teacher["token"] != TEACHER  # a token of the stand's, not the teacher's own

        chrome.find_element(By.ID, "sign-out").click()
        until(chrome, lambda: kept(chrome) is None, "signed out")
        console = " ".join(entry["message"] for entry in browser_log(chrome, "browser"))
        assert TEACHER not in console
        assert str(token["token"]) not in console  # no secret in the console either
    assert TEACHER not in "\n".join(stand.lines)  # nor in the stand's output
    assert str(token["token"]) not in "\n".join(stand.lines)


def test_with_auth_off_the_pages_do_not_sign_in_nor_send_a_token(
    chrome: webdriver.Chrome,
) -> None:
    with stand_process() as stand:
        chrome.get(stand.url + "/")
        until(chrome, lambda: shown(chrome, "#urls tbody tr"), "the portal")
        assert not chrome.find_element(By.ID, "auth").is_displayed()
        assert not shown(chrome, "#auth-who")  # no "signed in as" in the header
        chrome.execute_script(
            "sessionStorage.setItem('qakit.auth', JSON.stringify({token: 'stale', name: 'x',"
            " role: 'trainee', expires_at: 4102444800}))"
        )  # a token from another stand's tab: unused when this one has auth off
        opened = connect_playground(chrome, stand)
        hello = hello_frames(chrome)[0]
        assert "user" not in hello
        assert opened == [f"{stand.ws}/ws?channel=general"]
        assert not chrome.find_element(By.ID, "pg-signed-out").is_displayed()
        assert not chrome.find_element(By.ID, "pg-token").is_displayed()
        chrome.get(f"{stand.url}/tasks")
        until(chrome, lambda: shown(chrome, ".task.service"), "the task tree, as before")
        assert not shown(chrome, "#teacher-box")
        chrome.execute_script("sessionStorage.clear()")
