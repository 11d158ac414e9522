"""The legacy orders protocol on /ws/orders (the original QA Kit stand's), message for message.

    {"action":"ping"}                                   -> {"type":"pong"}
    {"action":"create_order","customer":C}              -> {"type":"result","action":"create_order",
                                                             "order":{"id","customer","status"}}
    {"action":"change_status","order_id":N,"status":S}  -> result, or {"type":"error",
                                 "action":"change_status","error":"Cannot change status from ..."}
    {"action":"get_order","order_id":N}                 -> result, or {"type":"error",
                                                  "action":"get_order","error":"order not found"}
    invalid JSON      -> {"type":"error","error":"invalid_json"}
    unknown action    -> {"type":"error","error":"unknown_action","raw_action":...}

No hello frame, no ack, no request ids: this is the older generation. Every client of
/ws/orders also receives every order event as {"type":"order_created"|"order_status_changed",
"order_id","customer","status","event_id"}, the requester after its own `result`. The
connection stays open after every error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qakit_trio import logs
from qakit_trio.domain import orders
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.errors import ErrorCode, OrderError, StoreError
from qakit_trio.services import Services
from qakit_trio.wire import protocol
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)


class LegacyError(Exception):
    """An error frame of the legacy protocol: {"type":"error", "action"?, "error", ...}."""

    def __init__(self, error: str, **fields: Any) -> None:
        super().__init__(error)
        self.frame: Message = {"type": "error", **fields, "error": error}


def _order_id(action: str, message: dict[str, Any]) -> int:
    value = message.get("order_id")
    if value is None:
        raise LegacyError("missing field 'order_id'", action=action)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LegacyError("order_id must be an integer", action=action)
    return value


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """The service's errors, as this protocol's error frames (the original stand's texts)."""
    try:
        yield
    except OrderError as failure:
        text = "order not found" if failure.code == ErrorCode.NOT_FOUND else str(failure)
        raise LegacyError(text, action=action) from None
    except StoreError as failure:  # db_unavailable / db_error, with what happened
        raise LegacyError(failure.code, action=action, message=str(failure)) from None


class LegacySession:
    __slots__ = ("_conn", "_services")

    def __init__(self, conn: Connection, services: Services) -> None:
        self._conn = conn
        self._services = services

    def hello(self) -> None:
        return None  # the legacy protocol starts with the client

    async def handle(self, message: str | bytes) -> None:
        try:
            request = self._parse(message)
        except LegacyError as failure:
            self._log_in(message, None)
            await self._conn.reply(failure.frame)
            return
        action = request.get("action")
        self._log_in(message, action)
        try:
            await self._dispatch(action, request)
        except LegacyError as failure:
            await self._conn.reply(failure.frame)

    def _log_in(self, message: str | bytes, action: object) -> None:
        logs.info(log, "frame in", **self._conn.fields, request_id=None, action=action,
                  size=len(message))

    def _parse(self, message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):
            raise LegacyError("invalid_json", message="binary frames are not supported")
        try:
            request = protocol.decode_json(message)  # the rule of every door (protocol.py)
        except protocol.ProtocolError:
            raise LegacyError("invalid_json") from None
        if not isinstance(request, dict):
            raise LegacyError("invalid_json", message="a command must be a JSON object")
        return request

    async def _dispatch(self, action: object, request: dict[str, Any]) -> None:
        reply = self._conn.reply
        if action == "ping":
            await reply({"type": "pong"})
        elif action == "create_order":
            customer = request.get("customer")
            if customer is None:
                raise LegacyError("missing field 'customer'", action=action)
            try:
                customer = orders.validate_customer(customer)
            except ValueError as error:
                raise LegacyError(str(error), action=action) from None
            with _translated(action):
                event = await self._services.store.create(customer)
            await self._announce(action, event)
        elif action == "change_status":
            order_id = _order_id(action, request)
            if request.get("status") is None:
                raise LegacyError("missing field 'status'", action=action)
            try:
                status = orders.parse_status(request["status"])
            except ValueError as error:
                raise LegacyError(str(error), action=action) from None
            with _translated(action):
                event = await self._services.store.change_status(order_id, status)
            await self._announce(action, event)
        elif action == "get_order":
            order_id = _order_id(action, request)
            with _translated(action):
                order = await self._services.store.get(order_id)
            if order is None:
                raise LegacyError("order not found", action=action)
            await reply({"type": "result", "action": action, "order": order.summary()})
        else:
            raise LegacyError("unknown_action", raw_action=action)

    async def _announce(self, action: str, event: OrderEvent) -> None:
        """The requester's result first, then the event to every client (it included)."""
        events = self._services.order_events
        try:
            await self._conn.reply({"type": "result", "action": action,
                                    "order": event.order.summary()})
        finally:
            events.publish(event, events.frame(event, None),
                           {**self._conn.fields, "source": "ws/orders"})
