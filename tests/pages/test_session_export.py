"""Saving a session from the pages (issue 29), in a real headless Chromium (as tests/pages/
test_browser.py): the playground records a session of two connections, both files are
downloaded, valid (HAR 1.2 and Chrome's WebSocket entry: tests/support/har.py), read back by
the stand's reader alike, and the HAR holds what Chromium's own DevTools protocol saw of the
same sockets (Network.webSocketFrameSent / Received in the browser's performance log): the
same frames, in the same order, at the same moments; `qakit-trio replay` replays either file
green against the same stand. The inspector saves the frames of the connection it watches:
exactly what that client sent and received, a publication to its channel included. Every
frame the stand sent on /ws is checked against the AsyncAPI document.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from websockets.sync.client import ClientConnection, connect

from qakit_trio.wire.session_har import read_har
from qakit_trio.wire.session_jsonl import read_jsonl
from qakit_trio.wire.sessions import Connection, Session

from ..support import contract
from ..support.browser import (
    ARTIFACTS,
    WAIT,
    StandProcess,
    browser_log,
    console_errors,
    open_chromium,
    shown,
    stand_process,
    until,
)
from ..support.har import har_errors
from ..support.timeouts import SERVICE_TIMEOUT

pytestmark = pytest.mark.system  # headless Chromium

# The page stamps a frame when its event runs, DevTools when the network stack has it: the
# same moment give or take the page's event loop on a loaded machine (a unit slip, ms for s,
# is a factor of 1000 off).
SAME_MOMENT = 5.0  # seconds


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    with open_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def stand() -> Iterator[StandProcess]:
    with stand_process() as running:
        yield running


def downloads_to(chrome: webdriver.Chrome, folder: Path) -> None:
    chrome.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)}
    )


def save(chrome: webdriver.Chrome, folder: Path, prefix: str) -> tuple[str, str]:
    """Click both buttons; the HAR and the JSON lines the browser saved."""
    return saved(chrome, folder, prefix, "har"), saved(chrome, folder, prefix, "jsonl")


def saved(chrome: webdriver.Chrome, folder: Path, prefix: str, suffix: str) -> str:
    chrome.find_element(By.ID, f"save-{suffix}").click()
    pattern = f"qakit-{prefix}-*.{suffix}"
    found: list[Path] = until(chrome, lambda: sorted(folder.glob(pattern)), f"{pattern} saved")
    [path] = found
    # Chromium may show the file by its name before it has written all of it (seen once in a
    # clean-clone run: an empty HAR): wait for the whole of it, a complete last line or object
    end = "}" if suffix == "har" else "\n"

    def whole() -> str | None:
        text = path.read_text("utf-8")
        return text if (text.rstrip() if end == "}" else text).endswith(end) else None

    text: str = until(chrome, whole, f"{path.name} written whole")
    path.unlink()
    return text


def checked(har: str, jsonl: str) -> Session:
    """The session of both files: valid HAR, the same frames in both."""
    assert har_errors(json.loads(har)) == []
    session = read_har(har, "saved.har")
    assert read_jsonl(jsonl, "saved.jsonl") == Session(
        tuple(Connection(c.name, c.url, c.frames) for c in session.connections)
    )
    for connection in session.connections:
        times = [frame.time for frame in connection.frames]
        assert times == sorted(times), connection.name
        for frame in connection.received():
            assert isinstance(frame.data, str)
            contract.check(urlsplit(connection.url).path, frame.data)
    return session


def devtools_sockets(chrome: webdriver.Chrome) -> list[tuple[str, list[tuple[str, str, float]]]]:
    """What Chromium's DevTools protocol saw of the page's WebSockets since the performance
    log was last read: each socket's URL and its data frames (type, data, wall-clock time)."""
    sockets: dict[str, tuple[str, list[tuple[str, str, float]]]] = {}
    offset: dict[str, float] = {}  # wall clock - the protocol's monotonic clock, per socket
    for entry in browser_log(chrome, "performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.webSocketCreated":
            sockets[params["requestId"]] = (params["url"], [])
        elif method == "Network.webSocketWillSendHandshakeRequest":
            offset[params["requestId"]] = params["wallTime"] - params["timestamp"]
        elif method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
            frame = params["response"]
            if frame["opcode"] not in (1, 2) or params["requestId"] not in sockets:
                continue
            data = frame["payloadData"]
            if frame["opcode"] == 2:
                data = base64.b64decode(data).decode("latin-1")
            kind = "send" if method.endswith("Sent") else "receive"
            at = params["timestamp"] + offset.get(params["requestId"], 0.0)
            sockets[params["requestId"]][1].append((kind, data, at))
    return list(sockets.values())


def send_template(chrome: webdriver.Chrome, key: str, last: str) -> None:
    """Insert the template of catalogue key `key`, send it, wait for its `last` frame."""
    [option] = shown(chrome, f'#template option[data-i18n="{key}"]')
    Select(chrome.find_element(By.ID, "template")).select_by_value(
        option.get_attribute("value") or ""
    )
    chrome.find_element(By.ID, "insert").click()
    sent = json.loads(chrome.find_element(By.ID, "message").get_attribute("value") or "")
    chrome.find_element(By.ID, "send").click()
    css = f'#log .frame[data-request-id="{sent["request_id"]}"][data-type="{last}"]'
    until(chrome, lambda: shown(chrome, css), f"{key}'s {last}")


def test_the_playground_saves_its_session_as_devtools_saw_it(
    chrome: webdriver.Chrome, stand: StandProcess, tmp_path: Path
) -> None:
    downloads_to(chrome, tmp_path)
    chrome.get(stand.url + "/playground")
    until(chrome, lambda: shown(chrome, "#template option"), "the templates")
    assert not chrome.find_element(By.ID, "save-har").is_enabled()  # nothing recorded yet
    browser_log(chrome, "performance")  # empty the log: what follows is the session's
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected to /ws")
    send_template(chrome, "tpl.echo", "event")
    send_template(chrome, "tpl.broadcast", "event")
    until(chrome, lambda: shown(chrome, '#log .frame[data-type="message"]'), "its own copy")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.closed"), "closed")
    Select(chrome.find_element(By.ID, "path")).select_by_value("/ws/echo")
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.open"), "connected to /ws/echo")
    message = chrome.find_element(By.ID, "message")
    message.clear()
    message.send_keys("not JSON, «и не ASCII»")
    chrome.find_element(By.ID, "send").click()
    echoed = '#log .frame[data-dir="in"] .text'
    until(
        chrome,
        lambda: [row.text for row in shown(chrome, echoed)][-1:] == ["not JSON, «и не ASCII»"],
        "the echo",
    )
    har, jsonl = save(chrome, tmp_path, "playground")
    session = checked(har, jsonl)
    seen = devtools_sockets(chrome)
    assert [connection.url for connection in session.connections] == [url for url, _ in seen]
    assert [url.split("?")[0] for url, _ in seen] == [f"{stand.ws}/ws", f"{stand.ws}/ws/echo"]
    for connection, (_, frames) in zip(session.connections, seen, strict=True):
        assert [(f.direction, f.data) for f in connection.frames] == [
            (kind, data) for kind, data, _ in frames
        ]
        for frame, (_, _, at) in zip(connection.frames, frames, strict=True):
            assert abs(frame.time - at) < SAME_MOMENT, (frame, at)
    [ws, echo] = session.connections
    assert [json.loads(str(f.data))["action"] for f in ws.sent()] == ["echo", "broadcast"]
    assert len(ws.received()) > len(ws.sent())  # the hello, each one's replies
    assert [f.data for f in echo.frames] == ["not JSON, «и не ASCII»"] * 2
    recorded = f"{session.frame_count()} frames recorded"
    assert chrome.find_element(By.ID, "recorded").text == recorded
    assert console_errors(chrome) == []
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "playground-session.har").write_text(har, "utf-8")
    for name, text in (("session.har", har), ("session.jsonl", jsonl)):  # replayed green
        path = tmp_path / name
        path.write_text(text, "utf-8")
        replayed = subprocess.run(
            [sys.executable, "-m", "qakit_trio", "replay", str(path), "--url", stand.ws],
            capture_output=True,
            text=True,
            timeout=SERVICE_TIMEOUT,
            check=False,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert replayed.stdout.startswith("OK 2 connections"), replayed.stdout
    set_bugs(stand, ["duplicate_event"])  # the same session on a stand with a bug: a diff
    try:
        replayed = subprocess.run(
            [
                sys.executable,
                "-m",
                "qakit_trio",
                "replay",
                str(tmp_path / "session.har"),
                "--url",
                stand.ws,
            ],
            capture_output=True,
            text=True,
            timeout=SERVICE_TIMEOUT,
            check=False,
        )
    finally:
        set_bugs(stand, [])
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert replayed.stdout.startswith("DIFFERENT: 1 of 2 connections"), replayed.stdout
    assert "connection 1 (/ws" in replayed.stdout, replayed.stdout  # the /ws one, not the echo
    assert '"type": "event"' in replayed.stdout or '"type":"event"' in replayed.stdout, (
        replayed.stdout
    )
    chrome.find_element(By.ID, "clear").click()
    assert chrome.find_element(By.ID, "recorded").text == "0 frames recorded"
    chrome.find_element(By.ID, "connect").click()
    until(chrome, lambda: shown(chrome, "#ws-state.closed"), "closed")


def received_until(client: ClientConnection, kind: str) -> list[str]:
    """The frames `client` receives up to one of type `kind`, each checked by the contract."""
    frames: list[str] = []
    while not frames or json.loads(frames[-1])["type"] != kind:
        text = client.recv(timeout=WAIT)
        assert isinstance(text, str)
        contract.check("/ws", text)
        frames.append(text)
    return frames


IN_SEMINAR = """return [...document.querySelectorAll("#connections tr[data-conn]")]
  .filter((row) => row.textContent.includes("seminar")).map((row) => row.dataset.conn)"""
CLICK_WATCH = 'document.querySelector(`tr[data-conn="${arguments[0]}"] button`).click()'


def hello(client: ClientConnection) -> str:
    text = client.recv(timeout=WAIT)
    assert isinstance(text, str)
    contract.check("/ws", text)
    return text


def test_the_inspector_saves_the_frames_of_the_connection_it_watches(
    chrome: webdriver.Chrome, stand: StandProcess, tmp_path: Path
) -> None:
    downloads_to(chrome, tmp_path)
    chrome.get(stand.url + "/inspector")
    until(chrome, lambda: shown(chrome, "#inspect-state.open"), "the inspector live")
    url = f"{stand.ws}/ws?channel=seminar"
    with connect(url) as watched:
        received = [hello(watched)]
        # the hello of the qa_kit profile names no connection: the table's one row in seminar
        # (read and clicked in the page: the table is drawn anew every second)
        [conn] = until(chrome, lambda: chrome.execute_script(IN_SEMINAR), "its row")
        chrome.execute_script(CLICK_WATCH, conn)
        until(chrome, lambda: conn in chrome.find_element(By.ID, "watching").text, "watched")
        sent = [json.dumps({"action": "echo", "request_id": "r1", "payload": {"text": "hi"}})]
        watched.send(sent[0])
        received += received_until(watched, "event")
        with connect(url) as other:
            hello(other)
            broadcast = {"action": "broadcast", "request_id": "b1", "payload": {"message": "hey"}}
            other.send(json.dumps(broadcast))
            received += received_until(watched, "message")  # published to the channel
            received_until(other, "event")
        rows = f'#log .frame[data-conn="{conn}"]'
        until(
            chrome,
            lambda: (
                len(shown(chrome, rows)) == len(sent) + len(received) - 1
                and shown(chrome, '#log .frame[data-dir="publish"]')
            ),
            "its frames and the publication shown",
        )
        har, jsonl = save(chrome, tmp_path, f"inspector-{conn}")
    session = checked(har, jsonl)
    [mine] = [connection for connection in session.connections if connection.name == conn]
    assert mine.url == url
    assert [f.data for f in mine.sent()] == sent
    assert [f.data for f in mine.received()] == received
    assert console_errors(chrome) == []


def set_bugs(stand: StandProcess, names: list[str]) -> None:
    """PUT /lab/bugs on the stand (QAKIT_AUTH off: anyone may)."""
    body = json.dumps({"enabled": names}).encode()
    put = urllib.request.Request(
        f"{stand.url}/lab/bugs", body, {"Content-Type": "application/json"}, method="PUT"
    )
    with urllib.request.urlopen(put, timeout=SERVICE_TIMEOUT) as answer:
        assert answer.status == 200
