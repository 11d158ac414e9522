"""`ReadLoan`: a WebSocket's socket lent to its app's own task (issue 30).

hypercorn reads every connection in a task of its own (the TCP server's reader) and hands the
app each message through a queue (app_inbox.py): per request, two tasks wake, the
reader on the socket and then the app on the channel. While a client sends only common frames
(whole, masked, unfragmented text or binary: wire/fast_frames.py), the reader lends the socket
to the app's reader task instead, which reads and parses them itself: one task wakes per
request, and hypercorn's protocol objects, the inbox and the channel are skipped.

    TCP reader (hypercorn's task)             the app's reader (its connection's task)
    reads; messages go through the inbox
    lend(): queues "qakit.websocket.read" -->  takes the socket (after what was queued):
    waits for it back                          waits until readable, reads, parses
    <-- give_back(rest)                        anything else: a ping, a pong, a close, a
    handles `rest` as if it had read it        fragment, a frame cut by the read, EOF, a reset,
    (wsproto); lends again once clean          the stream closing, or the app's task cancelled

So every control frame, error and close code stays wsproto's and hypercorn's, as before. Only
the socket's reads move: one task waits on the socket at a time, and the loan never outlives
it (trio's close wakes a waiting read with ClosedResourceError: the socket goes back as GONE).

While the app works on a message nobody reads the socket, so the loan is short-lived when the
app is busy: the TCP reader takes the socket back once the app has spent RECLAIM_AFTER on one
message (a slow action, a wait for room in its outbox) or has not taken the cue in that time,
and reads as before, pings answered and a close or EOF seen at once; it lends again once the
app is done and wsproto clean. A loan the app holds while it is not reading is also taken back
at once when the app goes or the stream closes (`revoke`). And the app yields to the others
every YIELD_EVERY messages of one read (a 64 KiB read of tiny frames is thousands of them), as
hypercorn's queue of 10 made it yield before.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Awaitable, Callable
from math import inf
from typing import Any

import trio
from hypercorn.trio.tcp_server import MAX_RECV

from qakit_trio.wire.fast_frames import next_message

READ = "qakit.websocket.read"  # the app's cue, through its inbox: the socket is yours
# Seconds the app may work on one message (or leave the cue untaken) before the TCP reader takes
# the socket back: short next to a client's ping timeout (browsers none, `websockets` 20 s),
# long next to a request (~0.1 ms), so a busy stand does not hand the socket to and fro.
RECLAIM_AFTER = 0.5
YIELD_EVERY = 10  # messages of one read taken without a checkpoint (hypercorn's queue: 10)


class Gone(enum.Enum):
    GONE = "closed or reset: the TCP reader stops as on its own read's error"


GONE = Gone.GONE
Handback = bytes | Gone | None  # what the TCP reader gets back (see ReadLoan.lend)


class Holder(enum.Enum):
    TCP = "the TCP reader reads"
    OFFERED = "lent: the cue is queued, the app has not taken it"
    APP = "the app's task reads"


class ReadLoan:
    __slots__ = (
        "_back",
        "_busy_since",
        "_chunk",
        "_clean",
        "_cue_out",
        "_handback",
        "_limit",
        "_pos",
        "_put",
        "_run",
        "_scope",
        "_sock",
        "holder",
        "wanted",
    )

    def __init__(
        self,
        sock: Any,
        limit: int,
        clean: Callable[[], bool],
        put: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._sock = sock  # trio's socket (fileno() is -1 once it is closed)
        self._limit = limit  # the largest message (hypercorn's websocket_max_message_size)
        # The stream open, wsproto OPEN with nothing half-parsed, the app's inbox open
        # (hyper_ext.py): a loan starts only then, and the app's reads go on only while it holds
        self._clean = clean
        self._put = put  # into the app's inbox
        self.wanted = False  # the app reads through the loan (asgi.HypercornTransport says so)
        self.holder = Holder.TCP
        # A cue waits in the inbox, untaken (maybe withdrawn): no other offer until the app
        # has taken it, so the cue it takes is always the current offer's (a stale cue taken
        # as a new offer's would let the app read past messages queued behind that cue)
        self._cue_out = False
        self._back: trio.Event | None = None  # set when the app gives the socket back
        self._handback: Handback = None  # what the TCP reader handles first then
        self._chunk = b""  # the app's last read
        self._pos = 0  # where its next frame starts
        self._run = 0  # messages taken since the app's last checkpoint
        # Since when the app has been busy (None: it waits for the socket), and the TCP
        # reader's wait, which ends RECLAIM_AFTER after that (at once, for a busy app)
        self._busy_since: float | None = None
        self._scope: trio.CancelScope | None = None

    # --- the TCP reader's side -------------------------------------------------------------

    def lendable(self) -> bool:
        """Whether the TCP reader lends the socket now, instead of reading it."""
        return self.wanted and self.holder is Holder.TCP and not self._cue_out and self._clean()

    async def lend(self) -> Handback:
        """Lend the socket until the app gives it back, or until the app has been busy for
        RECLAIM_AFTER (the module docstring). Returns what to handle as if read (None:
        nothing, read on; b"": EOF; GONE: closed or reset, stop reading)."""
        self.holder = Holder.OFFERED
        self._cue_out = True
        self._back = back = trio.Event()
        self._busy_since = trio.current_time()  # (busy with what came before the cue)
        await self._put({"type": READ})  # behind what the app has not taken yet: order kept
        while not back.is_set():
            busy_since = self._busy_since  # None exactly while the app waits for the socket
            due = inf if busy_since is None else busy_since + RECLAIM_AFTER
            with trio.move_on_at(due) as self._scope:
                await back.wait()
            self._scope = None
            busy_since = self._busy_since
            overdue = busy_since is not None and trio.current_time() >= busy_since + RECLAIM_AFTER
            if overdue and not back.is_set():
                self._take_back()
        handback, self._handback = self._handback, None
        return handback

    def revoke(self) -> None:
        """The app has gone or the stream has closed: the loan comes back now. An app not
        reading gives it back here; one waiting on the socket is woken as the coming close
        would wake it (ClosedResourceError: GONE), so it sees the end at once, not after
        hypercorn's send_eof, which the client sees first."""
        if self.holder is Holder.TCP:
            return
        if self._busy_since is not None:
            self._take_back()
        else:  # (it then gives back GONE: the TCP reader stops, never waits on the fd again)
            trio.lowlevel.notify_closing(self._sock)

    def _take_back(self) -> None:
        """From an app that is not reading: what it had read and not parsed goes back too."""
        rest = self._chunk[self._pos :] if self.holder is Holder.APP else b""
        self._give_back(rest or None)

    # --- the app's side --------------------------------------------------------------------

    def take(self) -> None:
        """The app took the cue: its reads are its own from now on (unless the offer was
        withdrawn meanwhile: then the TCP reader reads on, and may offer again)."""
        self._cue_out = False
        if self.holder is Holder.OFFERED:
            self.holder = Holder.APP

    def pending(self) -> int:
        """1 when the app's last read holds more bytes (likely another message), else 0: how
        `queued()` counts a burst while the app reads (frames still in the kernel not)."""
        return int(self._pos < len(self._chunk))

    def adjusted(self, inbox: int) -> int:
        """The client's messages waiting, from the `inbox`'s count: its cue is not one, and
        what the app read and has not parsed yet likely is (`pending`)."""
        return max(0, inbox - self._cue_out) + self.pending()

    async def read(self) -> str | bytes | None:
        """The app's next message, read and parsed in its own task; None once the socket has
        gone back to the TCP reader (the next message then comes through the inbox)."""
        if self.holder is not Holder.APP:  # (taken back while the app was busy)
            return None
        while True:
            chunk, pos = self._chunk, self._pos
            if pos < len(chunk):
                if self._run >= YIELD_EVERY:  # let the others run, as the inbox's 10 did
                    self._run = 0
                    try:
                        await trio.lowlevel.checkpoint()
                    except BaseException:
                        if self.holder is Holder.APP:  # the rest is unparsed: nothing lost
                            self._give_back(chunk[pos:])
                        raise
                    if self.holder is not Holder.APP:  # taken back meanwhile, with the rest
                        return None
                found = next_message(chunk, pos, self._limit) if self._clean() else None
                if found is None:  # not a common frame, or not whole: wsproto's, from here
                    self._give_back(chunk[pos:])
                    return None
                message, self._pos = found
                self._run += 1
                self._busy()
                return message
            fd = self._sock.fileno()
            if fd < 0 or not self._clean():
                self._give_back(GONE if fd < 0 else None)
                return None
            self._busy_since = None  # waiting for the client: nothing to take back for
            try:
                await trio.lowlevel.wait_readable(fd)  # (a checkpoint: a flood yields too)
                if self._sock.fileno() != fd:  # closed after the wake-up: the number may be
                    raise trio.ClosedResourceError  # another connection's by now
                data = os.read(fd, MAX_RECV)  # a non-blocking socket
            except BlockingIOError:
                continue
            except (trio.ClosedResourceError, OSError):  # closed under the wait, or reset
                self._give_back(GONE)
                return None
            except BaseException:  # cancelled: the TCP reader reads on (or ends with the rest)
                self._give_back(None)
                raise
            self._run = 0
            if not data:  # EOF: hypercorn's reader handles it (wsproto's 1006)
                self._give_back(b"")
                return None
            self._chunk, self._pos = data, 0

    def _busy(self) -> None:
        """The app starts on a message: the TCP reader's wait ends RECLAIM_AFTER from now."""
        now = self._busy_since = trio.current_time()
        scope = self._scope
        if scope is not None and scope.deadline == inf:
            scope.deadline = now + RECLAIM_AFTER

    def _give_back(self, handback: Handback) -> None:
        self.holder = Holder.TCP
        self._chunk, self._pos = b"", 0
        self._handback = handback
        self._busy_since = None
        if self._back is not None:
            self._back.set()
            self._back = None
