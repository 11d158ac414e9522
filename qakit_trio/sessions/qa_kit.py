"""/ws in the `qa_kit` profile (QAKIT_PROFILE=qa_kit): the original QA Kit stand's session,
for classes whose materials were written against it (frames: wire/qa_kit.py).

    request -> ack -> echo | step, step | (a message to the channel) | order | orders -> event

Its only deviations from the original: it never drops a connection on bad input (invalid
JSON, a JSON text that is not an object, a payload that is not an object, an order id that is
not a number: each gets an error frame in the original's shape), and it never loses data.
Every event keeps an `event_id` in its log line and Kafka record, not in the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.errors import StoreError
from qakit_trio.request_metrics import ERROR, NO_ACTION, OK
from qakit_trio.services import Services
from qakit_trio.sessions.actions import publish_to_channel
from qakit_trio.wire import legacy, protocol, qa_kit
from qakit_trio.wire.close_codes import INTERNAL_ERROR
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)

LIST_LIMIT = 5  # the original listed the five newest orders, always


class Refused(Exception):
    """An error frame's message."""


class QaKitSession:
    __slots__ = ("_actions", "_conn", "_services")

    def __init__(self, conn: Connection, services: Services) -> None:
        self._conn = conn
        self._services = services
        self._actions: dict[str, Callable[[Any, dict[str, Any]], Awaitable[None]]] = {
            "echo": self._echo,
            "triplet_demo": self._triplet_demo,
            "broadcast": self._broadcast,
            "get_order": self._get_order,
            "list_orders": self._list_orders,
        }

    def hello(self) -> protocol.Message:
        return qa_kit.hello(self._conn.channel)

    async def handle(self, message: str | bytes) -> None:
        conn = self._conn
        try:
            obj = self._parse(message)
        except Refused as failure:
            self._log_in(qa_kit.NO_ID, message, None)
            self._services.requests.observe(NO_ACTION, ERROR, 0.0)
            await conn.reply(qa_kit.error(qa_kit.NO_ID, str(failure)))
            return
        request_id = qa_kit.request_id_of(obj)
        action = obj.get("action")
        self._log_in(request_id, message, action)
        started, outcome = trio.current_time(), ERROR
        await conn.reply(qa_kit.ack(request_id))
        try:
            handler = self._actions.get(action) if isinstance(action, str) else None
            if handler is None:
                raise Refused(qa_kit.unknown_action(action))
            await handler(request_id, obj)
            outcome = OK
        except* (Refused, StoreError) as group:
            await conn.reply(qa_kit.error(request_id, str(group.exceptions[0])))
        except* Exception:
            log.exception(
                "action failed", extra={"fields": {**conn.fields, "request_id": request_id}}
            )
            await conn.reply(qa_kit.error(request_id, "the server failed to handle this request"))
            conn.close_soon(INTERNAL_ERROR, "internal error")
        finally:  # counted also when cancelled (a close)
            self._services.requests.observe(action, outcome, trio.current_time() - started)

    def _parse(self, message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):
            raise Refused("binary frames are not supported: send JSON as a text frame")
        try:
            obj = protocol.decode_json(message)  # the rule of every door (protocol.py)
        except protocol.ProtocolError as failure:
            raise Refused(f"invalid JSON: {failure.message}") from None
        if not isinstance(obj, dict):
            raise Refused("a request must be a JSON object")
        return obj

    def _log_in(self, request_id: Any, message: str | bytes, action: object) -> None:
        logs.info(
            log,
            "frame in",
            **self._conn.fields,
            request_id=request_id if isinstance(request_id, str) else str(request_id),
            action=action if isinstance(action, str) else None,
            size=len(message),
            **self._conn.payload_fields(message),
        )

    async def _event(self, name: str, request_id: Any, extra: Any) -> None:
        """The event frame as the original sent it; its log line and Kafka record carry the
        event_id the frame does not."""
        frame = qa_kit.event(name, request_id, extra)
        self._services.events.record(
            {**frame, "event_id": protocol.new_event_id()}, self._conn.fields
        )
        await self._conn.reply(frame)

    @staticmethod
    def _payload(obj: dict[str, Any], *, must_be_object: bool) -> Any:
        payload = obj.get("payload") or {}
        if must_be_object and not isinstance(payload, dict):
            raise Refused("payload must be a JSON object")
        return payload

    async def _echo(self, request_id: Any, obj: dict[str, Any]) -> None:
        payload = self._payload(obj, must_be_object=False)
        await self._conn.reply(qa_kit.echo(request_id, payload))
        await self._event("ws.echo", request_id, payload)

    async def _triplet_demo(self, request_id: Any, obj: dict[str, Any]) -> None:
        await self._conn.reply(qa_kit.step(request_id, 1, "first response"))
        await self._conn.reply(qa_kit.step(request_id, 2, "second response"))
        await self._event("ws.triplet_demo", request_id, {})

    async def _broadcast(self, request_id: Any, obj: dict[str, Any]) -> None:
        """A message to every member of the channel, this client too; no event (the
        original sent none)."""
        text = self._payload(obj, must_be_object=True).get("message", "")
        frame = qa_kit.channel_message(self._conn.channel, text)
        _delivered, congested = await publish_to_channel(
            self._conn, self._services, frame, str(request_id)
        )
        await self._conn.wait_drained(congested)  # flow control, as actions.broadcast

    async def _get_order(self, request_id: Any, obj: dict[str, Any]) -> None:
        raw = self._payload(obj, must_be_object=True).get("id")
        order_id = None if raw is None else legacy.as_order_id(raw)
        if raw is not None and (order_id is None or isinstance(raw, float | bool)):
            raise Refused(f"payload.id must be an integer, got {raw!r}")
        order = None if order_id is None else await self._services.store.get(order_id)
        found = None if order is None else {**order.summary(), "created_at": str(order.created_at)}
        await self._conn.reply(qa_kit.data("order", request_id, found))
        await self._event("order.viewed", request_id, {"id": raw})

    async def _list_orders(self, request_id: Any, obj: dict[str, Any]) -> None:
        found = await self._services.store.list(newest_first=True, limit=LIST_LIMIT)
        await self._conn.reply(
            qa_kit.data("orders", request_id, [order.summary() for order in found])
        )
        await self._event("order.listed", request_id, {})
