"""Replay a recorded session against a stand (trio, trio-websocket) and compare its replies.

Each connection runs in a task of its own, all in one nursery under one deadline; they take
the steps of the plan (plan.py) in turn. A step waits for the replies the recording shows
before it (or gives up on them: the grace period), and, with `pace`, for its recorded time.
Order ids the replay learns (a created order's new id) are sent in later client frames in
place of the recorded ones (session_match.IdMap). The replies are then compared with the
recording (wire/session_diff.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from qakit_trio.replayer.plan import Plan, Step, Twins, plan, replay_url
from qakit_trio.wire.session_diff import Report, compare_session
from qakit_trio.wire.session_match import IdMap, Rules, parse
from qakit_trio.wire.sessions import Connection, Session

GRACE = 1.0  # seconds with nothing arriving before a missing reply is given up
SETTLE = 0.25  # seconds with nothing arriving before a connection is closed
MAX_MESSAGE = 64 * 1024 * 1024
QUEUE = 100_000  # replies read and not yet handled (they are handled at once)


class ReplayError(Exception):
    """The replay could not run (the stand unreachable): not a difference (exit 2)."""


@dataclass(frozen=True)
class Options:
    url: str  # ws://HOST:PORT: the recorded URLs' path and query go there
    rules: Rules = field(default_factory=Rules)
    pace: bool = False
    grace: float = GRACE
    settle: float = SETTLE
    timeout: float = 60.0


class Replay:
    """The shared state: whose turn it is, what has arrived."""

    def __init__(self, session: Session, options: Options) -> None:
        self.options = options
        self.plan: Plan = plan(session)
        self.turn = 0  # the index of the step that may go next
        self.replies: dict[str, list[str | bytes]] = {c.name: [] for c in session.connections}
        self.notes: dict[str, list[str]] = {c.name: [] for c in session.connections}
        self.gone: set[str] = set()  # refused, or closed: nothing more will arrive
        self.closing: set[str] = set()
        self.ids = IdMap()
        self.twins = {
            c.name: Twins.of([frame.data for frame in c.received()]) for c in session.connections
        }
        self.start = 0.0
        self.fatal = ""
        self.cancel = trio.CancelScope()  # the replay's nursery's
        self._changed = trio.Event()

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def arrived(self, conn: str, data: str | bytes) -> None:
        self.replies[conn].append(data)
        value = parse(data)
        twin = self.twins[conn].twin(value)
        if twin is not None:
            self.ids.learn(twin, value)
        self.changed()

    def has(self, needs: dict[str, int]) -> bool:
        return all(
            conn in self.gone or len(self.replies[conn]) >= count for conn, count in needs.items()
        )

    async def take_turn(self, step: Step) -> None:
        """Wait for the step's turn, its recorded time (pace), and its replies (or its grace)."""
        while self.turn < step.index:
            await self._changed.wait()
        if self.options.pace:
            await trio.sleep_until(self.start + step.at)
        patience = self.options.grace + step.gap
        while not self.has(step.needs):
            with trio.move_on_after(patience) as waited:
                await self._changed.wait()
            if waited.cancelled_caught:
                break

    def done(self, step: Step) -> None:
        self.turn = step.index + 1
        self.changed()

    async def settle(self, conn: str) -> None:
        """Until nothing has arrived on `conn` for `settle` seconds."""
        count = -1
        while conn not in self.gone and len(self.replies[conn]) != count:
            count = len(self.replies[conn])
            with trio.move_on_after(self.options.settle):
                while len(self.replies[conn]) == count and conn not in self.gone:
                    await self._changed.wait()

    def fail(self, why: str) -> None:
        """Stop the replay: it cannot run (ReplayError)."""
        self.fatal = self.fatal or why
        self.cancel.cancel()


async def replay(session: Session, options: Options) -> Report:
    """Replay `session` against options.url and compare; raise ReplayError if it cannot run."""
    state = Replay(session, options)
    state.start = trio.current_time()
    notes: list[str] = []
    with trio.move_on_after(options.timeout) as deadline:
        async with trio.open_nursery() as nursery:
            state.cancel = nursery.cancel_scope
            for connection in session.connections:
                nursery.start_soon(_connection, state, connection)
    if state.fatal:
        raise ReplayError(state.fatal)
    if deadline.cancelled_caught:
        notes.append(f"the replay did not finish within {options.timeout:g} s (--timeout)")
    report = compare_session(session, state.replies, options.rules, state.notes)
    report.notes = notes
    return report


async def _connection(state: Replay, connection: Connection) -> None:
    opening, *rest = state.plan.of(connection.name)
    await state.take_turn(opening)
    url = replay_url(connection.url, state.options.url)
    opened = False
    try:
        async with open_websocket_url(
            url,
            message_queue_size=QUEUE,
            max_message_size=MAX_MESSAGE,
            connect_timeout=10,
            disconnect_timeout=2,
        ) as ws:
            opened = True
            state.done(opening)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_read, state, connection.name, ws)
                await _steps(state, connection.name, ws, rest)
                nursery.cancel_scope.cancel()
        return
    except ConnectionRejected as rejected:
        note = f"the stand refused the connection to {url}: HTTP {rejected.status_code}"
    except HandshakeError as error:
        if opened:  # its close was not answered in time (DisconnectionTimeout): it is done
            return
        if isinstance(error, ConnectionTimeout):  # (a HandshakeError, raised from None)
            state.fail(f"cannot connect to {url}: no WebSocket handshake within 10 s")
            return
        if isinstance(error.__cause__, OSError):  # (trio-websocket's word for any network error)
            state.fail(f"cannot connect to {url}: {error.__cause__}")
            return
        note = f"the WebSocket handshake with {url} failed: {error!r}"
    state.notes[connection.name].append(note)
    state.gone.add(connection.name)
    state.done(opening)
    await _steps(state, connection.name, None, rest)


async def _steps(
    state: Replay, conn: str, ws: WebSocketConnection | None, steps: Sequence[Step]
) -> None:
    for step in steps:
        await state.take_turn(step)
        if ws is not None and conn not in state.gone:
            if step.kind == "send":
                try:
                    await ws.send_message(state.ids.rewrite(step.data))
                except ConnectionClosed:
                    state.gone.add(conn)
            elif step.kind == "close":
                await state.settle(conn)
                state.closing.add(conn)
                await ws.aclose()
        state.done(step)


async def _read(state: Replay, conn: str, ws: WebSocketConnection) -> None:
    try:
        while True:
            state.arrived(conn, await ws.get_message())
    except ConnectionClosed as closed:
        if conn not in state.closing:
            reason = closed.reason
            code = "no close frame" if reason is None else f"{reason.code} {reason.reason or ''}"
            count = len(state.replies[conn])
            state.notes[conn].append(f"the stand closed it ({code.strip()}) after {count} replies")
        state.gone.add(conn)
        state.changed()
