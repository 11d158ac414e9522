"""The orders actions of the envelope protocol on /ws, against both stores."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from ..support.helpers import connected, receive_json, request, running_server
from ..support.timeouts import TIMEOUT


async def test_create_get_list_change(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(**store_settings) as server, connected(server) as (ws, _):
            created = await request(
                ws, {"action": "create_order", "request_id": "c1", "payload": {"customer": "Yulia"}}
            )
            assert [f["type"] for f in created] == ["ack", "order", "event"]
            assert {f["request_id"] for f in created} == {"c1"}
            order = created[1]["data"]
            assert (order["id"], order["customer"], order["status"]) == (1, "Yulia", "created")
            assert created[2]["name"] == "order.created"
            assert created[2]["extra"] == {"order_id": 1, "customer": "Yulia", "status": "created"}

            viewed = await request(ws, {"action": "get_order", "payload": {"id": 1}})
            assert viewed[1]["type"] == "order"
            assert viewed[1]["data"] == order
            assert (viewed[2]["name"], viewed[2]["extra"]) == ("order.viewed", {"id": 1})

            missing = await request(ws, {"action": "get_order", "payload": {"id": 42}})
            assert [f["type"] for f in missing] == ["ack", "order", "event"]
            assert missing[1]["data"] is None  # as the protocol says: data null, not an error

            paid = await request(
                ws,
                {
                    "action": "change_status",
                    "request_id": 9,
                    "payload": {"id": 1, "status": "paid"},
                },
            )
            assert paid[1]["data"]["status"] == "paid"
            assert (paid[2]["name"], paid[2]["extra"]["previous_status"]) == (
                "order.status_changed",
                "created",
            )

            for n in range(2, 8):
                await request(ws, {"action": "create_order", "payload": {"customer": f"c{n}"}})
            listed = await request(ws, {"action": "list_orders"})
            assert [o["id"] for o in listed[1]["data"]] == [7, 6, 5, 4, 3]  # newest first, 5
            assert listed[1]["type"] == "orders"
            assert (listed[2]["name"], listed[2]["extra"]) == (
                "order.listed",
                {"limit": 5, "count": 5},
            )
            two = await request(ws, {"action": "list_orders", "payload": {"limit": 2}})
            assert [o["id"] for o in two[1]["data"]] == [7, 6]


async def test_invalid_transition_has_the_exact_text(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(**store_settings) as server, connected(server) as (ws, _):
            await request(ws, {"action": "create_order", "payload": {"customer": "a"}})
            for status in ("paid", "shipped", "delivered"):
                await request(
                    ws, {"action": "change_status", "payload": {"id": 1, "status": status}}
                )
            frames = await request(
                ws,
                {
                    "action": "change_status",
                    "request_id": "late",
                    "payload": {"id": 1, "status": "paid"},
                },
                until="error",
            )
            assert frames[-1] | {"ts": None} == {
                "type": "error",
                "request_id": "late",
                "error": "invalid_transition",
                "message": "Cannot change status from 'delivered' to 'paid'",
                "ts": None,
            }
            gone = await request(
                ws,
                {"action": "change_status", "payload": {"id": 9, "status": "paid"}},
                until="error",
            )
            assert (gone[-1]["error"], gone[-1]["id"]) == ("not_found", 9)


BAD = [
    ("get_order", {}, "id"),
    ("get_order", {"id": "1"}, "id"),
    ("get_order", {"id": 1.5}, "id"),
    ("get_order", {"id": True}, "id"),
    ("change_status", {"status": "paid"}, "id"),
    ("change_status", {"id": 1}, "status"),
    ("change_status", {"id": 1, "status": "lost"}, "status"),
    ("change_status", {"id": 1, "status": 5}, "status"),
    ("create_order", {}, "customer"),
    ("create_order", {"customer": ""}, "customer"),
    ("create_order", {"customer": 7}, "customer"),
    ("create_order", {"customer": "x" * 201}, "customer"),
    ("list_orders", {"limit": 0}, "limit"),
    ("list_orders", {"limit": 101}, "limit"),
    ("list_orders", {"limit": "5"}, "limit"),
]


@pytest.mark.parametrize(("action", "payload", "field"), BAD)
async def test_wrong_fields_are_refused_not_coerced(
    action: str, payload: dict[str, Any], field: str
) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, connected(server) as (ws, _):
            frames = await request(ws, {"action": action, "payload": payload}, until="error")
            assert [f["type"] for f in frames] == ["ack", "error"]
            assert (frames[1]["error"], frames[1]["field"]) == ("validation_error", field)
            assert (await request(ws, {"action": "list_orders"}))[1]["data"] == []


async def test_the_orders_channel_sees_every_change(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            connected(server, "orders") as (watcher, _),
            connected(server) as (ws, _),
        ):
            created = await request(
                ws, {"action": "create_order", "request_id": "r", "payload": {"customer": "Ann"}}
            )
            seen = await receive_json(watcher)
            assert seen == created[2]  # the same frame: name, extra, request_id and event_id


async def test_a_requester_in_the_orders_channel_gets_its_event_once(
    store_settings: dict[str, Any],
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            connected(server, "orders") as (ws, _),
        ):
            created = await request(
                ws, {"action": "create_order", "request_id": "r", "payload": {"customer": "Ann"}}
            )
            assert [f["type"] for f in created] == ["ack", "order", "event"]
            # the next frame answers the next request: no second copy of order.created
            echoed = await request(ws, {"action": "echo", "request_id": "e"})
            assert [(f["type"], f["request_id"]) for f in echoed] == [
                ("ack", "e"),
                ("echo", "e"),
                ("event", "e"),
            ]
