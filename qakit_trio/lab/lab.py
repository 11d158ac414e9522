"""The lab: every bug (bugs.py) and fault (fault_spec.py, fault_rules.py) of the stand, and the
one place that chooses, request by request, what goes wrong with it: `Lab.stage`, a stage of
the request pipeline (pipeline/request.py).

The stage joins a request's chain only when the lab has something for it: a bug on or a
teacher's fault rule (`Lab.on`), or the request's own `fault` field (sessions/pipeline.py,
`Chain.run`). With every bug and fault off, requests never pass here: the stand runs the same
code as one without a lab. When the stage runs, it wraps what the request uses, for this
request only:

    its outlet      what the client receives      FaultOutlet, LateAck, DuplicateEvents,
                                                  WrongRequestId, MissingOrderIs200
    its store       what the orders domain does   LabStore (any_transition_allowed,
                                                  lost_update, list_orders_off_by_one)
    its events      the log line, the Kafka record LabEvents; RequesterMissesEvent
    its action      (stale_stats: answered from an old answer)

The choice gets the whole request, its door and its sender included, so a stage that knows who
sent it can give different trainees different bugs.
"""

from __future__ import annotations

import trio

from qakit_trio.errors import ProtocolError
from qakit_trio.lab.bugs import Bugs
from qakit_trio.lab.fault_outlet import FaultOutlet
from qakit_trio.lab.fault_rules import FaultRules
from qakit_trio.lab.fault_spec import Fault, parse_fault
from qakit_trio.lab.outlets import (
    ClosesOnInvalidJson,
    DuplicateEvents,
    LateAck,
    LeaksToEveryChannel,
    MissingOrderIs200,
    WrongRequestId,
)
from qakit_trio.lab.store import LabEvents, LabStore, RequesterMissesEvent
from qakit_trio.pipeline.request import ConnectionRequest, Next, Outlet, Request
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.hub import Hub

STALE_STATS_SECONDS = 5.0  # stale_stats: /stats answers what it counted up to this long ago


class Lab:
    def __init__(self, bugs: Bugs, fault_rules: FaultRules, hub: Hub) -> None:
        self.bugs = bugs
        self.fault_rules = fault_rules
        self._hub = hub  # the /ws channels (broadcast_leaks_channels)
        self._stale: tuple[float, Message] | None = None  # stale_stats: (when, the answer)

    @property
    def on(self) -> bool:
        """A bug or a fault rule is on: every request passes the lab stage."""
        return self.bugs.any_on or bool(self.fault_rules.rules)

    async def stage(self, request: Request, call_next: Next) -> None:
        bugs, door = self.bugs, request.door.name
        off_by_one = bugs.list_orders_off_by_one and door == "envelope"
        if bugs.any_transition_allowed or bugs.lost_update or off_by_one:
            rules = LabStore.rules(
                any_transition=bugs.any_transition_allowed, lost_update=bugs.lost_update
            )
            request.store = LabStore(request.store, rules, off_by_one=off_by_one)
        if bugs.event_log_without_event_id or bugs.kafka_record_without_event_id:
            request.events = LabEvents(
                request.events,
                log_id=not bugs.event_log_without_event_id,
                record_id=not bugs.kafka_record_without_event_id,
            )
        if door == "legacy" and bugs.legacy_requester_misses_event:
            request.order_events = RequesterMissesEvent(request.order_events, request.sender)
        if door == "rest":
            if request.action == "get_order" and bugs.missing_order_is_200:
                request.outlet = MissingOrderIs200(request.outlet)
            if request.action == "stats" and bugs.stale_stats:
                await self._stale_stats(request, call_next)
                return
        if not isinstance(request, ConnectionRequest) or door == "legacy":
            await call_next(request)
            return
        if door == "envelope":
            await self._envelope(request, call_next)
            return
        request.outlet = self._leaky(request.outlet, request)
        await call_next(request)

    async def _envelope(self, request: ConnectionRequest, call_next: Next) -> None:
        bugs, problem = self.bugs, request.problem
        if problem is not None:  # not a request: its error frame (or, with the bug, a close)
            if bugs.close_on_invalid_json:
                request.outlet = ClosesOnInvalidJson(request.outlet, request.conn)
            await call_next(request)
            return
        if bugs.no_id_request_id and request.assigned_id:
            request.request_id = "no-id"  # the original stand's id for a request without one
        try:
            fault = self._fault_of(request)
        except ProtocolError as refused:  # a bad `fault`: the ack, then what is wrong with it
            await self._refuse(request, refused)
            return
        if fault is not None:  # what the trainee asked for (no other bug but these two)
            faulty = FaultOutlet(request.conn, fault)
            if fault.delay_ms:  # refused before the action runs, if it is to be
                no_room = request.conn.delay_refused()
                if no_room is not None:
                    request.outlet = faulty  # its ack as the fault says, then the error
                    await self._refuse(request, no_room)
                    await faulty.finish()
                    return
            outlet: Outlet = self._leaky(faulty, request)
            request.outlet = DuplicateEvents(outlet) if bugs.duplicate_event else outlet
            await call_next(request)
            await faulty.finish()
            return
        outlet = self._leaky(request.outlet, request)
        if bugs.event_wrong_request_id:
            outlet = WrongRequestId(outlet, request.previous_id)
        if bugs.duplicate_event:
            outlet = DuplicateEvents(outlet)
        late = LateAck(outlet) if bugs.ack_after_data else None
        request.outlet = outlet if late is None else late
        await call_next(request)
        if late is not None:
            await late.finish()

    @staticmethod
    async def _refuse(request: ConnectionRequest, refused: ProtocolError) -> None:
        """The ack, then the error (through the request's outlet): the action does not run."""
        assert request.request_id is not None  # (a decoded request always has one)
        request.outcome = str(refused.code)
        await request.reply(protocol.ack(request.request_id))
        await request.reply(protocol.error(request.request_id, refused))

    def _leaky(self, outlet: Outlet, request: ConnectionRequest) -> Outlet:
        if not self.bugs.broadcast_leaks_channels:
            return outlet
        return LeaksToEveryChannel(outlet, self._hub, request.conn.channel)

    def _fault_of(self, request: ConnectionRequest) -> Fault | None:
        """The request's own `fault` (which wins), or a teacher's rule's; ProtocolError
        (validation_error, naming the field) for a bad `fault`."""
        if "fault" not in request.body:
            if not self.fault_rules.rules:
                return None
            return self.fault_rules.pick(request.action, request.conn.channel)
        return parse_fault(request.body["fault"])

    async def _stale_stats(self, request: Request, call_next: Next) -> None:
        """stale_stats: an answer counted up to STALE_STATS_SECONDS ago."""
        now, stale = trio.current_time(), self._stale
        if stale is not None and now - stale[0] < STALE_STATS_SECONDS:
            await request.reply(stale[1])
            return
        remembered = Remembered(request.outlet)
        request.outlet = remembered
        await call_next(request)
        if remembered.last is not None:
            self._stale = (now, remembered.last)


class Remembered:
    """An outlet that passes every reply on and keeps the last one."""

    def __init__(self, inner: Outlet) -> None:
        self._inner = inner
        self.last: Message | None = None

    async def reply(self, frame: Message, text: str | None = None) -> None:
        self.last = frame
        await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)
