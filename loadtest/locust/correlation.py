"""What the Locust scenarios check, frame by frame: pure (no Locust, no socket), so that it can
be read on its own and fed frames by hand.

One `Correlator` per connection. It knows the requests this connection has sent and not seen
answered yet, and for each the frames the stand's contract promises, in order (docs/protocol.md):
an `echo` gets ack, echo, event; a `triplet_demo` ack, step, step, event; a `broadcast` ack,
message (the sender's own copy), event. Every frame must carry its request's `request_id`
verbatim. A frame that breaks this raises `CorrelationError`:

- a frame of a request that is not the next one its request expects (out of order, or an error);
- a frame that claims a request whose frames have all arrived (nothing else may claim its id);
- a frame that claims an id this connection never sent;
- a publication of the channel (a `message` frame) whose offset is not the one after the last
  one seen (a gap or a duplicate), or whose epoch changed, or whose payload names another
  request than its `request_id`.

The timings it returns are in milliseconds: `ack` (request sent -> its ack), `reply` (request
sent -> its last frame), `delivery` (a publisher's `sent_at` in the payload -> now, for another
connection's publication: both clocks are this machine's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# action -> the frame types that answer it, in order
REPLIES: dict[str, tuple[str, ...]] = {
    "echo": ("ack", "echo", "event"),
    "triplet_demo": ("ack", "step", "step", "event"),
    "broadcast": ("ack", "message", "event"),
}


class CorrelationError(AssertionError):
    """A frame the contract does not allow here: `str()` says what, in the same words for the
    same fault (Locust counts them as one failure), `detail` which frame."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(what)
        self.detail = detail


def check_hello(frame: dict[str, Any], channel: str) -> str:
    """The hello of `channel` (the server speaks first); its connection id."""
    connection_id = frame.get("connection_id")
    if frame.get("type") != "system" or frame.get("channel") != channel or not connection_id:
        raise CorrelationError(f"not the hello of channel {channel}", _text(frame))
    return str(connection_id)


def publication(action: str, request_id: str, sent_at: float) -> dict[str, Any]:
    """A broadcast request whose message says when (epoch seconds) and by which request it was
    sent: a subscriber measures the delivery from it and checks the frame's request_id."""
    text = json.dumps({"sent_at_ms": sent_at * 1000, "request_id": request_id})
    return {"action": action, "payload": {"message": text}, "request_id": request_id}


@dataclass
class Request:
    action: str
    sent: float  # epoch seconds
    seen: list[str] = field(default_factory=list)


@dataclass
class Correlator:
    connection_id: str
    epoch: str | None = None  # the channel's, from the hello
    offset: int | None = None  # the channel's last publication seen (the hello's at first)
    open: dict[str, Request] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    @classmethod
    def after(cls, hello: dict[str, Any], channel: str) -> Correlator:
        """A connection's correlator, from its hello."""
        offset = hello.get("offset")
        return cls(
            check_hello(hello, channel),
            hello.get("epoch"),
            offset if isinstance(offset, int) else None,
        )

    def sent(self, request_id: str, action: str, at: float) -> None:
        if request_id in self.open or request_id in self.answered:
            raise ValueError(f"request_id {request_id!r} used twice on one connection")
        self.open[request_id] = Request(action, at)

    def received(self, frame: dict[str, Any], now: float) -> list[tuple[str, float]]:
        """Check one frame (received at `now`, epoch seconds); the timings it completes."""
        kind, request_id = frame.get("type"), frame.get("request_id")
        timings: list[tuple[str, float]] = []
        if kind == "message":
            self._publication(frame)
            if frame.get("from") != self.connection_id:  # another connection's publication
                if request_id in self.open or request_id in self.answered:
                    raise CorrelationError(
                        "another connection's message claims our id", _text(frame)
                    )
                return [("delivery", now * 1000 - _payload(frame)["sent_at_ms"])]
        if request_id in self.answered:
            raise CorrelationError(
                "a frame claims a request whose frames had all arrived", _text(frame)
            )
        if not isinstance(request_id, str) or request_id not in self.open:
            raise CorrelationError("a frame claims an id this connection never sent", _text(frame))
        request = self.open[request_id]
        expected = REPLIES[request.action][len(request.seen)]
        if kind != expected:
            after = "+".join(request.seen) or "nothing"
            raise CorrelationError(
                f"{request.action}: expected {expected} after {after}", _text(frame)
            )
        if kind == "event" and frame.get("name") != f"ws.{request.action}":
            raise CorrelationError(f"{request.action}: the event of another action", _text(frame))
        request.seen.append(kind)
        if kind == "ack":
            timings.append(("ack", (now - request.sent) * 1000))
        if len(request.seen) == len(REPLIES[request.action]):
            del self.open[request_id]
            self.answered.add(request_id)
            timings.append(("reply", (now - request.sent) * 1000))
        return timings

    def _publication(self, frame: dict[str, Any]) -> None:
        offset, epoch = frame.get("offset"), frame.get("epoch")
        if self.epoch is not None and epoch != self.epoch:
            raise CorrelationError("the epoch changed", f"from {self.epoch}: {_text(frame)}")
        if self.offset is not None and offset != self.offset + 1:
            raise CorrelationError(
                "a gap or a duplicate in the offsets",
                f"offset {offset} after {self.offset}: {_text(frame)}",
            )
        named = _payload(frame).get("request_id")
        if named != frame.get("request_id"):
            raise CorrelationError("a message claims another id than it names", _text(frame))
        self.epoch, self.offset = epoch, offset if isinstance(offset, int) else None


def _payload(frame: dict[str, Any]) -> dict[str, Any]:
    """A publication's message, as `publication` wrote it."""
    try:
        payload = json.loads(frame["message"])
        float(payload["sent_at_ms"])
    except (ValueError, TypeError, KeyError) as error:
        raise CorrelationError("not a publication of this scenario", _text(frame)) from error
    assert isinstance(payload, dict)
    return payload


def _text(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)[:300]
