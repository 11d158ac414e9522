"""The REST orders API (the original stand's paths and shapes), both stores; OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from ..support.helpers import running_server

TIMEOUT = 20


async def test_orders_api(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server(**store_settings) as server, httpx.AsyncClient(
                base_url=server.http) as http:
            assert (await http.get("/orders")).json() == []
            created = await http.post("/orders", json={"customer": "Yulia"})
            assert created.status_code == 200
            order = created.json()
            assert (order["id"], order["customer"], order["status"]) == (1, "Yulia", "created")
            await http.post("/orders", json={"customer": "Ivan"})
            assert [o["id"] for o in (await http.get("/orders")).json()] == [1, 2]
            assert (await http.get("/orders/1")).json() == order

            missing = await http.get("/orders/99")
            assert (missing.status_code, missing.json()) == (404, {"detail": "Order not found"})

            steps = [("pay", "paid"), ("ship", "shipped"), ("deliver", "delivered")]
            for verb, status in steps:
                changed = await http.post(f"/orders/1/{verb}")
                assert (changed.status_code, changed.json()["status"]) == (200, status)
            refused = await http.post("/orders/1/cancel")
            assert (refused.status_code, refused.json()) == (
                400, {"detail": "Cannot change status from 'delivered' to 'cancelled'"})
            cancelled = await http.post("/orders/2/cancel")
            assert cancelled.json()["status"] == "cancelled"
            assert (await http.post("/orders/99/pay")).json() == {"detail": "Order not found"}


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("POST", "/orders", None, 422, "body"),
    ("POST", "/orders", [1], 422, "body"),
    ("POST", "/orders", {}, 422, "customer"),
    ("POST", "/orders", {"customer": ""}, 422, "customer"),
    ("POST", "/orders", {"customer": 5}, 422, "customer"),
    ("GET", "/orders/abc", None, 422, "id"),
    ("POST", "/orders/1.5/pay", None, 422, "id"),
])
async def test_bad_input_is_422_json(method: str, path: str, body: Any, status: int,
                                     field: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            content = None if body is None else json.dumps(body)
            response = await http.request(method, path, content=content)
            assert response.status_code == status
            assert response.json()["field"] == field
            assert response.json()["detail"]


async def test_unknown_verb_is_404_json() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await http.post("/orders", json={"customer": "a"})
            response = await http.post("/orders/1/refund")
            assert response.status_code == 404
            assert "pay" in response.json()["detail"]


async def test_openapi_document_covers_every_rest_route() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            document = (await http.get("/openapi.json")).json()
            assert document["openapi"].startswith("3.")
            documented = {(path, method) for path, ops in document["paths"].items()
                          for method in ops}
            docs = await http.get("/docs")
            assert docs.status_code == 200
            assert "swagger-ui" in docs.text
            assert "/openapi.json" in docs.text
        routes = set()
        for rule in server.app.url_map.iter_rules():
            if rule.websocket or rule.rule in ("/openapi.json", "/docs", "/static/<path:filename>"):
                continue
            path = rule.rule.replace("<raw_id>", "{order_id}")
            for method in rule.methods or ():
                if method in ("GET", "POST"):
                    if "<verb>" in path:
                        routes |= {(path.replace("<verb>", verb), "post")
                                   for verb in ("pay", "ship", "deliver", "cancel")}
                    else:
                        routes.add((path, method.lower()))
        assert routes == documented
