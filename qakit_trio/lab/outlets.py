"""The lab's outlets: wrappers around a request's outlet (pipeline/request.py), each planting
one defect of the catalogue (bugs.py) in what the client receives. The lab stage (lab.py)
puts them in front of the connection, or of the HTTP answer, for one request at a time; with
every bug off there are none, and replies go straight to the connection.
"""

from __future__ import annotations

from qakit_trio.errors import ErrorCode
from qakit_trio.lab.fault_spec import kind_of
from qakit_trio.pipeline.request import Outlet
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message, RequestId
from qakit_trio.ws.connection import Connection
from qakit_trio.ws.hub import Hub


class LateAck:
    """ack_after_data: the ack is held back and sent after the first reply; before an error
    frame, though (no data came), and at the end if nothing else came."""

    def __init__(self, inner: Outlet) -> None:
        self._inner = inner
        self._held: tuple[Message, str | None] | None = None

    async def reply(self, frame: Message, text: str | None = None) -> None:
        kind = kind_of(frame)
        if kind == "ack":
            self._held = (frame, text)
            return
        if frame.get("type") == "error":
            await self.finish()
            await self._inner.reply(frame, text)
            return
        await self._inner.reply(frame, text)
        await self.finish()

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)

    async def finish(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            await self._inner.reply(*held)


class DuplicateEvents:
    """duplicate_event: every event frame is sent twice."""

    def __init__(self, inner: Outlet) -> None:
        self._inner = inner

    async def reply(self, frame: Message, text: str | None = None) -> None:
        await self._inner.reply(frame, text)
        if kind_of(frame) == "event":
            await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)


class WrongRequestId:
    """event_wrong_request_id: the event frame the client receives carries the connection's
    previous request's request_id, not this one's (its first request's events are right:
    there is no previous). The `event` log line and the Kafka record keep the right one: what
    the client saw is the defect, and Kibana shows what it should have been."""

    def __init__(self, inner: Outlet, previous: RequestId | None) -> None:
        self._inner = inner
        self._previous = previous

    async def reply(self, frame: Message, text: str | None = None) -> None:
        if kind_of(frame) == "event" and self._previous is not None:
            frame, text = {**frame, "request_id": self._previous}, None
        await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)


class ClosesOnInvalidJson:
    """close_on_invalid_json: invalid JSON closes the connection (1000, the original stand's
    answer) instead of getting its error frame."""

    def __init__(self, inner: Outlet, conn: Connection) -> None:
        self._inner = inner
        self._conn = conn

    async def reply(self, frame: Message, text: str | None = None) -> None:
        if frame.get("error") == ErrorCode.INVALID_JSON:
            self._conn.close_soon(1000, "")
            return
        await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)


class LeaksToEveryChannel:
    """broadcast_leaks_channels: what a client broadcasts to a channel (its own copy comes
    through `share`) reaches every connection of the hub that is not in that channel too, once
    each; given to one trainee (`only`), only their own such connections."""

    def __init__(self, inner: Outlet, hub: Hub, channel: str, *, only: str | None = None) -> None:
        self._inner = inner
        self._hub = hub
        self._channel = channel  # the one the broadcast goes to
        self._only = only

    async def reply(self, frame: Message, text: str | None = None) -> None:
        await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        hub, only, channel = self._hub, self._only, self._channel
        for member in list(hub.members()):
            if channel not in member.channels and (only is None or member.user == only):
                hub.offer(member, item)
        return await self._inner.share(item)


class MissingOrderIs200:
    """missing_order_is_200 (REST): GET /orders/{id} of an order the store does not have
    answers 200 `null` instead of 404 (an id that cannot be one is still a 404). An HTTP answer
    is a frame {"status", "body", ...}; a store's miss is marked `"cause": "not_found"`
    (web/rest_door.py)."""

    def __init__(self, inner: Outlet) -> None:
        self._inner = inner

    async def reply(self, frame: Message, text: str | None = None) -> None:
        if frame.get("cause") == "not_found":
            frame = {"status": 200, "body": None}
        await self._inner.reply(frame, text)

    async def share(self, item: Frame) -> int:
        return await self._inner.share(item)
