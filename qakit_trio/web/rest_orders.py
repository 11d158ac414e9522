"""The REST orders API, with the original QA Kit stand's paths and shapes.

    POST /orders {"customer": ...}          -> the order
    GET  /orders                            -> all orders, by id
    GET  /orders/{id}                       -> the order, or 404 {"detail":"Order not found"}
    POST /orders/{id}/pay|ship|deliver|cancel -> the order, or 400 {"detail":"Cannot change ..."}

Bad input is 422 JSON; the database down is 503 JSON. A change made here is announced like
any other (events.OrderEvents): /ws/orders clients, the /ws orders channel, the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from quart import request
from quart_trio import QuartTrio

from qakit_trio.domain import orders
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.errors import ErrorCode, OrderError, StoreError
from qakit_trio.services import Services
from qakit_trio.wire import protocol

log = logging.getLogger(__name__)

JsonResponse = dict[str, Any] | list[Any] | tuple[dict[str, Any], int]


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail"))
        self.status = status
        self.body = body


def _invalid(field: str, detail: str) -> HttpError:
    return HttpError(422, {"error": "validation_error", "field": field, "detail": detail})


_ORDER_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only: no "1_0", " 1" or other scripts


def _order_id(raw: str) -> int:
    if _ORDER_ID.fullmatch(raw) is None:
        raise _invalid("id", f"order id must be a whole number (digits 0-9), got {raw!r}")
    return int(raw)


async def _json_body() -> Any:
    """The request body by the rule of every door (protocol.decode_json): strict UTF-8, JSON,
    no lone surrogates, bounded nesting. Anything else is a 422 naming what is wrong."""
    raw = cast(bytes, await request.get_data(as_text=False))
    try:
        return protocol.decode_json(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _invalid("body", f"the body is not UTF-8 text: {error.reason} at byte "
                               f"{error.start}") from None
    except protocol.ProtocolError as error:
        raise _invalid("body", error.message) from None


# The service's errors, as the original stand's HTTP answers: (status, body) by error code.
def _http_answer(failure: OrderError | StoreError) -> HttpError:
    if failure.code == ErrorCode.NOT_FOUND:
        return HttpError(404, {"detail": "Order not found"})
    status = {ErrorCode.INVALID_TRANSITION: 400, ErrorCode.DB_UNAVAILABLE: 503,
              ErrorCode.DB_ERROR: 500}[ErrorCode(failure.code)]
    body = {"detail": str(failure)}
    return HttpError(status, body if status == 400 else {"error": failure.code, **body})


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """The service's errors, as the original stand's HTTP answers (`_http_answer`)."""
    try:
        yield
    except (OrderError, StoreError) as failure:
        raise _http_answer(failure) from None


def register_orders(app: QuartTrio, services: Services) -> None:
    store = services.store

    def announce(event: OrderEvent) -> dict[str, Any]:
        events = services.order_events
        events.publish(event, events.frame(event, None), {"source": "rest"})
        return event.order.to_json()

    @app.errorhandler(HttpError)
    async def http_error(error: HttpError) -> tuple[dict[str, Any], int]:
        return error.body, error.status

    @app.post("/orders")
    async def create_order() -> JsonResponse:
        body = await _json_body()
        if not isinstance(body, dict):
            raise _invalid("body", 'the body must be a JSON object like {"customer": "Yulia"}')
        try:
            customer = orders.validate_customer(body.get("customer"))
        except ValueError as error:
            raise _invalid("customer", str(error)) from None
        async with _translated():
            return announce(await store.create(customer))

    @app.get("/orders")
    async def list_orders() -> JsonResponse:
        async with _translated():
            return [order.to_json() for order in await store.list()]

    @app.get("/orders/<raw_id>")
    async def get_order(raw_id: str) -> JsonResponse:
        order_id = _order_id(raw_id)
        async with _translated():
            order = await store.get(order_id)
        if order is None:
            raise HttpError(404, {"detail": "Order not found"})
        return order.to_json()

    @app.post("/orders/<raw_id>/<verb>")
    async def change_status(raw_id: str, verb: str) -> JsonResponse:
        status = orders.VERBS.get(verb)
        if status is None:
            raise HttpError(404, {"error": "not_found", "detail": f"no such action {verb!r}; "
                                  f"one of: {', '.join(orders.VERBS)}"})
        order_id = _order_id(raw_id)
        async with _translated():
            return announce(await store.change_status(order_id, status))
