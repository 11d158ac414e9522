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
        "_reader",
        "_room",
        "_waiting",
    )

    def __init__(self, most: int, limit: int) -> None:
        self._items: list[Any] = []  # put, not yet taken (at most `most`: a list is enough)
        self._most = most  # messages (hypercorn's max_app_queue_size)
        self._limit = limit  # bytes
        self._bytes = 0  # of the messages put and not yet taken
        self._reader: trio.lowlevel.Task | None = None  # the app's task, parked in receive
        # The message of a put that waits for room, and its size: the inbox's from the put on,
        # as a blocked send's is a trio channel's, so that a take, a `taken` or the end moves
        # it on in the same step (a message moved later, by the woken put, could come after a
        # disconnect the app had already taken).
        self._waiting: tuple[Any, int] | None = None
        self._room: trio.Event | None = None  # set once the waiting message has moved on
        self._gone = False
        # Set by `end`: what the app gets after the queue, the disconnect last. It holds at
        # most the messages of the read in progress (hypercorn reads nothing after the end).
        self._after: list[Any] | None = None

    # --- hypercorn's reader (the writer) ---------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    async def put(self, message: Any) -> None:
        """Queue `message`, or hand it to the app's parked reader; waits while the queue is
        full (in messages or in bytes), never once the app has gone."""
        if self._gone:
            return
        size = _message_size(message)
        if self._after is not None:  # the queue has ended: after it, before the disconnect
            self._after.insert(-1, message)
            return
        if self._reader is not None and not self._over(size):  # (a queue of 0 too)
            self._hand_over(message, size)
        elif len(self._items) < self._most and not self._over(size):
            self._items.append(message)
            self._bytes += size
        else:  # full: the message waits in the inbox; we wait until it has moved on
            if self._waiting is not None:
                raise trio.BusyResourceError("another task is already putting into this inbox")
            self._waiting = (message, size)
            self._room = room = trio.Event()
            try:
                await room.wait()
            finally:
                if self._room is room:  # cancelled with the message still waiting: not put
                    self._waiting = self._room = None

    def _over(self, size: int) -> bool:
        """Whether `size` more bytes would go past the limit (one message always may)."""
        return self._bytes > 0 and self._bytes + size > self._limit

    def _hand_over(self, message: Any, size: int) -> None:
        """The app waits: the message is its receive's result."""
        reader, self._reader = self._reader, None
        assert reader is not None
        self._bytes += size
        trio.lowlevel.reschedule(reader, outcome.Value(message))

    def _moved_on(self) -> None:
        self._waiting = None
        if self._room is not None:
            self._room.set()
            self._room = None

    def _admit_waiting(self) -> None:
        """Into the queue, now that there may be room: the waiting put's message."""
        if self._waiting is not None:
            message, size = self._waiting
            if self._over(size):
                return
            if self._reader is not None:  # (then nothing is queued)
                self._hand_over(message, size)
            elif len(self._items) < self._most:
                self._items.append(message)
                self._bytes += size
            else:
                return
            self._moved_on()

    # --- the app's reader -------------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    def take_nowait(self) -> Any:
        """The next message; None when none is queued yet, EndOfChannel once the queue has
        ended and been taken (as trio's `receive_nowait`, but no exception while idle)."""
        if self._items:
            message = self._items.pop(0)  # (at most `most` long: 10)
            self._admit_waiting()
            return message
        if self._waiting is not None and not self._over(self._waiting[1]):
            (message, size) = self._waiting  # straight from the put (a queue of 0)
            self._bytes += size
            self._moved_on()
            return message
        if self._after is not None:
            raise trio.EndOfChannel
        return None

    @trio.lowlevel.enable_ki_protection
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

    @trio.lowlevel.enable_ki_protection
    def taken(self, size: int) -> None:
        """The app took a message of `size` from the queue."""
        self._bytes -= size
        self._admit_waiting()

    def is_open(self) -> bool:
        """Whether messages still go through the queue (neither ended nor the app gone)."""
        return self._after is None and not self._gone

    def queued(self) -> int:
        """How many messages wait in the queue."""
        return len(self._items)

    # --- the end ----------------------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    def end(self, code: int) -> None:
        """The connection is gone: the app gets what is queued, then a disconnect with `code`.
        Never waits. A put waiting for room puts its message before the disconnect instead."""
        if self._after is not None:
            return
        self._after = [{"type": "websocket.disconnect", "code": code, "reason": ""}]
        if self._waiting is not None:  # after the queue, before the disconnect
            self._after.insert(0, self._waiting[0])
            self._moved_on()
        reader, self._reader = self._reader, None
        if reader is not None:  # (it waits: nothing is queued)
            trio.lowlevel.reschedule(reader, outcome.Error(trio.EndOfChannel()))

    def after_end(self) -> Any:
        """What the app receives once its queue has ended: what was put after the end, then the
        disconnect, which stays (every later receive gets it again)."""
        after = self._after or [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]
        return after.pop(0) if len(after) > 1 else after[0]

    @trio.lowlevel.enable_ki_protection
    def app_gone(self) -> None:
        """The app returned or aborted: no put waits for it again (a waiting message is
        dropped: nobody will read it), and a receive it still has pending (after an abort)
        ends."""
        self._gone = True
        self._moved_on()
        self.end(1006)


def _message_size(message: Any) -> int:
    """What a message to the app weighs in the inbox: its text or bytes (0 for the rest)."""
    data = message.get("text") or message.get("bytes") if isinstance(message, dict) else None
    return len(data) if data else 0
