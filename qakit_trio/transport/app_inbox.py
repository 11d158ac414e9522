"""A WebSocket's queue to the app, as our hypercorn extension runs it (hyper_ext.QakitWSStream).

hypercorn hands the app each message through a trio memory channel bounded in messages
(max_app_queue_size, 10) and awaits every put. `AppInbox` is that queue, our own (the task
group in task_group.py makes it in place of the channel, for a WebSocket only):

- bounded in messages as the channel was (10: a burst of requests is taken in one turn of the
  app's reader, asgi.HypercornTransport) and in bytes too (QAKIT_OUTBOX_BYTES; the app reports
  what it took: `taken`): 10 messages of 1 MiB each would otherwise wait per client. While a put
  waits, hypercorn reads nothing more from the socket: the client's own TCP window then holds
  its requests;
- one reader (the app's reader task) and one writer (hypercorn's reader task), so it holds a
  list and the one task parked on it, not a channel's deque, task tables and statistics: ~2 KiB
  less per idle connection (W4, docs/benchmarks.md), and a message put while the app waits is
  handed to it directly, as the channel did;
- a put and a take without a trip through the scheduler when there is room (`take_nowait`
  returns None when there is nothing: no exception for an idle reader to hold);
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

import outcome
import trio


class AppInbox:
    __slots__ = (
        "_after",
        "_bytes",
        "_gone",
        "_items",
        "_limit",
        "_most",
        "_put_scope",
        "_reader",
        "_room",
    )

    def __init__(self, most: int, limit: int) -> None:
        self._items: list[Any] = []  # put, not yet taken (at most `most`: a list is enough)
        self._most = most  # messages (hypercorn's max_app_queue_size)
        self._limit = limit  # bytes
        self._bytes = 0  # of the messages put and not yet taken
        self._reader: trio.lowlevel.Task | None = None  # the app's task, parked in receive
        self._room: trio.Event | None = None  # a put waits for a message or bytes to be taken
        self._put_scope: trio.CancelScope | None = None  # cancelled when the app goes away
        self._gone = False
        # Set by `end`: what the app gets after the queue, the disconnect last. It holds at
        # most the messages of the read in progress (hypercorn reads nothing after the end).
        self._after: list[Any] | None = None

    # --- hypercorn's reader (the writer) ---------------------------------------------------

    async def put(self, message: Any) -> None:
        if self._gone:
            return
        size = _message_size(message)
        while self._after is None and self._full(size):
            self._room = trio.Event()
            with trio.CancelScope() as self._put_scope:
                await self._room.wait()
            self._put_scope = None
            if self._gone:
                return
        self._bytes += size
        if self._after is not None:  # the queue has ended: after it, before the disconnect
            self._after.insert(-1, message)
            return
        reader = self._reader
        if reader is not None:  # the app waits: the message is its receive's result
            self._reader = None
            trio.lowlevel.reschedule(reader, outcome.Value(message))
        else:
            self._items.append(message)

    def _full(self, size: int) -> bool:
        return len(self._items) >= self._most or (
            self._bytes > 0 and self._bytes + size > self._limit
        )

    def _made_room(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None

    # --- the app's reader -------------------------------------------------------------------

    def take_nowait(self) -> Any:
        """The next message; None when none is queued yet, EndOfChannel once the queue has
        ended and been taken (as trio's `receive_nowait`, but no exception while idle)."""
        if not self._items:
            if self._after is not None:
                raise trio.EndOfChannel
            return None
        message = self._items.pop(0)  # (at most `most` long: 10)
        self._made_room()
        return message

    async def receive(self) -> Any:
        """The next message, waiting for it; EndOfChannel once the queue has ended and been
        taken. hypercorn passes this to the app as its ASGI `receive`. One reader at a time."""
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            message = self.take_nowait()
        except trio.EndOfChannel:  # ended, and all of it taken
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise
        if message is not None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return message
        if self._reader is not None:
            raise trio.BusyResourceError("another task is already receiving from this inbox")
        self._reader = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._reader = None
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def taken(self, size: int) -> None:
        """The app took a message of `size` from the queue."""
        self._bytes -= size
        self._made_room()

    def is_open(self) -> bool:
        """Whether messages still go through the queue (neither ended nor the app gone)."""
        return self._after is None and not self._gone

    def queued(self) -> int:
        """How many messages wait in the queue."""
        return len(self._items)

    # --- the end ----------------------------------------------------------------------------

    def end(self, code: int) -> None:
        """The connection is gone: the app gets what is queued, then a disconnect with `code`.
        Never waits. A put waiting for room puts its message before the disconnect instead."""
        if self._after is not None:
            return
        self._after = [{"type": "websocket.disconnect", "code": code, "reason": ""}]
        reader, self._reader = self._reader, None
        if reader is not None:  # (it waits: nothing is queued)
            trio.lowlevel.reschedule(reader, outcome.Error(trio.EndOfChannel()))
        self._made_room()  # a waiting put: its message goes after the queue

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
