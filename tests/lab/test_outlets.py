"""The lab's wrappers on their own (lab/outlets.py, lab/store.py), against in-memory parts:
each plants exactly its defect in what passes through it, and nothing else."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from qakit_trio.domain.order_store import MemoryOrderStore
from qakit_trio.domain.orders import Status
from qakit_trio.lab.outlets import (
    DuplicateEvents,
    LateAck,
    LeaksToEveryChannel,
    MissingOrderIs200,
    WrongRequestId,
)
from qakit_trio.lab.store import LabEvents, LabStore, RequesterMissesEvent
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.hub import Hub

from ..ws.test_hub import join

ACK: Message = {"type": "ack", "request_id": "r"}
DATA: Message = {"type": "echo", "request_id": "r"}
EVENT: Message = {"type": "event", "request_id": "r", "event_id": "e1"}
ERROR: Message = {"type": "error", "request_id": "r", "error": "validation_error"}


class Kept:
    def __init__(self) -> None:
        self.frames: list[Message] = []
        self.shared: list[str] = []

    async def reply(self, frame: Message, text: str | None = None) -> None:
        self.frames.append(frame)

    async def share(self, item: Frame) -> int:
        self.shared.append(item.text)
        return 1


def kinds(outlet: Kept) -> list[str]:
    return [frame["type"] for frame in outlet.frames]


async def test_late_ack_goes_after_the_first_reply_but_before_an_error() -> None:
    sent = Kept()
    late = LateAck(sent)
    for frame in (ACK, DATA, EVENT):
        await late.reply(frame)
    assert kinds(sent) == ["echo", "ack", "event"]
    refused = Kept()
    late = LateAck(refused)
    await late.reply(ACK)
    await late.reply(ERROR)
    assert kinds(refused) == ["ack", "error"]
    quiet = Kept()
    late = LateAck(quiet)
    await late.reply(ACK)
    await late.finish()  # nothing else came: the ack is not lost
    assert kinds(quiet) == ["ack"]


async def test_duplicate_events_and_a_wrong_request_id_touch_events_only() -> None:
    sent = Kept()
    outlet = DuplicateEvents(WrongRequestId(sent, "previous"))
    for frame in (ACK, DATA, EVENT):
        await outlet.reply(frame)
    assert [(f["type"], f["request_id"]) for f in sent.frames] == [
        ("ack", "r"),
        ("echo", "r"),
        ("event", "previous"),
        ("event", "previous"),
    ]
    first = Kept()
    await WrongRequestId(first, None).reply(EVENT)  # a connection's first request: no previous
    assert first.frames == [EVENT]


async def test_a_broadcast_leaks_into_every_other_channel() -> None:
    hub = Hub()
    other = join(hub, "other", "c-other")
    sender = join(hub, "room", "c-room")
    sent = Kept()
    assert await LeaksToEveryChannel(sent, hub, "room").share(Frame.of('{"m":1}')) == 1
    assert other.queued() == [Frame.of('{"m":1}')]  # another channel got it
    assert sent.shared == ['{"m":1}']  # the sender's copy, as its own reply
    assert sender.queued() == []  # and not a second one through its channel


async def test_a_missing_order_is_200_null_and_other_answers_pass() -> None:
    sent = Kept()
    outlet = MissingOrderIs200(sent)
    missing = {"status": 404, "body": {"detail": "Order not found"}, "cause": "not_found"}
    await outlet.reply(missing)
    out_of_range = {"status": 404, "body": {"detail": "Order not found"}}  # never a store's
    await outlet.reply(out_of_range)
    await outlet.reply({"status": 422, "body": {"detail": []}})
    assert sent.frames == [
        {"status": 200, "body": None},
        out_of_range,
        {"status": 422, "body": {"detail": []}},
    ]


async def test_the_lab_store_plants_its_bugs_and_the_real_store_has_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    real = MemoryOrderStore()
    for name in "abc":
        await real.create(name)
    lenient = LabStore(
        real, LabStore.rules(any_transition=True, lost_update=False), off_by_one=True
    )
    assert len(await lenient.list(limit=3)) == 2  # list_orders_off_by_one
    assert len(await real.list(limit=3)) == 3
    await lenient.change_status(1, Status.DELIVERED)  # created -> delivered: any transition
    assert (await real.get(1)).status == Status.DELIVERED  # type: ignore[union-attr]


class Sink:
    def __init__(self) -> None:
        self.logged: list[Message] = []
        self.published: list[Message] = []

    def record(self, frame: Message, fields: dict[str, Any]) -> None:
        self.log_event(frame, fields)
        self.message(frame, "", None)

    def log_event(self, frame: Message, fields: dict[str, Any]) -> None:
        self.logged.append(frame)

    def message(
        self, frame: Message, channel: str, connection_id: str | None, user: str | None = None
    ) -> None:
        self.published.append(frame)


def test_events_lose_their_id_only_where_the_bug_says() -> None:
    for log_id, record_id in ((False, True), (True, False)):
        sink = Sink()
        LabEvents(sink, log_id=log_id, record_id=record_id).record(EVENT, {})
        assert ("event_id" in sink.logged[0], "event_id" in sink.published[0]) == (
            log_id,
            record_id,
        )


def test_the_legacy_requester_is_skipped_by_its_own_event() -> None:
    calls: list[dict[str, Any]] = []

    class Announcer:
        def frame(self, event: Any, request_id: Any) -> Message:
            return {}

        def publish(self, *args: Any, **kwargs: Any) -> None:
            calls.append(kwargs)

    RequesterMissesEvent(Announcer(), "c-7").publish(None, {}, {})  # type: ignore[arg-type]
    assert calls[0]["legacy_skip"] == "c-7"
