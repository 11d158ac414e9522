"""REST ↔ /ws ↔ /ws/orders: one change, through any door, is one event with one event_id,
seen by every /ws client of the orders channel and the log, and by every /ws/orders client in
the legacy protocol's frame (the original's fields: no event_id there)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from .support.helpers import connected, receive_json, request, running_server
from .support.timeouts import TIMEOUT


async def test_one_change_seen_everywhere(
    store_settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server, "orders") as (watcher, _),
            connected(server, "orders") as (watcher2, _),
            connected(server, "general") as (requester, _),
            open_websocket_url(f"{server.ws}/ws/orders") as legacy1,
            open_websocket_url(f"{server.ws}/ws/orders") as legacy2,
        ):

            async def seen_by_all(expected_type: str, status: str) -> str:
                """What each place received for the latest change; returns its event_id."""
                frames = [await receive_json(watcher), await receive_json(watcher2)]
                legacy = [await receive_json(legacy2)]
                ids = {f["event_id"] for f in frames}
                assert len(ids) == 1
                assert legacy[0] == {
                    "type": expected_type,
                    "order_id": 1,
                    "customer": frames[0]["extra"]["customer"],
                    "status": status,
                }
                assert {f["name"] for f in frames} == {
                    "order.created" if expected_type == "order_created" else "order.status_changed"
                }
                assert {f["extra"]["status"] for f in frames} == {status}
                assert legacy[0]["type"] == expected_type
                assert legacy[0]["status"] == status
                return str(ids.pop())

            # door 1: REST
            await http.post("/orders", json={"customer": "Rest"})
            rest_id = await seen_by_all("order_created", "created")
            assert (await receive_json(legacy1))["type"] == "order_created"

            # door 2: /ws
            frames = await request(
                requester,
                {
                    "action": "change_status",
                    "request_id": "w",
                    "payload": {"id": 1, "status": "paid"},
                },
            )
            ws_id = await seen_by_all("order_status_changed", "paid")
            assert frames[-1]["event_id"] == ws_id  # the requester's own event frame
            assert (await receive_json(legacy1))["status"] == "paid"

            # door 3: /ws/orders
            await legacy1.send_message(
                json.dumps({"action": "change_status", "order_id": 1, "status": "shipped"})
            )
            result = await receive_json(legacy1)
            assert result["type"] == "result"  # the requester's result comes first
            legacy_id = await seen_by_all("order_status_changed", "shipped")
            assert (await receive_json(legacy1))["status"] == "shipped"

            # and REST reads what the others did
            assert (await http.get("/orders/1")).json()["status"] == "shipped"

    logged = Counter(
        r.fields["event_id"]  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "event" and r.fields.get("order_id") == 1  # type: ignore[attr-defined]
    )
    assert logged == {rest_id: 1, ws_id: 1, legacy_id: 1}  # one log line per event
