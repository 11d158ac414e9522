"""The envelope protocol's door on /ws: request -> ack -> the action's frames.

Every text that parses as a JSON object is acknowledged first; then the request is checked and
its action runs. Errors become error frames (the connection stays open); this is where the
service's own errors (the domain's, the store's) are mapped to the protocol's error codes.
What every door shares (timing, counting, the lab, failures) is the pipeline's
(sessions/pipeline.py); this module only adapts the envelope's wire format to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import trio

from qakit_trio import log_fields, logs
from qakit_trio.auth.tokens import Identity
from qakit_trio.errors import (
    BusUnavailable,
    OrderError,
    ProtocolError,
    QakitError,
    RateLimited,
    StoreError,
)
from qakit_trio.pipeline.request import Pipeline, Request
from qakit_trio.request_metrics import NO_ACTION
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.expiry import token_expiry
from qakit_trio.sessions.pipeline import Chain
from qakit_trio.wire import protocol
from qakit_trio.wire.channels import Since
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)
FRAME_IN = logs.Line(
    log, "frame in", ("request_id", "size", "kind", "action", "payload", "truncated")
)

ErrorCode = protocol.ErrorCode

# The errors a request can end with on /ws: each becomes an error frame with its own code
# (errors.py), the connection stays open. Anything else is a handler failure (1011).
REPLIED: tuple[type[QakitError], ...] = (
    ProtocolError,
    OrderError,
    StoreError,
    RateLimited,
    BusUnavailable,
)
BINARY = protocol.ProtocolError(
    ErrorCode.INVALID_MESSAGE,
    "binary frames are not supported: send the JSON request as a text frame",
)


def as_protocol_error(failure: Exception) -> protocol.ProtocolError | None:
    """The error frame for one of the service's own errors (None: not one of them)."""
    if isinstance(failure, ProtocolError):
        return failure
    if isinstance(failure, REPLIED):
        return ProtocolError(ErrorCode(failure.code), str(failure), **failure.details)
    return None


class EnvelopeDoor:
    """The envelope protocol's side of the pipeline: one for the app, shared by connections."""

    name = "envelope"

    def __init__(self, deps: Deps, actions: dict[str, Action], pipeline: Pipeline) -> None:
        self.deps = deps
        self.metrics = deps.metrics["envelope"]
        self.ack_latency = deps.ack_latency  # read to ack queued (web/metrics.py)
        self._actions = actions
        self.chain = Chain.of(pipeline, self.act, deps.lab)

    async def act(self, request: Request) -> None:
        assert isinstance(request, ActionContext)
        log_in(request)  # here, after the lab: its request id is the one the frames carry
        if request.problem is not None:  # not a request at all: an error frame, no ack
            raise request.problem
        await request.reply(protocol.ack(request.request_id))
        self.ack_latency.observe(trio.current_time() - request.received)
        parsed = protocol.parse_request(request.body, request.request_id)
        action = self._actions.get(parsed.action)
        if action is None:
            raise protocol.unknown_action(parsed.action)
        request.payload = parsed.payload
        await action(request)

    def refusal(self, request: Request, failure: Exception) -> tuple[str, protocol.Message] | None:
        error = as_protocol_error(failure)
        if error is None:
            return None
        return str(error.code), protocol.error(request.request_id, error)

    def internal_error(self, request: Request) -> protocol.Message:
        return protocol.error(
            request.request_id,
            protocol.ProtocolError(
                ErrorCode.INTERNAL_ERROR, "the server failed to handle this request"
            ),
        )


class EnvelopeSession:
    """One connection's envelope requests: decoded here, run through the door's chain."""

    __slots__ = (
        "_conn",
        "_door",
        "_expiry",
        "_previous_id",
        "_recovered",
        "_requests",
        "_since",
        "_user",
    )

    def __init__(
        self,
        conn: Connection,
        door: EnvelopeDoor,
        identity: Identity | None = None,
        since: Since | None = None,
    ) -> None:
        self._conn = conn
        self._door = door
        self._user = None if identity is None else identity.user  # QAKIT_AUTH=on
        self._expiry = token_expiry(conn, door.deps.identities, identity, warn=True)
        self._requests = 0
        self._previous_id: protocol.RequestId | None = None
        self._since = since  # the URL's ?since=&epoch=: recovered at connect
        self._recovered: Sequence[Frame] = ()

    def hello(self) -> protocol.Message:
        """`connected`, with the URL channel's position; with the URL's `since`, whether it
        was recovered (the frames follow it: `after_hello`). In the step the connection joined
        its channel: nothing published since is missed or comes twice."""
        user, conn, deps = self._user, self._conn, self._door.deps
        if self._expiry is not None:
            self._expiry.start()  # its token's expiry: sessions/expiry.py
        if user is None:
            frame = protocol.connected(conn.channel, conn.id)
        else:
            frame = protocol.connected(conn.channel, conn.id, user.name, user.role)
        ops = deps.channels
        if ops is None:
            return frame
        since = self._since
        if since is not None:
            ops = deps.lab.channels_for(ops, None if user is None else user.name)
            recovered = ops.recover(conn.channel, since)
            frame["recovered"] = recovered is not None  # (before epoch and offset: key order)
            self._recovered = recovered or ()
        at = ops.position(conn.channel)
        ts = frame.pop("ts")
        frame["epoch"], frame["offset"], frame["ts"] = at.epoch, at.offset, ts
        return frame

    def after_hello(self) -> Sequence[Frame]:
        recovered, self._recovered = self._recovered, ()
        return recovered

    async def handle(self, message: str | bytes) -> None:
        received = trio.current_time()
        conn, deps = self._conn, self._door.deps
        obj: dict[str, Any] = {}
        problem: ProtocolError | None = None
        if isinstance(message, bytes):
            problem = BINARY
        else:
            try:
                obj = protocol.decode_object(message)
            except protocol.ProtocolError as failure:
                problem = failure
        request = ActionContext(
            self._door,
            conn,
            obj,
            obj.get("action") if problem is None else NO_ACTION,
            None,
            deps.store,
            deps.events,
            deps.order_events,
        )
        request.deps = deps
        request.channels = deps.channels
        request.user = self._user
        request.expiry = self._expiry
        request.payload = {}
        request.message = message
        request.received = received
        if problem is not None:
            request.problem = problem
            await self._door.chain.run(request)
            return
        request.request_id = protocol.request_id_of(obj, self._assign_request_id)
        request.assigned_id = request.request_id != obj.get("request_id")
        request.previous_id = self._previous_id
        try:
            await self._door.chain.run(request, "fault" in obj)
        finally:  # the id its frames carried (the lab may have changed it)
            self._previous_id = request.request_id

    def described(self, frame: protocol.Message) -> tuple[Any, Any, Any]:
        return protocol.logged_values(frame)

    def _assign_request_id(self) -> str:
        self._requests += 1
        return f"srv-{self._conn.id}-{self._requests}"


def log_in(request: ActionContext) -> None:
    """The request's `frame in` log line."""
    message = request.message
    FRAME_IN.info(
        request.fields,
        request.request_id,
        len(message),
        "binary" if isinstance(message, bytes) else None,
        request.action if request.problem is None else None,
        *log_fields.payload_values(message, request.deps.settings.log_payload_max),
    )
