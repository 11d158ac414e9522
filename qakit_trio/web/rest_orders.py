"""The REST orders API, as the original QA Kit stand's (FastAPI) on the wire.

    POST /orders {"customer": ...}            -> {"id", "customer", "status"}
    GET  /orders?limit=&offset=               -> a page of orders, by id (all, if <= 1000)
    GET  /orders/{order_id}                   -> the order, or 404 {"detail":"Order not found"}
    POST /orders/{order_id}/pay|ship|deliver|cancel
                                    -> the order, or 400 {"detail":"Cannot change status ..."}

Bad input is FastAPI's 422 body (http_errors.py); the database down is 503 JSON. A change
made here is announced like any other (events.OrderEvents): /ws/orders clients, the /ws orders
channel, the log. Every route runs as a request of the pipeline (rest_door.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from quart import request as http_request
from quart_trio import QuartTrio

from qakit_trio.domain import orders
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.errors import OrderNotFound
from qakit_trio.pipeline.request import Request
from qakit_trio.web import bodies, http_errors
from qakit_trio.web.http_errors import HttpError
from qakit_trio.web.rest_door import Answer, RestDoor, ok
from qakit_trio.wire.protocol import Message

log = logging.getLogger(__name__)

_ORDER_ID = re.compile(r"[+-]?[0-9]+")  # ASCII digits: no "1_0" or other scripts
MAX_ORDER_ID = 2**63 - 1  # beyond any id a store can hold: not found, not a crash
# GET /orders pages: the original returned every order; up to this many it still does. The
# bound also bounds the work on the event loop: a page of 1000 is read, shaped and encoded in
# about 1.5 ms (100,000 orders in one answer held the loop for about 300 ms).
LIST_LIMIT = 1000


def _order_id(raw: str) -> int:
    if _ORDER_ID.fullmatch(raw) is None or len(raw) > 20:
        raise http_errors.invalid(http_errors.not_an_integer(["path", "order_id"], raw))
    number = int(raw)
    if not 0 < number <= MAX_ORDER_ID:
        raise HttpError(404, {"detail": "Order not found"})
    return number


def _query_number(
    name: str, default: int, minimum: int, maximum: int | None, problems: list[dict[str, Any]]
) -> int:
    """A whole number from the query string, as FastAPI's Query(ge=, le=) checks it; a bad
    one adds its 422 item to `problems` (FastAPI reports every bad parameter at once)."""
    raw = http_request.args.get(name)
    if raw is None:
        return default
    loc: list[str | int] = ["query", name]
    # a signed whole number in ASCII digits (as for order ids): -1 and 10**20 are numbers out
    # of range, answered as such, not "unable to parse"
    number = int(raw) if _ORDER_ID.fullmatch(raw) and len(raw) <= 40 else None
    if number is None:
        problems.append(http_errors.not_an_integer(loc, raw))
    elif number < minimum:
        problems.append(
            http_errors.problem(
                "greater_than_equal",
                loc,
                f"Input should be greater than or equal to {minimum}",
                raw,
                {"ge": minimum},
            )
        )
    elif maximum is not None and number > maximum:
        problems.append(
            http_errors.problem(
                "less_than_equal",
                loc,
                f"Input should be less than or equal to {maximum}",
                raw,
                {"le": maximum},
            )
        )
    else:
        return number
    return default


def _page() -> tuple[int, int]:
    """GET /orders' `limit` (1..LIST_LIMIT, default LIST_LIMIT) and `offset` (default 0)."""
    problems: list[dict[str, Any]] = []
    limit = _query_number("limit", LIST_LIMIT, 1, LIST_LIMIT, problems)
    offset = _query_number("offset", 0, 0, None, problems)
    if problems:
        raise http_errors.invalid(*problems)
    return limit, offset


def _customer(body: dict[str, Any]) -> str:
    loc: list[str | int] = ["body", "customer"]
    if "customer" not in body:
        raise http_errors.invalid(http_errors.missing(loc, body))
    value = body["customer"]
    if not isinstance(value, str):
        raise http_errors.invalid(http_errors.not_a_string(loc, value))
    try:
        return orders.validate_customer(value)  # stricter than the original: README
    except ValueError as error:
        raise http_errors.invalid(http_errors.refused_value(loc, value, str(error))) from None


def register_orders(app: QuartTrio, door: RestDoor) -> None:
    def announce(request: Request, event: OrderEvent) -> Message:
        events = request.order_events
        events.publish(event, events.frame(event, None), {"source": "rest"}, sink=request.events)
        return ok(event.order.summary())

    @app.post("/orders")
    async def create_order() -> Answer:
        async def act(request: Request) -> None:
            customer = _customer(await bodies.json_object())
            await request.reply(announce(request, await request.store.create(customer)))

        return await door.serve("create_order", act)

    @app.get("/orders")
    async def list_orders() -> Answer:
        async def act(request: Request) -> None:
            limit, offset = _page()  # one more than the page: is there a next one?
            found = await request.store.list(limit=limit + 1, offset=offset)
            page = [order.summary() for order in found[:limit]]
            if len(found) <= limit:
                await request.reply(ok(page))  # the last page: the original's answer
                return
            # RFC 8288: where the next page is (relative, like every URL the stand builds)
            link = f'</orders?limit={limit}&offset={offset + limit}>; rel="next"'
            await request.reply(ok(page, {"Link": link}))

        return await door.serve("list_orders", act)

    @app.get("/orders/<raw_id>")
    async def get_order(raw_id: str) -> Answer:
        async def act(request: Request) -> None:
            order_id = _order_id(raw_id)
            order = await request.store.get(order_id)
            if order is None:
                raise OrderNotFound(order_id)  # 404 (rest_door.py)
            await request.reply(ok(order.summary()))

        return await door.serve("get_order", act)

    @app.post("/orders/<raw_id>/<verb>")
    async def change_status(raw_id: str, verb: str) -> Answer:
        async def act(request: Request) -> None:
            status = orders.VERBS.get(verb)
            if status is None:
                raise http_errors.plain(404)  # no such route, as FastAPI says it
            order_id = _order_id(raw_id)
            await request.reply(
                announce(request, await request.store.change_status(order_id, status))
            )

        return await door.serve("change_status", act)
