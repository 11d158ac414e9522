"""The lab's store and events: wrappers that plant the defects of the domain, the Kafka
records and the logs (bugs.py) around the real store and event sink, for one request. The
store and the sink themselves have no bug in them: the store offers one knob, `ChangeRules`
(domain/orders.py), which only this wrapper turns.
"""

from __future__ import annotations

from typing import Any

import trio

from qakit_trio.domain.order_store import OrderStore
from qakit_trio.domain.orders import STRICT, ChangeRules, Order, OrderEvent, Status
from qakit_trio.pipeline.events import Announcer, Events
from qakit_trio.wire.protocol import Message

# lost_update: seconds between the unlocked read and the write, wide enough for two requests
# sent together (a Postman runner, two pytest tasks) to both fall into it
LOST_UPDATE_WINDOW = 0.5


class LabStore:
    """any_transition_allowed, lost_update (every door) and list_orders_off_by_one (/ws)."""

    def __init__(self, store: OrderStore, rules: ChangeRules, *, off_by_one: bool) -> None:
        self._store = store
        self._rules = rules
        self._off_by_one = off_by_one
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
        return await self._store.change_status(order_id, status, self._rules)


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
