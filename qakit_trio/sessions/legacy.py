"""The legacy orders protocol's session on /ws/orders: the original QA Kit stand's commands,
texts and frames, byte for byte (the wire side is wire/legacy.py).

No hello frame, no ack, no request ids: this is the older generation. The connection stays
open after every error. Where the original dropped the connection (a JSON text that is not an
object, a binary frame, a customer that is a list or an object), this one answers with an
error frame in the original's shape. Every client also receives every order event; the one
that made the change gets its `result` first and then the event (the legacy guide's order),
or, in the `qa_kit` profile, the event first, as the original sent them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.domain import orders
from qakit_trio.domain.orders import Order, OrderEvent
from qakit_trio.errors import ErrorCode, OrderError, StoreError
from qakit_trio.request_metrics import ERROR, NO_ACTION, OK
from qakit_trio.services import Services
from qakit_trio.wire import legacy, protocol
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)


class LegacyError(Exception):
    """An error frame of the legacy protocol."""

    def __init__(self, frame: Message) -> None:
        super().__init__(frame["error"])
        self.frame = frame


def _order_id(action: str, message: dict[str, Any]) -> int:
    value = message.get("order_id")
    if value is None:
        raise LegacyError(legacy.error(legacy.ORDER_ID_REQUIRED, action=action))
    order_id = legacy.as_order_id(value)
    if order_id is None:
        raise LegacyError(legacy.error(legacy.ORDER_ID_NOT_INTEGER, action=action))
    return order_id


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """The service's errors, as this protocol's error frames (the original stand's texts)."""
    try:
        yield
    except OrderError as failure:
        text = legacy.ORDER_NOT_FOUND if failure.code == ErrorCode.NOT_FOUND else str(failure)
        raise LegacyError(legacy.error(text, action=action)) from None
    except StoreError as failure:  # db_unavailable / db_error, with what happened
        raise LegacyError(legacy.error(failure.code, action=action, message=str(failure))) from None


class LegacySession:
    __slots__ = ("_conn", "_event_first", "_services")

    def __init__(self, conn: Connection, services: Services) -> None:
        self._conn = conn
        self._services = services
        self._event_first = services.settings.profile == "qa_kit"

    def hello(self) -> None:
        return None  # the legacy protocol starts with the client

    async def handle(self, message: str | bytes) -> None:
        requests = self._services.legacy_requests
        try:
            request = self._parse(message)
        except LegacyError as failure:
            self._log_in(message, None)
            requests.observe(NO_ACTION, ERROR, 0.0)
            await self._reply(failure.frame)
            return
        action = request.get("action")
        self._log_in(message, action)
        started, outcome = trio.current_time(), ERROR
        try:
            await self._dispatch(action, request)
            outcome = OK
        except LegacyError as failure:
            await self._reply(failure.frame)
        finally:  # counted also when cancelled (a close)
            requests.observe(action, outcome, trio.current_time() - started)

    async def _reply(self, frame: Message) -> None:
        await self._conn.reply(frame, legacy.encode(frame))

    def _log_in(self, message: str | bytes, action: object) -> None:
        logs.info(
            log,
            "frame in",
            **self._conn.fields,
            request_id=None,
            action=action if isinstance(action, str) else None,
            size=len(message),
            **self._conn.payload_fields(message),
        )

    def _parse(self, message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):
            raise LegacyError(
                legacy.error("invalid_json", message="binary frames are not supported")
            )
        try:
            request = protocol.decode_json(message)  # the rule of every door (protocol.py)
        except protocol.ProtocolError:
            raise LegacyError(legacy.error("invalid_json")) from None
        if not isinstance(request, dict):
            raise LegacyError(
                legacy.error("invalid_json", message="a command must be a JSON object")
            )
        return request

    async def _dispatch(self, action: object, request: dict[str, Any]) -> None:
        store = self._services.store
        if action == "ping":
            await self._reply(legacy.pong())
        elif action == "create_order":
            customer = request.get("customer")
            if not customer:
                raise LegacyError(legacy.error(legacy.CUSTOMER_REQUIRED, action=action))
            text = legacy.customer_text(customer)
            if text is None:
                raise LegacyError(legacy.error(legacy.CUSTOMER_NOT_TEXT, action=action))
            try:
                text = orders.validate_customer(text)
            except ValueError as error:
                raise LegacyError(legacy.error(str(error), action=action)) from None
            with _translated(action):
                event = await store.create(text)
            await self._announce(action, event)
        elif action == "change_status":
            if request.get("order_id") is None or request.get("status") is None:
                raise LegacyError(legacy.error(legacy.ID_AND_STATUS_REQUIRED, action=action))
            order_id = _order_id(action, request)
            raw_status = request["status"]
            try:
                status = orders.parse_status(raw_status)
            except ValueError:  # not a status at all: refused like any other change it refuses
                await self._refuse_status(action, order_id, raw_status)
                return
            with _translated(action):
                event = await store.change_status(order_id, status)
            await self._announce(action, event)
        elif action == "get_order":
            order_id = _order_id(action, request)
            await self._reply(legacy.result(action, (await self._get(action, order_id)).summary()))
        else:
            raise LegacyError(legacy.unknown_action(action))

    async def _get(self, action: str, order_id: int) -> Order:
        with _translated(action):
            order = await self._services.store.get(order_id)
        if order is None:
            raise LegacyError(legacy.error(legacy.ORDER_NOT_FOUND, action=action))
        return order

    async def _refuse_status(self, action: str, order_id: int, raw_status: object) -> None:
        order = await self._get(action, order_id)  # "order not found" comes first
        raise LegacyError(
            legacy.error(legacy.transition_refused(order.status, raw_status), action=action)
        )

    async def _announce(self, action: str, event: OrderEvent) -> None:
        """The requester's result and the event to every client (it included): result first,
        or (qa_kit profile) the event first. The change is made: it is announced even if this
        client is already gone."""
        events = self._services.order_events
        result = legacy.result(action, event.order.summary())
        skip = self._conn.id if self._services.bugs.legacy_requester_misses_event else None

        def publish() -> None:
            events.publish(
                event,
                events.frame(event, None),
                {**self._conn.fields, "source": "ws/orders"},
                legacy_skip=skip,
            )

        if self._event_first:
            publish()
            await self._reply(result)
            return
        try:
            await self._reply(result)
        finally:
            publish()
