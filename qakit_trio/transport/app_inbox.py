"""A WebSocket's queue to the app, as our hypercorn extension runs it (hyper_ext.QakitWSStream).

hypercorn hands the app each message through a memory channel bounded in messages
(max_app_queue_size, 10) and awaits every put. `AppInbox` wraps that channel's send end:

- bounded in bytes too (QAKIT_OUTBOX_BYTES; the app reports what it took: `taken`): 10
  messages of 1 MiB each would otherwise wait per client. While a put waits, hypercorn reads
  nothing more from the socket: the client's own TCP window then holds its requests;
- a put without a trip through the scheduler when there is room;
- never a wait once the app has gone (`app_gone`: it returned or aborted);
- the app told that its connection is gone without waiting (`end`). hypercorn awaits that
  `websocket.disconnect` into the queue, often from the app's own task (its write failed), and
  with the queue full (a client that flooded, stopped reading, then vanished) the app waited
  for itself: the connection, and its file descriptor, stayed for good. `end` closes the queue
  instead: the app takes what is queued, its receive then ends (EndOfChannel), and
  `after_end()` hands over the rest, the disconnect last (asgi.HypercornTransport.receive).
"""

from __future__ import annotations

from typing import Any

import trio


class AppInbox:
    __slots__ = ("_after", "_bytes", "_gone", "_limit", "_put_scope", "_queue", "_room")

    def __init__(self, queue: trio.MemorySendChannel[Any], limit: int) -> None:
        self._queue = queue  # hypercorn's channel to the app (bounded in messages)
        self._limit = limit  # bytes
        self._bytes = 0  # of the messages put and not yet taken
        self._room: trio.Event | None = None  # a put waits for bytes to be taken
        self._put_scope: trio.CancelScope | None = None  # cancelled when the app goes away
        self._gone = False
        # Set by `end`: what the app gets after the queue, the disconnect last. It holds at
        # most the messages of the read in progress (hypercorn reads nothing after the end).
        self._after: list[Any] | None = None

    async def put(self, message: Any) -> None:
        if self._gone:
            return
        size = _message_size(message)
        while self._bytes and self._bytes + size > self._limit and self._after is None:
            self._room = trio.Event()
            with trio.CancelScope() as self._put_scope:
                await self._room.wait()
            if self._gone:
                return
        self._bytes += size
        if self._after is not None:  # the queue has ended: after it, before the disconnect
            self._after.insert(-1, message)
            return
        try:
            self._queue.send_nowait(message)
            return
        except trio.WouldBlock:
            pass  # (not waiting in here: the wait would hold the exception and its frames)
        try:
            with trio.CancelScope() as self._put_scope:
                await self._queue.send(message)
        except trio.ClosedResourceError:  # `end` closed it while this waited
            assert self._after is not None
            self._after.insert(-1, message)

    def taken(self, size: int) -> None:
        """The app took a message of `size` from the queue."""
        self._bytes -= size
        if self._room is not None:
            self._room.set()
            self._room = None

    def is_open(self) -> bool:
        """Whether messages still go through the queue (neither ended nor the app gone)."""
        return self._after is None and not self._gone

    def queued(self) -> int:
        """How many messages wait in the queue."""
        return int(self._queue.statistics().current_buffer_used)

    def end(self, code: int) -> None:
        """The connection is gone: the app gets what is queued, then a disconnect with `code`.
        Never waits. A put waiting for room puts its message before the disconnect instead."""
        if self._after is not None:
            return
        self._after = [{"type": "websocket.disconnect", "code": code, "reason": ""}]
        self._queue.close()  # wakes a waiting put (ClosedResourceError)
        if self._room is not None:
            self._room.set()

    def after_end(self) -> Any:
        """What the app receives once its queue has ended: what was put after the end, then the
        disconnect, which stays (every later receive gets it again)."""
        after = self._after or [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]
        return after.pop(0) if len(after) > 1 else after[0]

    def app_gone(self) -> None:
        """The app returned or aborted: no put waits for it again, and a receive it still has
        pending (after an abort) ends."""
        self._gone = True
        if self._put_scope is not None:
            self._put_scope.cancel()
        self.end(1006)


def _message_size(message: Any) -> int:
    """What a message to the app weighs in the inbox: its text or bytes (0 for the rest)."""
    data = message.get("text") or message.get("bytes") if isinstance(message, dict) else None
    return len(data) if data else 0
