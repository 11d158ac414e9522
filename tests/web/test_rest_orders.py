"""The REST orders API (the original stand's paths and shapes), both stores; OpenAPI."""

from __future__ import annotations

import gc
import time
from typing import Any

import httpx
import psycopg
import pytest
import trio

from qakit_trio.web import pages

from ..support.helpers import Server, running_server
from ..support.timeouts import LOAD_TIMEOUT, TIMEOUT


async def test_orders_api(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
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
                400,
                {"detail": "Cannot change status from 'delivered' to 'cancelled'"},
            )
            cancelled = await http.post("/orders/2/cancel")
            assert cancelled.json()["status"] == "cancelled"
            assert (await http.post("/orders/99/pay")).json() == {"detail": "Order not found"}


# FastAPI's 422 bodies, byte for byte, as the original stand answered (pydantic 2 errors), and
# our own stricter rules in the same shape (README: differences from the original).
MISSING_BODY = '{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}'
BAD_INPUT = [
    ("POST", "/orders", None, None, MISSING_BODY),
    ("POST", "/orders", "null", None, MISSING_BODY),
    (
        "POST",
        "/orders",
        "[1]",
        None,
        '{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid '
        'dictionary or object to extract fields from","input":[1]}]}',
    ),
    (
        "POST",
        "/orders",
        '{"customer": "Юлия"}',
        "text/plain",
        '{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid '
        'dictionary or object to extract fields from","input":"{\\"customer\\": \\"Юлия\\"}"}]}',
    ),
    (
        "POST",
        "/orders",
        "{}",
        None,
        '{"detail":[{"type":"missing","loc":["body","customer"],"msg":"Field required",'
        '"input":{}}]}',
    ),
    (
        "POST",
        "/orders",
        '{"name": "Юлия"}',
        None,
        '{"detail":[{"type":"missing","loc":["body","customer"],"msg":"Field required",'
        '"input":{"name":"Юлия"}}]}',
    ),
    (
        "POST",
        "/orders",
        '{"customer": 5}',
        None,
        '{"detail":[{"type":"string_type","loc":["body","customer"],"msg":"Input should be a '
        'valid string","input":5}]}',
    ),
    (
        "POST",
        "/orders",
        '{"customer": "Yulia",}',
        None,
        '{"detail":[{"type":"json_invalid","loc":["body",21],"msg":"JSON decode error",'
        '"input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}',
    ),
    (
        "POST",
        "/orders",
        '{"customer": ""}',
        None,
        '{"detail":[{"type":"value_error","loc":["body","customer"],"msg":"Value error, customer '
        'must not be empty","input":"","ctx":{"error":{}}}]}',
    ),
    (
        "GET",
        "/orders/abc",
        None,
        None,
        '{"detail":[{"type":"int_parsing","loc":["path","order_id"],"msg":"Input should be a valid '
        'integer, unable to parse string as an integer","input":"abc"}]}',
    ),
    (
        "POST",
        "/orders/1.5/pay",
        None,
        None,
        '{"detail":[{"type":"int_parsing","loc":["path","order_id"],"msg":"Input should be a valid '
        'integer, unable to parse string as an integer","input":"1.5"}]}',
    ),
]


@pytest.mark.parametrize(("method", "path", "content", "content_type", "body"), BAD_INPUT)
async def test_bad_input_is_fastapis_422(
    method: str, path: str, content: str | None, content_type: str | None, body: str
) -> None:
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
                    404,
                    '{"detail":"Order not found"}',
                ), path


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


async def fill(server: Server, store_settings: dict[str, Any], count: int) -> None:
    """`count` orders, ids 1..count, straight into the store (REST would take too long)."""
    url = store_settings.get("database_url")
    if url is None:
        for n in range(count):
            await server.app.services.store.create(f"c{n}")
        return
    await server.app.services.store.create("c0")  # the table exists once the store has run

    def insert() -> None:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(
                "INSERT INTO orders (customer) SELECT 'c' || n FROM generate_series(1, %s) AS n",
                (count - 1,),
            )

    await trio.to_thread.run_sync(insert)


async def test_a_long_list_comes_a_page_at_a_time(store_settings: dict[str, Any]) -> None:
    """Up to 1000 orders, GET /orders is the original's answer (every order, no header);
    beyond, the first 1000 and a Link to the next page; limit/offset page through all."""
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            await fill(server, store_settings, 1000)
            every = await http.get("/orders")
            assert [o["id"] for o in every.json()] == list(range(1, 1001))
            assert "link" not in every.headers
            await fill(server, store_settings, 1500)  # now 2,500
            pages, path = [], "/orders"
            while True:
                page = await http.get(path)
                assert page.status_code == 200, page.text
                pages.append([o["id"] for o in page.json()])
                if "link" not in page.headers:
                    break
                link = page.headers["link"]
                assert link.startswith("</orders?")
                assert link.endswith('>; rel="next"')
                path = link[1 : link.index(">")]
            assert [len(p) for p in pages] == [1000, 1000, 500]
            assert [n for p in pages for n in p] == list(range(1, 2501))
            small = await http.get("/orders?limit=2&offset=2499")
            assert [o["id"] for o in small.json()] == [2500]
            assert "link" not in small.headers
            middle = await http.get("/orders", params={"limit": "3", "offset": "10"})
            assert [o["id"] for o in middle.json()] == [11, 12, 13]
            assert middle.headers["link"] == '</orders?limit=3&offset=13>; rel="next"'
            assert (await http.get("/orders?offset=2500")).text == "[]"


def _not_whole(name: str, raw: str) -> str:
    return (
        f'{{"type":"int_parsing","loc":["query","{name}"],"msg":"Input should be a valid '
        f'integer, unable to parse string as an integer","input":"{raw}"}}'
    )


def _detail(*items: str) -> str:
    return '{"detail":[' + ",".join(items) + "]}"


# FastAPI's answer to Query(ge=1, le=1000) and Query(ge=0): every bad parameter, named
BAD_PAGES = [
    (
        "limit=0",
        _detail(
            '{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input '
            'should be greater than or equal to 1","input":"0","ctx":{"ge":1}}'
        ),
    ),
    (
        "limit=1001",
        _detail(
            '{"type":"less_than_equal","loc":["query","limit"],"msg":"Input '
            'should be less than or equal to 1000","input":"1001",'
            '"ctx":{"le":1000}}'
        ),
    ),
    ("limit=abc", _detail(_not_whole("limit", "abc"))),
    ("limit=", _detail(_not_whole("limit", ""))),
    ("limit=%C2%B2", _detail(_not_whole("limit", "\u00b2"))),  # ²
    ("limit=%D9%A1%D9%A0", _detail(_not_whole("limit", "\u0661\u0660"))),  # Arabic-Indic 10
    ("offset=%EF%BC%95", _detail(_not_whole("offset", "\uff15"))),  # fullwidth 5
    (
        "offset=-1",
        _detail(
            '{"type":"greater_than_equal","loc":["query","offset"],"msg":"Input '
            'should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}'
        ),
    ),
    (
        "limit=99999999999999999999",
        _detail(
            '{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than '
            'or equal to 1000","input":"99999999999999999999","ctx":{"le":1000}}'
        ),
    ),
    ("limit=1.5&offset=x", _detail(_not_whole("limit", "1.5"), _not_whole("offset", "x"))),
]


@pytest.mark.parametrize(("query", "body"), BAD_PAGES)
async def test_a_bad_page_is_fastapis_422_naming_the_parameter(query: str, body: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await http.post("/orders", json={"customer": "a"})
            response = await http.get(f"/orders?{query}")
            assert (response.status_code, response.text) == (422, body)


class LongestStep(trio.abc.Instrument):
    """The longest time one task ran without giving the event loop back, not counting the
    garbage collector's passes (with 100,000 orders in memory a full pass takes 30-160 ms here,
    whichever request happens to trigger it: the heap's cost, not a request's)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started: float | None = None  # None: the step began before we were added
        self._collecting = self._collected = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started, self._collected = time.perf_counter(), 0.0

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._started is not None:
            ran = time.perf_counter() - self._started - self._collected
            self.longest = max(self.longest, ran)
        self._started = None

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self._collected += time.perf_counter() - self._collecting


@pytest.mark.system  # load: 100,000 orders
async def test_a_list_of_100000_orders_does_not_hold_the_event_loop() -> None:
    """The issue's case: 100,000 orders (25 MB as one list) held the loop for about 0.3 s per
    GET /orders. A page is bounded, so its work on the loop is: about 3 ms here."""
    with trio.fail_after(LOAD_TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            store = server.app.services.store
            for n in range(100_000):
                await store.create(f"customer {n} ".ljust(200, "x"))
            await http.get("/orders?limit=1")  # warm: the first request builds things once
            steps = LongestStep()
            trio.lowlevel.add_instrument(steps)
            gc.callbacks.append(steps.gc_callback)
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(3):
                        nursery.start_soon(http.get, "/orders")
                    nursery.start_soon(http.get, "/orders?offset=99000")
            finally:
                gc.callbacks.remove(steps.gc_callback)
                trio.lowlevel.remove_instrument(steps)
            assert steps.longest < 0.05, f"the loop was held {steps.longest * 1000:.0f} ms"
            last = await http.get("/orders?offset=99000")
            assert [o["id"] for o in last.json()] == list(range(99_001, 100_001))


async def test_openapi_document_covers_every_rest_route() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            document = (await http.get("/openapi.json")).json()
            assert document["openapi"].startswith("3.")
            documented = {
                (path, method) for path, ops in document["paths"].items() for method in ops
            }
            docs = await http.get("/docs")
            assert docs.status_code == 200
            assert "swagger-ui" in docs.text
            assert "/openapi.json" in docs.text
        routes = set()
        for rule in server.app.url_map.iter_rules():
            if rule.websocket or rule.rule in (
                "/openapi.json",
                "/static/<path:filename>",
                *pages.HTML_ROUTES,
            ):
                continue
            path = (
                rule.rule.replace("<raw_id>", "{order_id}")
                .replace("<event_id>", "{event_id}")
                .replace("<name>", "{name}")
            )
            for method in rule.methods or ():
                if method in ("GET", "POST", "PUT", "DELETE"):
                    if "<verb>" in path:
                        routes |= {
                            (path.replace("<verb>", verb), "post")
                            for verb in ("pay", "ship", "deliver", "cancel")
                        }
                    else:
                        routes.add((path, method.lower()))
        assert routes == documented
