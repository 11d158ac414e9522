"""A request's `fault` (lab/fault_spec.py), carried out by an outlet: `FaultOutlet` sends the
ack as the fault says at once, keeps the action's other replies, and `finish` sends them the
way the trainee asked: frames dropped, duplicated, reordered, fragmented, delayed, then maybe a
close. The lab stage (lab/lab.py) puts it in front of the connection for this request only.

A delayed delivery is a task in the connection's nursery (Connection.start_soon), so it never
blocks the connection's other requests or the server, and it ends with the connection, at once
(a close, the shutdown: ws/delayed.py):

    connection nursery
    ├── reader  ... the request with "fault": {"delay_ms": ...} -> ack now
    ├── writer
    └── delayed reply (one per such request): sleep delay_ms -> its frames -> maybe close

A connection holds at most 256 delayed replies and QAKIT_OUTBOX_BYTES of their frames
(ws/delayed.py); past that, the request gets a `too_many_delayed` error frame at once, and
nothing is held for it (not its frames, not its close).
"""

from __future__ import annotations

import json

import trio

from qakit_trio.lab.fault_spec import Fault, kind_of
from qakit_trio.wire import framing, protocol, stamps
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.connection import Connection

Collected = list[tuple[protocol.Message, str]]  # (the frame, its text)


class FaultOutlet:
    """What a request with a fault answers into, in front of its connection."""

    def __init__(self, conn: Connection, fault: Fault) -> None:
        self._conn = conn
        self._fault = fault
        self.collected: Collected = []

    async def reply(self, frame: protocol.Message, text: str | None = None) -> None:
        if kind_of(frame) == "ack":  # the ack goes now (or not at all, or twice)
            if "ack" not in self._fault.drop:
                for _ in range(2 if "ack" in self._fault.duplicate else 1):
                    await send_one(self._conn, self._fault, frame, text)
            return
        self.collected.append((frame, protocol.encode(frame) if text is None else text))

    async def share(self, item: Frame) -> int:
        """The sender's own copy of its broadcast: one of its data frames."""
        self.collected.append((json.loads(item.text), item.text))
        return 1

    async def finish(self) -> None:
        """Send what the action said, as the fault says (after the request's stages)."""
        await deliver(self._conn, self._fault, self.collected)


async def send_one(
    conn: Connection, fault: Fault, frame: protocol.Message, text: str | None
) -> None:
    """One frame to the connection, in `fault.fragment` WebSocket fragments."""
    if fault.fragment <= 1:
        await conn.reply(frame, text)
        return
    await conn.room()  # first: a wait lets other frames in (Connection.reply)
    frame, text = stamped(frame, protocol.encode(frame) if text is None else text)
    await conn.send_frame(frame, Frame(text, framing.fragmented_text(text, fault.fragment)))


def planned(fault: Fault, frames: Collected) -> Collected:
    """The frames as they are to be sent: dropped and duplicated by kind, maybe reversed."""
    out: Collected = []
    for frame, text in frames:
        kind = kind_of(frame)
        if kind not in fault.drop:
            out += [(frame, text)] * (2 if kind in fault.duplicate else 1)
    return out[::-1] if fault.reorder else out


def held(frames: Collected) -> tuple[Collected, int]:
    """What a delayed reply keeps until it is sent, and its size in bytes (the frames' UTF-8
    text, as on the wire). Of each frame, only what its `frame out` log line reads and its
    `ts`: the text is the whole frame already, so the parsed payload is not held twice."""
    kept = [({key: frame[key] for key in LOGGED if key in frame}, text) for frame, text in frames]
    return kept, sum(len(text.encode()) for _, text in kept)


LOGGED = ("type", "request_id", "error", "ts")  # what the envelope's `frame out` reads, + ts


def stamped(frame: protocol.Message, text: str) -> tuple[protocol.Message, str]:
    """The frame as it is queued now. Its `ts` is the time it is queued, like any frame's
    (wire/stamps.py): a frame sent late, or after one built later, is re-stamped (its text
    made again); one sent as it was built keeps its text (a duplicate, byte for byte)."""
    if "ts" not in frame or stamps.is_newest(frame["ts"]):
        return frame, text
    ts = stamps.frame_ts()
    return {**frame, "ts": ts}, protocol.encode({**json.loads(text), "ts": ts})


async def deliver(conn: Connection, fault: Fault, frames: Collected) -> None:
    """Send the action's frames as `fault` says: now, or from a task of the connection (or,
    past the connection's limits on delayed replies, a `too_many_delayed` error instead)."""
    outgoing = planned(fault, frames)

    async def send() -> None:
        if fault.delay_ms:
            await trio.sleep(fault.delay_ms / 1000)
        for frame, text in outgoing:
            await conn.room()  # first: a wait lets other frames in (Connection.reply)
            await send_one(conn, fault, *stamped(frame, text))
        if fault.close is not None:
            conn.close_soon(fault.close, "fault requested by the client")

    if not fault.delay_ms:
        await send()
        return
    outgoing, size = held(outgoing)
    try:
        conn.start_soon(send, size)  # the reader goes on with the next request
    except protocol.ProtocolError as refused:  # too_many_delayed: nothing held for it
        request_id = frames[0][0].get("request_id") if frames else None
        await conn.reply(protocol.error(request_id, refused))
