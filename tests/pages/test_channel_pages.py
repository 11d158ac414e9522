"""The channel pages of issue 27 in a real headless Chromium (as tests/pages/test_browser.py):
the playground's channel templates, sent in a trainee's order (subscribe, broadcast there,
history, presence, unsubscribe), and the `since` it fills in from the last offset and epoch it
saw, which the stand recovers from; the inspector's table listing a connection's
subscriptions. Screenshots go to test-artifacts/ (ignored by git)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    with open_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def stand() -> Iterator[StandProcess]:
    with stand_process() as running:
        yield running


def open_page(chrome: webdriver.Chrome, stand: StandProcess, path: str, ready: str) -> None:
    chrome.get(stand.url + path)
    until(chrome, lambda: shown(chrome, ready), f"{path} shows {ready}")


def frames_of(chrome: webdriver.Chrome, request_id: str) -> list[str]:
    group = shown(chrome, f'#log .group[data-request-id="{request_id}"] .frame')
    return [row.get_attribute("data-type") or "" for row in group]


def send_template(chrome: webdriver.Chrome, key: str) -> dict[str, Any]:
    """Insert the template named by catalogue key `key`, send it; the message sent."""
    [option] = shown(chrome, f'#template option[data-i18n="{key}"]')
    Select(chrome.find_element(By.ID, "template")).select_by_value(
        option.get_attribute("value") or ""
    )
    chrome.find_element(By.ID, "insert").click()
    sent: dict[str, Any] = json.loads(
        chrome.find_element(By.ID, "message").get_attribute("value") or ""
    )
    chrome.find_element(By.ID, "send").click()
    until(chrome, lambda: frames_of(chrome, sent["request_id"])[-1:] == ["event"], f"{key}'s event")
    return sent


def received(chrome: webdriver.Chrome, request_id: str, kind: str) -> dict[str, Any]:
    [row] = shown(chrome, f'#log .group[data-request-id="{request_id}"] .frame[data-type="{kind}"]')
    frame: dict[str, Any] = json.loads(row.find_element(By.CSS_SELECTOR, ".text").text)
    return frame


def test_the_playground_channel_templates_and_the_since_it_fills_in(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/playground", "#template option")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected")
    until(chrome, lambda: shown(chrome, '#positions [data-channel="general"]'), "hello's")
    assert send_template(chrome, "tpl.subscribe")["payload"]["join_leave"] is True
    sent = send_template(chrome, "tpl.broadcastChannel")
    message = received(chrome, sent["request_id"], "message")
    assert message["channel"] == sent["payload"]["channel"] == "news"
    position = {"offset": message["offset"], "epoch": message["epoch"]}
    news = '#positions [data-channel="news"]'
    until(
        chrome,
        lambda: (
            shown(chrome, news)
            and json.dumps({"since": position}, separators=(",", ":"))[1:-1]
            in shown(chrome, news)[0].text
        ),
        "the news channel's last offset and epoch shown",
    )
    for key in ("tpl.history", "tpl.presence", "tpl.unsubscribe"):
        send_template(chrome, key)
    sent = send_template(chrome, "tpl.subscribeSince")
    assert sent["payload"]["since"] == position  # the last seen, not the template's own
    subscribed = received(chrome, sent["request_id"], "subscribed")["data"]
    assert (subscribed["recovered"], subscribed["offset"]) == (True, position["offset"])
    assert console_errors(chrome) == []
    ARTIFACTS.mkdir(exist_ok=True)
    chrome.save_screenshot(str(ARTIFACTS / "page-playground-channels.png"))
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.closed"), "closed")


def test_the_inspector_lists_a_connections_subscriptions(
    chrome: webdriver.Chrome, stand: StandProcess
) -> None:
    open_page(chrome, stand, "/inspector", "#inspect-state.open")
    with connect(f"{stand.ws}/ws?channel=seminar") as client:
        hello = json.loads(client.recv(timeout=WAIT))
        cell = f'#connections tr[data-conn="{hello["connection_id"]}"] td.subs'
        until(chrome, lambda: shown(chrome, f'{cell} [data-channel="seminar"]'), "its URL's")
        client.send(
            json.dumps(
                {
                    "action": "subscribe",
                    "request_id": "sub",
                    "payload": {"channel": "briefing", "join_leave": True},
                }
            )
        )
        replies = [json.loads(client.recv(timeout=WAIT)) for _ in range(3)]
        assert [reply["type"] for reply in replies] == ["ack", "subscribed", "event"]
        until(
            chrome,
            lambda: (
                [node.text for node in shown(chrome, f"{cell} [data-channel]")]
                == ["seminar", "briefing"]
            ),
            "both subscriptions, in their order",
        )
        marks = shown(chrome, f'{cell} [data-i18n="insp.joinLeave"]')
        assert [mark.text for mark in marks] == ["(with join/leave)"]  # briefing's alone
        ARTIFACTS.mkdir(exist_ok=True)
        chrome.save_screenshot(str(ARTIFACTS / "page-inspector-subscriptions.png"))
    assert console_errors(chrome) == []
