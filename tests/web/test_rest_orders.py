"""The REST orders API (the original stand's paths and shapes), both stores; OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from qakit_trio.web import pages

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


# FastAPI's 422 bodies, byte for byte, as the original stand answered (pydantic 2 errors), and
# our own stricter rules in the same shape (README: differences from the original).
MISSING_BODY = '{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}'
BAD_INPUT = [
    ("POST", "/orders", None, None, MISSING_BODY),
    ("POST", "/orders", "null", None, MISSING_BODY),
    ("POST", "/orders", "[1]", None,
     '{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid '
     'dictionary or object to extract fields from","input":[1]}]}'),
    ("POST", "/orders", '{"customer": "Юлия"}', "text/plain",
     '{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid '
     'dictionary or object to extract fields from","input":"{\\"customer\\": \\"Юлия\\"}"}]}'),
    ("POST", "/orders", "{}", None,
     '{"detail":[{"type":"missing","loc":["body","customer"],"msg":"Field required",'
     '"input":{}}]}'),
    ("POST", "/orders", '{"name": "Юлия"}', None,
     '{"detail":[{"type":"missing","loc":["body","customer"],"msg":"Field required",'
     '"input":{"name":"Юлия"}}]}'),
    ("POST", "/orders", '{"customer": 5}', None,
     '{"detail":[{"type":"string_type","loc":["body","customer"],"msg":"Input should be a '
     'valid string","input":5}]}'),
    ("POST", "/orders", '{"customer": "Yulia",}', None,
     '{"detail":[{"type":"json_invalid","loc":["body",21],"msg":"JSON decode error",'
     '"input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}'),
    ("POST", "/orders", '{"customer": ""}', None,
     '{"detail":[{"type":"value_error","loc":["body","customer"],"msg":"Value error, customer '
     'must not be empty","input":"","ctx":{"error":{}}}]}'),
    ("GET", "/orders/abc", None, None,
     '{"detail":[{"type":"int_parsing","loc":["path","order_id"],"msg":"Input should be a valid '
     'integer, unable to parse string as an integer","input":"abc"}]}'),
    ("POST", "/orders/1.5/pay", None, None,
     '{"detail":[{"type":"int_parsing","loc":["path","order_id"],"msg":"Input should be a valid '
     'integer, unable to parse string as an integer","input":"1.5"}]}'),
]


@pytest.mark.parametrize(("method", "path", "content", "content_type", "body"), BAD_INPUT)
async def test_bad_input_is_fastapis_422(method: str, path: str, content: str | None,
                                         content_type: str | None, body: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            headers = {} if content_type is None else {"Content-Type": content_type}
            response = await http.request(method, path, content=content, headers=headers)
            assert (response.status_code, response.text) == (422, body)


async def test_unknown_verb_and_missing_orders_are_404() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await http.post("/orders", json={"customer": "a"})
            refund = await http.post("/orders/1/refund")
            assert (refund.status_code, refund.text) == (404, '{"detail":"Not Found"}')
            for path in ("/orders/2", "/orders/0", "/orders/-1", "/orders/99999999999999999999"):
                response = await http.get(path)
                assert (response.status_code, response.text) == (
                    404, '{"detail":"Order not found"}'), path


async def test_orders_are_the_originals_shape_in_field_order_and_utf8() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            created = await http.post("/orders", json={"customer": "Юлия"})
            expected = '{"id":1,"customer":"Юлия","status":"created"}'
            assert (created.status_code, created.text) == (200, expected)
            assert (await http.get("/orders/1")).text == expected
            assert (await http.get("/orders")).text == f"[{expected}]"
            paid = await http.post("/orders/1/pay")
            assert paid.text == '{"id":1,"customer":"Юлия","status":"paid"}'


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
            if rule.websocket or rule.rule in ("/openapi.json", "/static/<path:filename>",
                                               *pages.HTML_ROUTES):
                continue
            path = rule.rule.replace("<raw_id>", "{order_id}").replace("<event_id>",
                                                                     "{event_id}")
            for method in rule.methods or ():
                if method in ("GET", "POST", "PUT", "DELETE"):
                    if "<verb>" in path:
                        routes |= {(path.replace("<verb>", verb), "post")
                                   for verb in ("pay", "ship", "deliver", "cancel")}
                    else:
                        routes.add((path, method.lower()))
        assert routes == documented
