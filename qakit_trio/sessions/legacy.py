"""The legacy orders protocol's session on /ws/orders: the original QA Kit stand's commands,
texts and frames, byte for byte (the wire side is wire/legacy.py).

No hello frame, no ack, no request ids: this is the older generation. The connection stays
open after every error. Where the original dropped the connection (a JSON text that is not an
object, a binary frame, a customer that is a list or an object), this one answers with an
error frame in the original's shape. Every client also receives every order event; the one
that made the change gets its `result` first and then the event (the legacy guide's order),
or, in the `qa_kit` profile, the event first, as the original sent them.
What every door shares (timing, counting, the lab, failures) is the pipeline's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qakit_trio import logs
from qakit_trio.auth.tokens import Identity
from qakit_trio.domain import orders
from qakit_trio.domain.orders import Order, OrderEvent
from qakit_trio.errors import ErrorCode, OrderError, RateLimited, StoreError
from qakit_trio.pipeline.request import ConnectionRequest, Pipeline, Request
from qakit_trio.request_metrics import ERROR
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.expiry import token_expiry
from qakit_trio.sessions.pipeline import Chain, decoded
from qakit_trio.wire import legacy, protocol
from qakit_trio.wire.framing import Frame
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


class LegacyDoor:
    name = "legacy"

    def __init__(self, deps: Deps, pipeline: Pipeline) -> None:
        self.deps = deps
        self.metrics = deps.metrics["legacy"]
        self._event_first = deps.settings.profile == "qa_kit"
        self.chain = Chain.of(pipeline, self.act, deps.lab)

    def refusal(self, request: Request, failure: Exception) -> tuple[str, Message] | None:
        if isinstance(failure, RateLimited):
            return ERROR, legacy.error(failure.code, retry_after_ms=failure.retry_after_ms)
        return (ERROR, failure.frame) if isinstance(failure, LegacyError) else None

    def internal_error(self, request: Request) -> Message:
        return legacy.error("internal_error", message="the server failed to handle this command")

    async def act(self, request: Request) -> None:
        assert isinstance(request, ConnectionRequest)
        if request.problem is not None:
            raise request.problem
        action, message, store = request.action, request.body, request.store
        if action == "ping":
            await _reply(request, legacy.pong())
        elif action == "create_order":
            customer = message.get("customer")
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
            await self._announce(request, action, event)
        elif action == "change_status":
            if message.get("order_id") is None or message.get("status") is None:
                raise LegacyError(legacy.error(legacy.ID_AND_STATUS_REQUIRED, action=action))
            order_id = _order_id(action, message)
            raw_status = message["status"]
            try:
                status = orders.parse_status(raw_status)
            except ValueError:  # not a status at all: refused like any other change it refuses
                order = await _get(request, action, order_id)  # "order not found" comes first
                raise LegacyError(
                    legacy.error(legacy.transition_refused(order.status, raw_status), action=action)
                ) from None
            with _translated(action):
                event = await store.change_status(order_id, status)
            await self._announce(request, action, event)
        elif action == "get_order":
            order_id = _order_id(action, message)
            order = await _get(request, action, order_id)
            await _reply(request, legacy.result(action, order.summary()))
        else:
            raise LegacyError(legacy.unknown_action(action))

    async def _announce(self, request: ConnectionRequest, action: str, event: OrderEvent) -> None:
        """The requester's result and the event to every client (it included): result first,
        or (qa_kit profile) the event first. The change is made: it is announced even if this
        client is already gone."""
        events = request.order_events
        result = legacy.result(action, event.order.summary())

        def publish() -> None:
            events.publish(
                event,
                events.frame(event, None),
                {**request.fields, "source": "ws/orders"},
                sink=request.events,
            )

        if self._event_first:
            publish()
            await _reply(request, result)
            return
        try:
            await _reply(request, result)
        finally:
            publish()


async def _reply(request: Request, frame: Message) -> None:
    await request.reply(frame)


class LegacyOutlet:
    """A /ws/orders connection, as its requests' outlet: every frame in the original's own
    JSON form (legacy.encode: spaces after separators, no `ts`)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def reply(self, frame: Message, text: str | None = None) -> None:
        await self._conn.reply(frame, legacy.encode(frame) if text is None else text)

    async def share(self, item: Frame) -> int:
        return await self._conn.share(item)


async def _get(request: Request, action: str, order_id: int) -> Order:
    with _translated(action):
        order = await request.store.get(order_id)
    if order is None:
        raise LegacyError(legacy.error(legacy.ORDER_NOT_FOUND, action=action))
    return order


class LegacySession:
    __slots__ = ("_conn", "_door", "_expiry", "_outlet", "_user")

    def __init__(
        self, conn: Connection, door: LegacyDoor, identity: Identity | None = None
    ) -> None:
        self._conn = conn
        self._door = door
        self._user = None if identity is None else identity.user  # QAKIT_AUTH=on
        # closed with 4401 when its token expires, without a warning (frames as they were)
        self._expiry = token_expiry(conn, door.deps.identities, identity, warn=False)
        self._outlet = LegacyOutlet(conn)

    def hello(self) -> None:
        if self._expiry is not None:
            self._expiry.start()  # sessions/expiry.py
        return None  # the legacy protocol starts with the client

    def after_hello(self) -> tuple[()]:
        return ()  # no offsets in this protocol

    async def handle(self, message: str | bytes) -> None:
        deps = self._door.deps
        body: dict[str, Any] = {}
        problem: LegacyError | None = None
        try:
            body = _parse(message)
        except LegacyError as failure:
            problem = failure
        request = decoded(self._door, deps, self._conn, body, problem, None, self._user)
        request.outlet = self._outlet
        action = None if problem is not None else request.action
        logs.info(
            log,
            "frame in",
            **self._conn.fields,
            request_id=None,
            action=action if isinstance(action, str) else None,
            size=len(message),
            **self._conn.payload_fields(message),
        )
        await self._door.chain.run(request)

    def described(self, frame: protocol.Message) -> tuple[Any, Any, Any]:
        return protocol.logged_values(frame)


def _parse(message: str | bytes) -> dict[str, Any]:
    if isinstance(message, bytes):
        raise LegacyError(legacy.error("invalid_json", message="binary frames are not supported"))
    try:
        request = protocol.decode_json(message)  # the rule of every door (protocol.py)
    except protocol.ProtocolError:
        raise LegacyError(legacy.error("invalid_json")) from None
    if not isinstance(request, dict):
        raise LegacyError(legacy.error("invalid_json", message="a command must be a JSON object"))
    return request
