"""One request, from any door, and the stages it passes through on its way to its action.

Every door (`/ws` envelope, `/ws` in the qa_kit profile, `/ws/orders`, REST) adapts its own
wire format into a `Request` and runs it through the same stages (sessions/pipeline.py lists
them, in order; docs/concurrency.md shows them):

    door     decode the message, identify who sent it  -> Request (door, action, sender, ...)
    observe  time it; count it in qakit_requests_total (whatever happens below)
    (admit)  where auth and rate limits go: a stage that may refuse the request
    lab      the lab's bugs and faults for this request (lab/lab.py): only when a bug, a fault
             rule or the request's own `fault` asks for one; else not in the chain at all
    failures the door's errors, as the door's error replies (or 1011 / 500 for the rest)
    action   the door's: ack, the action itself; replies through `request.outlet`, events
             through `request.events`, orders through `request.store`

A stage is `async def stage(request, call_next)`: it does its part, awaits `call_next(request)`
for the rest, and may replace the request's `outlet`, `store` or `events` with a wrapper for
what follows (the lab does). The chain is composed once per door (`compose`), so a request
costs one call per stage and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from qakit_trio.request_metrics import RequestMetrics
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message, RequestId

if TYPE_CHECKING:
    from qakit_trio.auth.users import User
    from qakit_trio.domain.order_store import OrderStore
    from qakit_trio.pipeline.events import Announcer, Events
    from qakit_trio.ws.channel_ops import ChannelOps
    from qakit_trio.ws.connection import Connection


class Outlet(Protocol):
    """Where a request's replies go: its connection (ws/connection.py), an HTTP answer
    (web/rest_door.py), or a wrapper around one of them (the lab's: lab/outlets.py)."""

    async def reply(self, frame: Message, text: str | None = None) -> None:
        """Queue one reply frame (`text`: the frame already encoded in the door's own form)."""

    async def share(self, item: Frame) -> int:
        """The sender's own copy of a frame it published to its channel; 1 if it got it."""


class Reply(Protocol):
    def __call__(self, frame: Message, text: str | None = None) -> Awaitable[None]: ...


class Door(Protocol):
    """What differs between doors, as the shared stages see it."""

    name: str  # the `protocol` label of the request metrics: envelope, qa_kit, legacy, rest
    metrics: RequestMetrics

    async def act(self, request: Request) -> None:
        """The request's action (after its ack, if the door has acks)."""

    def refusal(self, request: Request, failure: Exception) -> tuple[str, Message] | None:
        """(outcome, error reply) for one of the door's own errors; None for any other."""

    def internal_error(self, request: Request) -> Message:
        """The error reply of a request whose handler failed (then the connection closes)."""


class Request:
    """One request on its way through the pipeline. The door fills it in; a stage may replace
    `outlet`, `store` and `events` for the stages after it (never for other requests)."""

    __slots__ = (
        "_outlet",
        "action",
        "door",
        "events",
        "fields",
        "order_events",
        "outcome",
        "reply",
        "request_id",
        "sender",
        "store",
        "user",
    )

    # `reply(frame, text=None)`: the outlet's own, bound when the outlet is set (one call per
    # reply, not a call of ours around the outlet's)
    reply: Reply

    def __init__(
        self,
        door: Door,
        action: object,
        request_id: RequestId | None,
        sender: str | None,
        fields: dict[str, Any],
        outlet: Outlet,
        store: OrderStore,
        events: Events,
        order_events: Announcer,
    ) -> None:
        self.door = door
        self.action = action  # what the client named: any JSON value (a label only if known)
        self.request_id = request_id
        self.sender = sender  # who sent it: its connection's id (REST: None), later a user
        self.fields = fields  # on every log line about it (conn, channel)
        self.outlet = outlet
        self.store = store
        self.events = events
        self.order_events = order_events
        self.outcome = "ok"  # set by the failures stage: the error code, or "error"
        self.user: User | None = None  # QAKIT_AUTH=on: who sent it (sessions/identity.py)

    @property
    def outlet(self) -> Outlet:
        return self._outlet

    @outlet.setter
    def outlet(self, outlet: Outlet) -> None:
        self._outlet = outlet
        self.reply = outlet.reply

    def close_soon(self, code: int, reason: str) -> None:
        """End the client's connection after this request (a failed handler, a fault): the
        WebSocket doors' requests do; an HTTP request has nothing to close."""


class ConnectionRequest(Request):
    """A request that came in a WebSocket message: its connection is its sender and, until a
    stage wraps it, its outlet."""

    __slots__ = ("assigned_id", "body", "channels", "conn", "previous_id", "problem")

    def __init__(
        self,
        door: Door,
        conn: Connection,
        body: dict[str, Any],
        action: object,
        request_id: RequestId | None,
        store: OrderStore,
        events: Events,
        order_events: Announcer,
    ) -> None:
        super().__init__(
            door, action, request_id, conn.id, conn.fields, conn, store, events, order_events
        )
        self.conn = conn
        self.body = body  # the decoded JSON object ({} if it was not one)
        self.problem: Exception | None = None  # why it could not be decoded (raised by act)
        self.assigned_id = False  # the client sent no request_id: the server assigned it
        self.previous_id: RequestId | None = None  # the connection's previous request's id
        # /ws's channels (envelope protocol): offsets, subscriptions, presence; the lab's
        # channel bugs wrap it (lab/channels.py). None for the other doors.
        self.channels: ChannelOps | None = None

    def close_soon(self, code: int, reason: str) -> None:
        self.conn.close_soon(code, reason)


Next = Callable[[Request], Awaitable[None]]


class Stage(Protocol):
    """A stage: its part of the request, around `call_next(request)` for the rest."""

    def __call__(self, request: Request, call_next: Next) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The stages of every door, in order, around each door's action; `lab`: the lab's stage,
    which joins the chain only while the lab has something for a request (sessions/pipeline.py)."""

    stages: Sequence[Stage]
    lab: Stage
    lab_at: int  # the lab stage's place in `stages`

    def chains(self, act: Next) -> tuple[Next, Next]:
        """(without the lab, with it) around `act`: composed once, at start-up."""
        plain = list(self.stages)
        with_lab = [*plain[: self.lab_at], self.lab, *plain[self.lab_at :]]
        return compose(plain, act), compose(with_lab, act)


def compose(stages: Sequence[Stage], act: Next) -> Next:
    """`stages[0]` calls `stages[1]` ... calls `act`: one callable, built once."""
    chain = act
    for stage in reversed(stages):
        chain = partial(stage, call_next=chain)
    return chain
