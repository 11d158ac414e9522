"""The default launch serves both guides' URLs (8002 and 8000); a busy default port is skipped
with a WARNING, a busy given one is an error. Run in a private network namespace
(support/netns_stand.py), so the real default ports are free, whatever this machine runs."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio

from .support.timeouts import SERVICE_TIMEOUT

pytestmark = pytest.mark.system  # the stand as a process in a network namespace of its own

SWITCHING = "HTTP/1.1 101 "


async def stand_in_netns(occupy: list[int], args: list[str], **more: Any) -> dict[str, Any]:
    """What support/netns_stand.py reports (`more`: its optional "env" and "client")."""
    request = json.dumps({"occupy": occupy, "args": args, **more})
    with trio.fail_after(SERVICE_TIMEOUT):
        done = await trio.run_process(
            ["unshare", "-rn", sys.executable, "-m", "tests.support.netns_stand", request],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def logged(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report["lines"] if line.startswith("{")]


async def test_no_arguments_serve_both_guides_urls() -> None:
    report = await stand_in_netns([], [])
    assert report["health"] == {"8000": 200, "8002": 200}
    assert all(line.startswith(SWITCHING) for line in report["upgrade"].values()), report
    ready = next(line for line in logged(report) if line["message"] == "ready")
    assert ready["qakit.urls.ws"] == ["ws://127.0.0.1:8002/ws", "ws://127.0.0.1:8000/ws"]
    assert ready["qakit.urls.ws_orders"] == [
        "ws://127.0.0.1:8002/ws/orders",
        "ws://127.0.0.1:8000/ws/orders",
    ]
    assert ready["qakit.urls.docs"] == ["http://127.0.0.1:8002/docs", "http://127.0.0.1:8000/docs"]
    assert ready["qakit.urls.portal"] == ["http://127.0.0.1:8002/", "http://127.0.0.1:8000/"]
    assert ready["qakit.urls.health"] == [
        "http://127.0.0.1:8002/health",
        "http://127.0.0.1:8000/health",
    ]
    assert report["returncode"] == 0


async def test_a_busy_default_port_is_skipped_with_a_warning() -> None:
    report = await stand_in_netns([8000], [])
    assert report["health"]["8002"] == 200
    assert report["upgrade"]["8002"].startswith(SWITCHING)
    warning = next(line for line in logged(report) if line["log.level"] == "warning")
    assert warning["qakit.bind"] == "127.0.0.1:8000"
    assert "127.0.0.1:8000 is already in use: serving on 127.0.0.1:8002 only" in warning["message"]
    ready = next(line for line in logged(report) if line["message"] == "ready")
    assert ready["qakit.urls.ws_orders"] == ["ws://127.0.0.1:8002/ws/orders"]


async def test_both_default_ports_busy_or_a_busy_given_port_is_an_error_naming_it() -> None:
    both = await stand_in_netns([8000, 8002], [])
    assert both["returncode"] == 1
    assert any(
        "127.0.0.1:8002, 127.0.0.1:8000: address already in use" in line for line in both["lines"]
    ), both["lines"]
    given = await stand_in_netns([8002], ["--bind", "127.0.0.1:8002"])
    assert given["returncode"] == 1
    assert any(
        line.startswith("qakit-trio: 127.0.0.1:8002: address already in use")
        for line in given["lines"]
    ), given["lines"]
    assert given["health"] == {
        "8000": "error: <urlopen error [Errno 111] Connection refused>",
        "8002": given["health"]["8002"],
    }  # 8002: our own holder socket
