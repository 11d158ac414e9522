"""The lab's store and events: wrappers that plant the defects of the domain, the Kafka
records and the logs (bugs.py) around the real store and event sink, for one request. The
store and the sink themselves have no bug in them: the store offers one knob, `ChangeRules`
(domain/orders.py), which only this wrapper turns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import trio

from qakit_trio.domain.order_store import OrderStore
from qakit_trio.domain.orders import STRICT, ChangeRules, Order, OrderEvent, Status
from qakit_trio.pipeline.events import Announcer, Events
from qakit_trio.wire.protocol import Message

# lost_update: seconds between the unlocked read and the write, wide enough for two requests
# sent together (a Postman runner, two pytest tasks) to both fall into it
LOST_UPDATE_WINDOW = 0.5
T = TypeVar("T")


@dataclass(slots=True)
class _Changes:
    """One order's changes in flight (Races)."""

    owner: str | None = None  # the trainee whose race windows are open on it, if any
    windows: int = 0  # their changes in flight (each in its window)
    others: int = 0  # everyone else's changes in flight
    changed: trio.Event = field(default_factory=trio.Event)  # set (and replaced) at every end


class Races:
    """lost_update given to one trainee (not stand-wide): every change of an order is counted
    while it runs. The trainee's own changes open race windows (they may overlap each other:
    that is the bug); anyone else's change waits until no window is open on the order, and a
    window waits until no one else's change is in flight. So the write that is lost is always
    the trainee's own, never another user's."""

    def __init__(self) -> None:
        self.orders: dict[int, _Changes] = {}  # order id -> its changes in flight

    async def change(
        self, order_id: int, user: str | None, racing: bool, work: Callable[[], Awaitable[T]]
    ) -> T:
        """Run `work` (one change of `order_id` by `user`; `racing`: in a race window)."""
        while (state := self.orders.get(order_id)) is not None and not (
            (state.others == 0 and state.owner in (None, user)) if racing else state.windows == 0
        ):
            await state.changed.wait()
        state = self.orders.setdefault(order_id, _Changes())
        if racing:
            state.owner, state.windows = user, state.windows + 1
        else:
            state.others += 1
        try:
            return await work()
        finally:
            if racing:
                state.windows -= 1
                state.owner = state.owner if state.windows else None
            else:
                state.others -= 1
            if not (state.windows or state.others):
                del self.orders[order_id]
            state.changed.set()  # whoever waits looks again
            state.changed = trio.Event()


class LabStore:
    """any_transition_allowed, lost_update (every door) and list_orders_off_by_one (/ws).
    `races`: a trainee has lost_update of their own (Races): this request's changes are counted
    there, as `user`'s, in a race window when `racing` (it is that trainee's)."""

    def __init__(
        self,
        store: OrderStore,
        rules: ChangeRules,
        *,
        off_by_one: bool,
        races: Races | None = None,
        user: str | None = None,
        racing: bool = False,
    ) -> None:
        self._store = store
        self._rules = rules
        self._off_by_one = off_by_one
        self._races = races
        self._user = user
        self._racing = racing
        self.kind = store.kind

    @staticmethod
    def rules(*, any_transition: bool, lost_update: bool) -> ChangeRules:
        if not (any_transition or lost_update):
            return STRICT
        return ChangeRules(
            check=not any_transition, race_window=LOST_UPDATE_WINDOW if lost_update else 0.0
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise RuntimeError("a request's view of the store is not a service to run")

    def health(self) -> dict[str, Any]:
        return self._store.health()

    async def create(self, customer: str) -> OrderEvent:
        return await self._store.create(customer)

    async def get(self, order_id: int) -> Order | None:
        return await self._store.get(order_id)

    async def list(
        self, *, newest_first: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Order]:
        if self._off_by_one and limit is not None:
            limit = max(limit - 1, 0)  # list_orders with limit N returns N-1 orders
        return await self._store.list(newest_first=newest_first, limit=limit, offset=offset)

    async def change_status(
        self, order_id: int, status: Status, rules: ChangeRules = STRICT
    ) -> OrderEvent:
        change = partial(self._store.change_status, order_id, status, self._rules)
        if self._races is None:
            return await change()
        return await self._races.change(order_id, self._user, self._racing, change)


def _without_event_id(frame: Message) -> Message:
    return {key: value for key, value in frame.items() if key != "event_id"}


class LabEvents:
    """event_log_without_event_id (the `event` log line) and kafka_record_without_event_id
    (the WS topic's record): the event as the real sink would show it, its id left out."""

    def __init__(self, sink: Events, *, log_id: bool, record_id: bool) -> None:
        self._sink = sink
        self._log_id = log_id
        self._record_id = record_id

    def record(self, frame: Message, fields: dict[str, Any]) -> None:
        self.log_event(frame, fields)
        self.message(frame, fields.get("channel", ""), fields.get("conn"), fields.get("user"))

    def log_event(self, frame: Message, fields: dict[str, Any]) -> None:
        self._sink.log_event(frame if self._log_id else _without_event_id(frame), fields)

    def message(
        self, frame: Message, channel: str, connection_id: str | None, user: str | None = None
    ) -> None:
        self._sink.message(
            frame if self._record_id else _without_event_id(frame), channel, connection_id, user
        )


class RequesterMissesEvent:
    """legacy_requester_misses_event: on /ws/orders, the client that made a change gets no
    legacy event frame for it (everyone else does)."""

    def __init__(self, inner: Announcer, requester: str | None) -> None:
        self._inner = inner
        self._requester = requester

    def frame(self, event: OrderEvent, request_id: Any) -> Message:
        return self._inner.frame(event, request_id)

    def publish(
        self,
        event: OrderEvent,
        frame: Message,
        fields: dict[str, Any],
        *,
        requester: str | None = None,
        legacy_skip: str | None = None,
        sink: Events | None = None,
    ) -> None:
        self._inner.publish(
            event, frame, fields, requester=requester, legacy_skip=self._requester, sink=sink
        )
