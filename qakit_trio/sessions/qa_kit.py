"""/ws in the `qa_kit` profile (QAKIT_PROFILE=qa_kit): the original QA Kit stand's door, for
classes whose materials were written against it (frames: wire/qa_kit.py).

    request -> ack -> echo | step, step | (a message to the channel) | order | orders -> event

Its only deviations from the original: it never drops a connection on bad input (invalid
JSON, a JSON text that is not an object, a payload that is not an object, an order id that is
not a number: each gets an error frame in the original's shape), and it never loses data.
Every event keeps an `event_id` in its log line and Kafka record, not in the frame.
What every door shares (timing, counting, the lab, failures) is the pipeline's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from qakit_trio import logs
from qakit_trio.auth.tokens import Identity
from qakit_trio.auth.users import may_broadcast
from qakit_trio.errors import BusUnavailable, ProtocolError, RateLimited, StoreError
from qakit_trio.pipeline.request import ConnectionRequest, Pipeline, Request
from qakit_trio.request_metrics import ERROR, NO_ACTION
from qakit_trio.sessions.actions import publish_to_channel
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.expiry import token_expiry
from qakit_trio.sessions.pipeline import Chain, decoded
from qakit_trio.wire import legacy, protocol, qa_kit, stamps
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)

LIST_LIMIT = 5  # the original listed the five newest orders, always


class Refused(Exception):
    """An error frame's message."""


Handler = Callable[[ConnectionRequest, dict[str, Any]], Awaitable[None]]


class QaKitDoor:
    name = "qa_kit"

    def __init__(self, deps: Deps, pipeline: Pipeline) -> None:
        self.deps = deps
        self.metrics = deps.metrics["envelope"]  # the /ws door, whichever profile it speaks
        self._handlers: dict[str, Handler] = {
            "echo": self._echo,
            "triplet_demo": self._triplet_demo,
            "broadcast": self._broadcast,
            "get_order": self._get_order,
            "list_orders": self._list_orders,
        }
        self.chain = Chain.of(pipeline, self.act, deps.lab)

    async def act(self, request: Request) -> None:
        assert isinstance(request, ConnectionRequest)
        if request.problem is not None:
            raise request.problem
        await request.reply(qa_kit.ack(request.request_id))
        action = request.action
        handler = self._handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            raise Refused(qa_kit.unknown_action(action))
        await handler(request, request.body)

    def refusal(self, request: Request, failure: Exception) -> tuple[str, protocol.Message] | None:
        if not isinstance(failure, Refused | StoreError | RateLimited):
            return None
        request_id = qa_kit.NO_ID if request.request_id is None else request.request_id
        return ERROR, qa_kit.error(request_id, str(failure))

    def internal_error(self, request: Request) -> protocol.Message:
        return qa_kit.error(request.request_id, "the server failed to handle this request")

    async def _event(self, request: ConnectionRequest, name: str, extra: Any) -> None:
        """The event frame as the original sent it; its log line and Kafka record carry the
        event_id the frame does not."""
        frame = qa_kit.event(name, request.request_id, extra)
        request.events.record({**frame, "event_id": stamps.new_event_id()}, request.fields)
        await request.reply(frame)

    @staticmethod
    def _payload(obj: dict[str, Any], *, must_be_object: bool) -> Any:
        payload = obj.get("payload") or {}
        if must_be_object and not isinstance(payload, dict):
            raise Refused("payload must be a JSON object")
        return payload

    async def _echo(self, request: ConnectionRequest, obj: dict[str, Any]) -> None:
        payload = self._payload(obj, must_be_object=False)
        await request.reply(qa_kit.echo(request.request_id, payload))
        await self._event(request, "ws.echo", payload)

    async def _triplet_demo(self, request: ConnectionRequest, obj: dict[str, Any]) -> None:
        await request.reply(qa_kit.step(request.request_id, 1, "first response"))
        await request.reply(qa_kit.step(request.request_id, 2, "second response"))
        await self._event(request, "ws.triplet_demo", {})

    async def _broadcast(self, request: ConnectionRequest, obj: dict[str, Any]) -> None:
        """A message to every member of the channel, this client too; no event (the
        original sent none)."""
        text = self._payload(obj, must_be_object=True).get("message", "")
        user = request.user
        if user is not None and not may_broadcast(user, request.conn.channel):
            raise Refused(f"{user.name} may not broadcast to {request.conn.channel}")
        frame = qa_kit.channel_message(request.conn.channel, text)
        try:
            _delivered, congested = await publish_to_channel(
                request, self.deps.hub, frame, request.conn.channel, cluster=self.deps.cluster
            )
        except (BusUnavailable, ProtocolError) as failure:  # the cluster bus's (cluster/)
            raise Refused(str(failure)) from None
        await request.conn.wait_drained(congested)  # flow control, as actions.broadcast

    async def _get_order(self, request: ConnectionRequest, obj: dict[str, Any]) -> None:
        raw = self._payload(obj, must_be_object=True).get("id")
        order_id = None if raw is None else legacy.as_order_id(raw)
        if raw is not None and (order_id is None or isinstance(raw, float | bool)):
            raise Refused(f"payload.id must be an integer, got {raw!r}")
        order = None if order_id is None else await request.store.get(order_id)
        found = None if order is None else {**order.summary(), "created_at": str(order.created_at)}
        await request.reply(qa_kit.data("order", request.request_id, found))
        await self._event(request, "order.viewed", {"id": raw})

    async def _list_orders(self, request: ConnectionRequest, obj: dict[str, Any]) -> None:
        found = await request.store.list(newest_first=True, limit=LIST_LIMIT)
        await request.reply(
            qa_kit.data("orders", request.request_id, [order.summary() for order in found])
        )
        await self._event(request, "order.listed", {})


class QaKitSession:
    __slots__ = ("_conn", "_door", "_expiry", "_user")

    def __init__(self, conn: Connection, door: QaKitDoor, identity: Identity | None = None) -> None:
        self._conn = conn
        self._door = door
        self._user = None if identity is None else identity.user  # QAKIT_AUTH=on
        # closed with 4401 when its token expires, without a warning (frames as they were)
        self._expiry = token_expiry(conn, door.deps.identities, identity, warn=False)

    def hello(self) -> protocol.Message:
        if self._expiry is not None:
            self._expiry.start()  # sessions/expiry.py
        return qa_kit.hello(self._conn.channel)

    def after_hello(self) -> tuple[()]:
        return ()  # no offsets in this protocol

    async def handle(self, message: str | bytes) -> None:
        deps = self._door.deps
        obj: dict[str, Any] = {}
        problem: Refused | None = None
        try:
            obj = self._parse(message)
        except Refused as failure:
            problem = failure
        request_id = qa_kit.NO_ID if problem is not None else qa_kit.request_id_of(obj)
        request = decoded(self._door, deps, self._conn, obj, problem, request_id, self._user)
        self._log_in(request, message)
        await self._door.chain.run(request)

    def described(self, frame: protocol.Message) -> tuple[Any, Any, Any]:
        return protocol.logged_values(frame)

    @staticmethod
    def _parse(message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):
            raise Refused("binary frames are not supported: send JSON as a text frame")
        try:
            obj = protocol.decode_json(message)  # the rule of every door (protocol.py)
        except protocol.ProtocolError as failure:
            raise Refused(f"invalid JSON: {failure.message}") from None
        if not isinstance(obj, dict):
            raise Refused("a request must be a JSON object")
        return obj

    def _log_in(self, request: Request, message: str | bytes) -> None:
        action, request_id = request.action, request.request_id
        logs.info(
            log,
            "frame in",
            **self._conn.fields,
            request_id=request_id if isinstance(request_id, str) else str(request_id),
            action=action if isinstance(action, str) and request.action != NO_ACTION else None,
            size=len(message),
            **self._conn.payload_fields(message),
        )
