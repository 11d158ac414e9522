"""A real headless Chromium for the page tests (tests/pages/), and a stand to point it at.

Debian's `chromium` and `chromium-driver`, installed with apt-get when missing (as the
PostgreSQL fixture installs PostgreSQL); driven with selenium, no browser download at run time.
The browser records its console and its network log (Chrome's performance log), so a test can
assert that a page made no request to another host, and weigh what it loaded.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from .pg import installed

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # ignored by git
START_TIMEOUT = 30.0


def find_chromium() -> tuple[str, str]:
    """(browser, driver) paths; installs Debian's packages if they are missing."""
    return installed("chromium", "chromium"), installed("chromedriver", "chromium-driver")


@contextmanager
def open_chromium(languages: str = "en-US,en") -> Iterator[webdriver.Chrome]:
    """A headless Chromium whose user prefers `languages` (its Accept-Language header and
    navigator.languages, as a browser set to those languages sends them)."""
    browser, driver = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        f"--lang={languages.split(',')[0]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": languages})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        chrome.set_page_load_timeout(30)
        yield chrome
    finally:
        chrome.quit()


@dataclass
class Network:
    """What one page load asked the network for, from the performance log."""

    urls: list[str] = field(default_factory=list)
    bytes: int = 0  # bytes received for every request (encodedDataLength: headers included)
    failed: list[str] = field(default_factory=list)


WAIT = 20  # seconds, for anything a page should show


def until(chrome: webdriver.Chrome, check: Callable[[], Any], what: str) -> Any:
    """Wait (at most WAIT) until `check()` is truthy; return it. `what` names it on failure.
    A check that read an element the page has just re-rendered (a push, a refresh) is tried
    again: CI saw `StaleElementReferenceException` from a list read while it was redrawn."""
    wait = WebDriverWait(chrome, WAIT, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda _: check(), message=what)


def shown(chrome: webdriver.Chrome, css: str) -> list[WebElement]:
    return chrome.find_elements(By.CSS_SELECTOR, css)


def browser_log(chrome: webdriver.Chrome, kind: str) -> list[dict[str, Any]]:
    """One of the browser's logs (selenium's get_log has no type hints)."""
    entries: list[dict[str, Any]] = chrome.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def network(chrome: webdriver.Chrome) -> Network:
    """Read (and empty) the browser's performance log."""
    seen = Network()
    sizes: dict[str, int] = {}
    for entry in browser_log(chrome, "performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            seen.urls.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            seen.urls.append(params["url"])
        elif method == "Network.loadingFinished":
            sizes[params["requestId"]] = int(params.get("encodedDataLength", 0))
        elif method == "Network.loadingFailed":
            seen.failed.append(params.get("errorText", "?"))
    seen.bytes = sum(sizes.values())
    return seen


def console_errors(chrome: webdriver.Chrome) -> list[dict[str, Any]]:
    return [entry for entry in browser_log(chrome, "browser") if entry["level"] == "SEVERE"]


@dataclass
class StandProcess:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    lines: list[str]

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")


@contextmanager
def stand_process(env: dict[str, str] | None = None) -> Iterator[StandProcess]:
    """`python -m qakit_trio` on a free port, with its output read by a thread; stopped (and
    reaped) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qakit_trio", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "QAKIT_PING_INTERVAL": "0", **(env or {})},
    )
    assert process.stdout is not None
    lines: list[str] = []
    urls: queue.Queue[str] = queue.Queue()

    def read(stdout: Any) -> None:
        for raw in stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            match = re.search(r"Running on (http://[0-9.]+:[0-9]+)", line)
            if match:
                urls.put(match[1])

    reader = threading.Thread(target=read, args=(process.stdout,), daemon=True)
    reader.start()
    try:
        try:
            url = urls.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise RuntimeError("the stand did not start:\n" + "\n".join(lines)) from None
        yield StandProcess(url, process, lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        process.stdout.close()
