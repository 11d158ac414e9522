"""What a replay does, in which order, and what each step waits for: built from the recording
alone. Pure: no trio (tests/replayer/test_plan.py).

The recording is one timeline of every connection's frames. The replay walks it as a list of
steps, one at a time, in the recording's order: open a connection (before its first frame),
send a client frame, close a connection (after its last frame). A step waits until every reply
the recording shows arriving before it, on any connection, has arrived in the replay: a client
frame goes once the client has seen what it had seen when it was sent (the replies to the
previous request, a broadcast another connection caused, nothing at all for a burst of sends
that did not wait). So the replay keeps the recording's causality: its replies interleave as
the recorded ones did, and a deterministic stand gives the same ids and times.

A reply that does not come (the stand differs) is given up after the recording's own wait
before that step plus the grace period (`--grace`); the comparison then reports it missing. A
close waits `settle` seconds with nothing arriving first, so that a frame too many (a
duplicated event) is seen. With `--pace` a step also waits for its recorded time after the
start: the recorded gaps are kept (never shortened).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from qakit_trio.wire.session_match import SERVER_REQUEST_ID, parse
from qakit_trio.wire.sessions import Connection, Session

Kind = Literal["open", "send", "close"]


@dataclass(frozen=True)
class Step:
    index: int  # its place in the replay, from 0
    kind: Kind
    conn: str  # the connection's name
    at: float  # seconds after the session's first moment
    gap: float  # seconds after the step before it (its recorded wait)
    needs: dict[str, int]  # connection -> replies that must have arrived first
    data: str | bytes = ""  # a send's frame


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]

    def of(self, conn: str) -> list[Step]:
        return [step for step in self.steps if step.conn == conn]


def plan(session: Session) -> Plan:
    moments: list[tuple[float, int, int, Connection, Kind | None, str | bytes]] = []
    for number, connection in enumerate(session.connections):
        latest = connection.opened_at
        moments.append((latest, number, len(moments), connection, "open", ""))
        for frame in connection.frames:
            latest = max(latest, frame.time)  # a connection's frames stay in its order
            kind: Kind | None = "send" if frame.direction == "send" else None
            moments.append((latest, number, len(moments), connection, kind, frame.data))
        moments.append((latest, number, len(moments), connection, "close", ""))
    moments.sort(key=lambda moment: (moment[0], moment[2]))
    start = moments[0][0] if moments else 0.0
    seen: dict[str, int] = {}
    steps: list[Step] = []
    previous = start
    for time, _, _, connection, kind, data in moments:
        if kind is None:  # a reply: the steps after it wait for it
            seen[connection.name] = seen.get(connection.name, 0) + 1
            continue
        needs = {name: count for name, count in seen.items() if count}
        steps.append(
            Step(len(steps), kind, connection.name, time - start, time - previous, needs, data)
        )
        previous = time
    return Plan(tuple(steps))


def replay_url(recorded: str, base: str) -> str:
    """The recorded URL's path and query on `base`'s scheme, host and port."""
    old, new = urlsplit(recorded), urlsplit(base)
    return urlunsplit((new.scheme, new.netloc, old.path or "/", old.query, ""))


def reply_key(value: Any) -> tuple[object, object] | None:
    """A reply's (type, request_id), a server-made request id by its number: what pairs a
    replayed reply with its recorded twin while the replay runs (to learn order ids)."""
    if not isinstance(value, dict):
        return None
    request_id = value.get("request_id")
    if isinstance(request_id, str):
        request_id = SERVER_REQUEST_ID.sub(r"srv-*-\1", request_id)
    return (value.get("type"), request_id)


@dataclass
class Twins:
    """A connection's recorded replies by reply_key, each handed out once, in order."""

    recorded: dict[tuple[object, object], list[Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, replies: Sequence[str | bytes]) -> Twins:
        twins = cls()
        for data in replies:
            value = parse(data)
            key = reply_key(value)
            if key is not None and key[1] is not None:
                twins.recorded.setdefault(key, []).append(value)
        return twins

    def twin(self, value: Any) -> Any:
        """The recorded reply the replayed `value` answers to, or None."""
        key = reply_key(value)
        waiting = self.recorded.get(key) if key is not None else None
        return waiting.pop(0) if waiting else None
