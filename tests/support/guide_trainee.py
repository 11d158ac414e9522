"""A trainee's test suite, written from the two QA Kit guides (the legacy orders protocol on
ws://localhost:8000/ws/orders, the WebSocket service on ws://localhost:8002/ws and its REST
routes) the way a trainee writes one: a plain synchronous WebSocket client, exact frames where
the guides show them. It knows nothing of qakit-trio.

    python -m tests.support.guide_trainee [--original-order]

prints one JSON line: {"passed": [...], "failed": {name: reason}}. `--original-order`: the
requester's legacy frames come as the original stand sent them (the event, then the result).
Run by tests/test_guides.py inside a private network namespace, next to a plain `qakit-trio`.
"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

LEGACY = "ws://localhost:8000/ws/orders"
WS = "ws://localhost:8002/ws"
HTTP = "http://localhost:8002"
ORDERS_API = "http://localhost:8000"
CHECKS: list[Callable[[bool], None]] = []


def check(test: Callable[[bool], None]) -> Callable[[bool], None]:
    CHECKS.append(test)
    return test


def ask(ws: ClientConnection, message: dict[str, Any], count: int = 1) -> list[dict[str, Any]]:
    ws.send(json.dumps(message))
    return [json.loads(ws.recv(timeout=5)) for _ in range(count)]


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, json.loads(answer.read())


def result_and_event(
    frames: list[dict[str, Any]], original_order: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    return (frames[1], frames[0]) if original_order else (frames[0], frames[1])


@check
def legacy_guide_walkthrough(original_order: bool) -> None:
    with connect(LEGACY) as me, connect(LEGACY) as other:
        assert ask(me, {"action": "ping"}) == [{"type": "pong"}]
        result, event = result_and_event(
            ask(me, {"action": "create_order", "customer": "Yulia"}, 2), original_order
        )
        assert result == {
            "type": "result",
            "action": "create_order",
            "order": {"id": 1, "customer": "Yulia", "status": "created"},
        }
        created = {"type": "order_created", "order_id": 1, "customer": "Yulia", "status": "created"}
        assert event == created
        assert json.loads(other.recv(timeout=5)) == created
        result, event = result_and_event(
            ask(me, {"action": "change_status", "order_id": 1, "status": "paid"}, 2), original_order
        )
        assert result == {
            "type": "result",
            "action": "change_status",
            "order": {"id": 1, "customer": "Yulia", "status": "paid"},
        }
        assert event == {
            "type": "order_status_changed",
            "order_id": 1,
            "customer": "Yulia",
            "status": "paid",
        }
        assert ask(me, {"action": "get_order", "order_id": 1}) == [
            {
                "type": "result",
                "action": "get_order",
                "order": {"id": 1, "customer": "Yulia", "status": "paid"},
            }
        ]
        for status in ("shipped", "delivered"):
            ask(me, {"action": "change_status", "order_id": 1, "status": status}, 2)
        assert ask(me, {"action": "change_status", "order_id": 1, "status": "paid"}) == [
            {
                "type": "error",
                "action": "change_status",
                "error": "Cannot change status from 'delivered' to 'paid'",
            }
        ]


@check
def legacy_errors(original_order: bool) -> None:
    with connect(LEGACY) as me:
        me.send("{not json")
        assert json.loads(me.recv(timeout=5)) == {"type": "error", "error": "invalid_json"}
        assert ask(me, {"action": "dance"}) == [
            {"type": "error", "error": "unknown_action", "raw_action": "dance"}
        ]
        assert ask(me, {"action": "get_order", "order_id": 999}) == [
            {"type": "error", "action": "get_order", "error": "order not found"}
        ]
        assert ask(me, {"action": "create_order"}) == [
            {"type": "error", "action": "create_order", "error": "customer is required"}
        ]
        assert ask(me, {"action": "ping"}) == [{"type": "pong"}]


@check
def rest_orders_api(original_order: bool) -> None:
    status, order = http("POST", f"{ORDERS_API}/orders", {"customer": "Rest"})
    assert status == 200
    assert set(order) == {"id", "customer", "status"}
    assert http("POST", f"{ORDERS_API}/orders/{order['id']}/pay")[1]["status"] == "paid"
    assert http("GET", f"{ORDERS_API}/orders/{order['id']}")[1]["status"] == "paid"
    try:
        http("GET", f"{ORDERS_API}/orders/424242")
    except urllib.error.HTTPError as error:
        missing = (error.code, json.loads(error.read()))
    else:
        raise AssertionError("GET of a missing order did not fail")
    assert missing == (404, {"detail": "Order not found"})


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


@check
def ws_guide_actions(original_order: bool) -> None:
    with connect(f"{WS}?channel=general") as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "system"
        echo = ask(
            ws, {"action": "echo", "payload": {"text": "hello"}, "request_id": "r-echo-1"}, 3
        )
        assert types(echo) == ["ack", "echo", "event"]
        assert {f["request_id"] for f in echo} == {"r-echo-1"}
        assert echo[1]["data"] == {"text": "hello"}
        assert echo[2]["name"] == "ws.echo"
        triplet = ask(ws, {"action": "triplet_demo", "payload": {}, "request_id": "r-triplet-1"}, 4)
        assert types(triplet) == ["ack", "step", "step", "event"]
        assert [f.get("step") for f in triplet[1:3]] == [1, 2]
        assert triplet[3]["name"] == "ws.triplet_demo"
        order = ask(ws, {"action": "get_order", "payload": {"id": 1}, "request_id": "r-order-1"}, 3)
        assert types(order) == ["ack", "order", "event"]
        assert order[1]["data"]["customer"] == "Yulia"
        assert order[2]["name"] == "order.viewed"
        listed = ask(ws, {"action": "list_orders", "payload": {}, "request_id": "r-orders-1"}, 3)
        assert types(listed) == ["ack", "orders", "event"]
        assert listed[1]["data"][0]["id"] >= listed[1]["data"][-1]["id"]  # newest first
        assert listed[2]["name"] == "order.listed"
        unknown = ask(ws, {"action": "dance", "request_id": "r-bad-1"}, 2)
        assert types(unknown) == ["ack", "error"]
        assert unknown[1]["request_id"] == "r-bad-1"
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=5))["type"] == "error"
        assert types(ask(ws, {"action": "echo", "request_id": "after"}, 3))[0] == "ack"


@check
def ws_broadcasts_and_rest(original_order: bool) -> None:
    with connect(f"{WS}?channel=room") as a, connect(f"{WS}?channel=room") as b:
        a.recv(timeout=5), b.recv(timeout=5)  # hello frames
        a.send(
            json.dumps(
                {"action": "broadcast", "payload": {"message": "hi all"}, "request_id": "r-bc-1"}
            )
        )
        seen = json.loads(b.recv(timeout=5))
        assert (seen["type"], seen["message"]) == ("message", "hi all")
        status, answer = http("POST", f"{HTTP}/broadcast?message=hello&channel=room")
        assert (status, answer["ok"], answer["connections"]) == (200, True, 2)
        assert json.loads(b.recv(timeout=5))["message"] == "hello"
        assert http("GET", f"{HTTP}/health")[1]["status"] == "ok"
        assert http("GET", f"{HTTP}/stats")[1]["channels"]["room"] == 2


def main() -> None:
    original_order = "--original-order" in sys.argv
    passed, failed = [], {}
    for test in CHECKS:
        try:
            test(original_order)
            passed.append(test.__name__)
        except Exception:  # a trainee's runner: report every failure, go on
            failed[test.__name__] = traceback.format_exc(limit=2)[-600:]
    print(json.dumps({"passed": passed, "failed": failed}))


if __name__ == "__main__":
    main()
