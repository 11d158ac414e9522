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
    its channels    offsets, recovery, presence    LabChannels (channels.py: the six
                                                  `channels` bugs)
    its action      (stale_stats: answered from an old answer)

A request's bugs are the stand-wide ones (QAKIT_BUGS, PUT /lab/bugs) plus those the teacher
gave its user (PUT /lab/assignments, classroom/): another trainee's identical request sees a
correct stand. The bugs about shared state keep to their trainee: stale_stats remembers an old
answer per trainee, broadcast_leaks_channels leaks only to the trainee's own connections in
other channels, and lost_update's race window is a lock for every other user's change of that
order (store.py `Races`), so the write that is lost is always the trainee's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import trio

from qakit_trio.errors import ProtocolError
from qakit_trio.lab.bugs import NAMES, Bugs
from qakit_trio.lab.channels import with_bugs
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
from qakit_trio.lab.shared import SharedLab
from qakit_trio.lab.store import LabEvents, LabStore, Races, RequesterMissesEvent
from qakit_trio.pipeline.request import ConnectionRequest, Next, Outlet, Request
from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.hub import Hub

STALE_STATS_SECONDS = 5.0  # stale_stats: /stats answers what it counted up to this long ago


MAX_VIEWS = 1_024  # distinct sets of bugs remembered (a class has a few dozen)


class Lab:
    def __init__(
        self,
        bugs: Bugs,
        fault_rules: FaultRules,
        hub: Hub,
        assigned: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.bugs = bugs  # the stand-wide ones
        self.fault_rules = fault_rules
        # trainee -> the bugs the teacher gave them: the classroom's table (classroom/), read
        # here, changed only there
        self.assigned: Mapping[str, tuple[str, ...]] = {} if assigned is None else assigned
        self._hub = hub  # the /ws channels (broadcast_leaks_channels)
        # stale_stats: (when, the answer), per trainee it was given to (None: stand-wide)
        self._stale: dict[str | None, tuple[float, Message]] = {}
        self._views: dict[frozenset[str], Bugs] = {}  # a set of bugs -> its switches
        self.races = Races()  # lost_update given to one trainee: whose window is open
        # QAKIT_CLUSTER=kafka: the stand-wide bugs and fault rules are every instance's
        # (shared.py); the routes change them through it. None: this instance's alone.
        self.shared: SharedLab | None = None

    @property
    def on(self) -> bool:
        """A bug, a fault rule or an assignment is on: every request passes the lab stage."""
        return self.bugs.any_on or bool(self.fault_rules.rules) or bool(self.assigned)

    def bug_names(self, user: str | None) -> tuple[str, ...]:
        """`user`'s bugs (None: anonymous), in the catalogue's order: the stand-wide ones and
        theirs (a finding's twin with the trainee's bugs: web/classroom.py)."""
        names = self.bugs.names | frozenset(self.assigned.get(user, ()) if user else ())
        return tuple(name for name in NAMES if name in names)

    def bugs_of(self, request: Request) -> tuple[Bugs, frozenset[str]]:
        """The request's bugs: the stand-wide ones and its user's; and which are its user's."""
        return self.bugs_for(None if request.user is None else request.user.name)

    def bugs_for(self, user: str | None) -> tuple[Bugs, frozenset[str]]:
        """A user's bugs (None: anonymous), as `bugs_of`."""
        mine = None if user is None else self.assigned.get(user)
        if not mine:
            return self.bugs, frozenset()
        names = self.bugs.names | frozenset(mine)
        view = self._views.get(names)
        if view is None:
            if len(self._views) >= MAX_VIEWS:
                self._views.clear()
            view = self._views[names] = Bugs(names)
        return view, frozenset(mine) - self.bugs.names

    def channels_for(self, ops: ChannelOps, user: str | None) -> ChannelOps:
        """`ops` with `user`'s channel bugs: a connection's recovery at connect (no request)."""
        return with_bugs(ops, self.bugs_for(user)[0])

    async def stage(self, request: Request, call_next: Next) -> None:
        bugs, only_mine = self.bugs_of(request)
        door = request.door.name
        user = None if request.user is None else request.user.name
        off_by_one = bugs.list_orders_off_by_one and door == "envelope"
        # a class with lost_update of a trainee's own: every change is counted (store.py Races)
        races = self.races if self.assigned and not self.bugs.lost_update else None
        if bugs.any_transition_allowed or bugs.lost_update or off_by_one or races is not None:
            rules = LabStore.rules(
                any_transition=bugs.any_transition_allowed, lost_update=bugs.lost_update
            )
            request.store = LabStore(
                request.store,
                rules,
                off_by_one=off_by_one,
                races=races,
                user=user,
                racing="lost_update" in only_mine,
            )
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
                await self._stale_stats(
                    request, call_next, user if "stale_stats" in only_mine else None
                )
                return
        if not isinstance(request, ConnectionRequest) or door == "legacy":
            await call_next(request)
            return
        leak_to = user if "broadcast_leaks_channels" in only_mine else None
        if door == "envelope":
            await self._envelope(request, call_next, bugs, leak_to)
            return
        request.outlet = self._leaky(request.outlet, request, bugs, leak_to)
        await call_next(request)

    async def _envelope(
        self, request: ConnectionRequest, call_next: Next, bugs: Bugs, leak_to: str | None
    ) -> None:
        problem = request.problem
        if problem is not None:  # not a request: its error frame (or, with the bug, a close)
            if bugs.close_on_invalid_json:
                request.outlet = ClosesOnInvalidJson(request.outlet, request.conn)
            await call_next(request)
            return
        if request.channels is not None:
            request.channels = with_bugs(request.channels, bugs)
        if bugs.no_id_request_id and request.assigned_id:
            request.request_id = "no-id"  # the original stand's id for a request without one
        try:
            fault = self._fault_of(request)
        except ProtocolError as refused:  # a bad `fault`: the ack, then what is wrong with it
            await self._refuse(request, refused)
            return
        drop = None if fault is None else fault.disconnect_after_ms
        if drop is not None:  # reconnection practice: after the replies (drop_after)
            no_room = request.conn.delay_refused()  # (a drop is one of the delayed tasks)
            if no_room is not None:
                await self._refuse(request, no_room)
                return
            if fault is not None and fault.only_disconnect:
                fault = None  # its replies as without a fault
            try:
                await self._faulty(request, call_next, bugs, leak_to, fault)
            finally:
                with contextlib.suppress(ProtocolError):  # (its room was checked above)
                    request.conn.drop_after(drop / 1000)
            return
        await self._faulty(request, call_next, bugs, leak_to, fault)

    async def _faulty(
        self,
        request: ConnectionRequest,
        call_next: Next,
        bugs: Bugs,
        leak_to: str | None,
        fault: Fault | None,
    ) -> None:
        """The request with its own fault, or the bugs' outlets (no fault)."""
        if fault is not None:  # what the trainee asked for (no other bug but these two)
            faulty = FaultOutlet(request.conn, fault)
            if fault.delay_ms:  # refused before the action runs, if it is to be
                no_room = request.conn.delay_refused()
                if no_room is not None:
                    request.outlet = faulty  # its ack as the fault says, then the error
                    await self._refuse(request, no_room)
                    await faulty.finish()
                    return
            outlet: Outlet = self._leaky(faulty, request, bugs, leak_to)
            request.outlet = DuplicateEvents(outlet) if bugs.duplicate_event else outlet
            await call_next(request)
            await faulty.finish()
            return
        outlet = self._leaky(request.outlet, request, bugs, leak_to)
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

    def _leaky(
        self, outlet: Outlet, request: ConnectionRequest, bugs: Bugs, leak_to: str | None
    ) -> Outlet:
        """broadcast_leaks_channels: to every channel (stand-wide), or to the trainee's own
        connections in other channels (theirs alone: `leak_to`)."""
        if not bugs.broadcast_leaks_channels:
            return outlet
        payload = request.body.get("payload")  # (the envelope's broadcast action checks it)
        envelope = request.door.name == "envelope"
        target = payload.get("channel") if envelope and isinstance(payload, dict) else None
        channel = target if isinstance(target, str) else request.conn.channel
        return LeaksToEveryChannel(outlet, self._hub, channel, only=leak_to)

    def _fault_of(self, request: ConnectionRequest) -> Fault | None:
        """The request's own `fault` (which wins), or a teacher's rule's; ProtocolError
        (validation_error, naming the field) for a bad `fault`."""
        if "fault" not in request.body:
            if not self.fault_rules.rules:
                return None
            return self.fault_rules.pick(request.action, request.conn.channel)
        return parse_fault(request.body["fault"])

    async def _stale_stats(self, request: Request, call_next: Next, user: str | None) -> None:
        """stale_stats: an answer counted up to STALE_STATS_SECONDS ago (the trainee's own
        earlier answer, when the bug is theirs alone: `user`)."""
        now, stale = trio.current_time(), self._stale.get(user)
        if stale is not None and now - stale[0] < STALE_STATS_SECONDS:
            await request.reply(stale[1])
            return
        remembered = Remembered(request.outlet)
        request.outlet = remembered
        await call_next(request)
        if remembered.last is not None:
            if len(self._stale) >= MAX_VIEWS:
                self._stale.clear()
            self._stale[user] = (now, remembered.last)


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
