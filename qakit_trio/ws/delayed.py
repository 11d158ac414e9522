"""A connection's delayed replies: a trainee's `"fault": {"delay_ms": ...}` (lab/fault_outlet.py)
holds the frames of one request and sends them later, from a task in the connection's nursery
(Connection.start_soon), so the connection's other requests are not held up.

Bounded, so that the lab is not a way to exhaust the stand. Per connection, at most:
- MAX_PENDING (256) delayed replies waiting at once, as many as the outbox has frames;
- QAKIT_OUTBOX_BYTES (1 MiB) of frames held by them (their UTF-8 text, the bytes they will
  be on the wire), the outbox's own byte limit. As in the outbox, the first always fits (a
  reply is at most about two QAKIT_MAX_MESSAGE_SIZE: the data and the event).
Over either, `start` raises ProtocolError(too_many_delayed) and starts nothing: the request
is answered with that error frame, and nothing is held for it.

They end with their connection, at once: each runs in its own cancel scope, and
`cancel_all` (called by Connection.run as soon as its reader finishes, whatever ended it: the
client's close, a server close, the shutdown) cancels every one, so none outlives its
connection or holds its memory until its delay ends.

A session's watch (Connection.start_watch: a token's expiry, sessions/expiry.py) ends the same
way, outside the limits: it holds no frames, and is not `pending`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from qakit_trio.errors import ErrorCode, ProtocolError

MAX_PENDING = 256  # like the outbox's 256 frames (QAKIT_OUTBOX_SIZE's default)


class DelayedReplies:
    """One connection's pending delayed replies: how many, how many bytes, their scopes."""

    __slots__ = ("_scopes", "_watches", "bytes", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes  # QAKIT_OUTBOX_BYTES
        self.bytes = 0  # held by the pending ones
        self._scopes: set[trio.CancelScope] = set()  # one per pending reply
        self._watches: set[trio.CancelScope] = set()  # one per running watch

    @property
    def pending(self) -> int:
        return len(self._scopes)

    def refusal(self, size: int = 1) -> ProtocolError | None:
        """Why one more delayed reply of `size` bytes would not be started (None: it would)."""
        try:
            self._check(size)
        except ProtocolError as refused:
            return refused
        return None

    def start(self, nursery: trio.Nursery, task: Callable[[], Awaitable[None]], size: int) -> None:
        """Run `task` (holding `size` bytes of frames) in `nursery`, or raise
        ProtocolError(too_many_delayed) if that would pass a limit (module docstring)."""
        self._check(size)
        scope = trio.CancelScope()
        self._scopes.add(scope)
        self.bytes += size
        nursery.start_soon(self._run, scope, task, size)

    def watch(self, nursery: trio.Nursery, task: Callable[[], Awaitable[None]]) -> None:
        """Run a session's watch `task` in `nursery`, until it returns or `cancel_all`."""
        scope = trio.CancelScope()
        self._watches.add(scope)
        nursery.start_soon(self._run, scope, task, 0, self._watches)

    def _check(self, size: int) -> None:
        if len(self._scopes) >= MAX_PENDING:
            raise ProtocolError(
                ErrorCode.TOO_MANY_DELAYED,
                f"this connection already has {MAX_PENDING} delayed replies waiting, the most "
                f"it may have at once: this request's replies are not sent",
            )
        if self._scopes and self.bytes + size > self.max_bytes:
            raise ProtocolError(
                ErrorCode.TOO_MANY_DELAYED,
                f"this connection's delayed replies would hold more than {self.max_bytes} "
                f"bytes (QAKIT_OUTBOX_BYTES), the most they may hold at once: this request's "
                f"replies are not sent",
            )

    async def _run(
        self,
        scope: trio.CancelScope,
        task: Callable[[], Awaitable[None]],
        size: int,
        scopes: set[trio.CancelScope] | None = None,  # its set: the pending replies by default
    ) -> None:
        try:
            with scope:
                await task()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the connection finished closing while it sent: no one to send to
        finally:
            (self._scopes if scopes is None else scopes).discard(scope)
            self.bytes -= size

    def cancel_all(self) -> None:
        """End every pending delayed reply and watch now (the connection is ending)."""
        for scope in (*self._scopes, *self._watches):
            scope.cancel()
