"""ReadLoan (transport/read_loan.py): the socket lent to the app's task while only common frames
come, and given back for everything else.

First the loan alone, over a real socket pair (the app's side reads, a fake inbox takes the
cue); then end to end against an in-process server on the fast path, with a raw client: which
task read each message is counted by wrapping `ReadLoan.read`."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from qakit_trio import logs
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.transport import read_loan, tcp_server
from qakit_trio.transport.read_loan import GONE, READ, Holder, ReadLoan
from qakit_trio.wire import protocol

from ..support import wsraw
from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT
from .test_tcp_server import Runs

LIMIT = 1000  # the largest message in the unit tests


class Lent:
    """A loan over one end of a socket pair; `peer` is the client's end."""

    def __init__(self, sock: trio.socket.SocketType, peer: trio.socket.SocketType) -> None:
        self.cues: list[dict[str, Any]] = []
        self.clean = True
        self.loan = ReadLoan(sock, LIMIT, lambda: self.clean, self._put)
        self.loan.wanted = True
        self.sock, self.peer = sock, peer
        self.back: list[read_loan.Handback] = []  # what each lend() returned
        self.returned = trio.Event()  # the first lend() has returned

    async def _put(self, message: dict[str, Any]) -> None:
        self.cues.append(message)
        await trio.lowlevel.checkpoint()

    async def lend(self) -> None:
        self.back.append(await self.loan.lend())
        self.returned.set()


@asynccontextmanager
async def lent() -> AsyncIterator[Lent]:
    """A loan lent and taken: the app's side holds the socket."""
    sock, peer = trio.socket.socketpair()
    with sock, peer:
        state = Lent(sock, peer)
        async with trio.open_nursery() as nursery:
            assert state.loan.lendable()
            nursery.start_soon(state.lend)
            while not state.cues:
                await trio.lowlevel.checkpoint()
            assert state.cues == [{"type": READ}]
            assert holder(state) is Holder.OFFERED
            assert not state.loan.lendable()
            state.loan.take()
            assert holder(state) is Holder.APP
            yield state


def holder(state: Lent) -> Holder:
    """Who reads now (a call: mypy would keep the narrowing of an earlier assert)."""
    return state.loan.holder


def read_soon(nursery: trio.Nursery, state: Lent) -> list[object]:
    """The app's next read, in a task of its own; the list gets what it returned."""
    results: list[object] = []

    async def read() -> None:
        results.append(await state.loan.read())

    nursery.start_soon(read)
    return results


async def given_back(state: Lent) -> read_loan.Handback:
    """What the TCP reader got back (it has stopped waiting)."""
    await state.returned.wait()
    assert holder(state) is Holder.TCP
    return state.back[0]


async def test_common_frames_are_read_and_parsed_by_the_apps_task() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            await state.peer.send(
                wsraw.encode_frame(wsraw.TEXT, b"one")
                + wsraw.encode_frame(wsraw.BINARY, b"\x00two")
            )
            assert await state.loan.read() == "one"
            assert state.loan.pending() == 1  # another message waits in what was read
            assert await state.loan.read() == b"\x00two"
            assert state.loan.pending() == 0
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, "три".encode()))
            assert await state.loan.read() == "три"
            assert state.back == []
            assert holder(state) is Holder.APP
            await state.peer.send(b"")  # (nothing) then EOF below ends the test's loan
            state.peer.shutdown(trio.socket.SHUT_WR)
            assert await state.loan.read() is None
            assert await given_back(state) == b""  # EOF: hypercorn's reader handles it


AFTER = wsraw.encode_frame(wsraw.TEXT, b"after")


@pytest.mark.parametrize(
    "rest",
    [
        wsraw.encode_frame(wsraw.PING, b"p") + AFTER,
        wsraw.encode_frame(wsraw.PONG, b"") + AFTER,
        wsraw.encode_frame(wsraw.CLOSE, b"\x03\xe8") + AFTER,
        wsraw.encode_frame(wsraw.TEXT, b"frag", fin=False) + AFTER,
        wsraw.encode_frame(wsraw.TEXT, b"\xff\xfe") + AFTER,  # invalid UTF-8: wsproto's 1007
        wsraw.encode_frame(wsraw.TEXT, b"x" * (LIMIT + 1)) + AFTER,  # too big: wsproto's 1009
        AFTER + wsraw.encode_frame(wsraw.TEXT, b"cut")[:-1],  # a frame the read cut
    ],
    ids=["ping", "pong", "close", "fragment", "bad-utf8", "too-big", "cut"],
)
async def test_anything_else_goes_back_to_the_tcp_reader_with_what_follows_it(
    rest: bytes,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"before") + rest)
            assert await state.loan.read() == "before"
            if rest.startswith(AFTER):
                assert await state.loan.read() == "after"
                rest = rest[len(AFTER) :]
            assert await state.loan.read() is None
            assert await given_back(state) == rest  # handled by wsproto, in order
            assert state.loan.pending() == 0


async def test_a_stream_no_longer_clean_gives_the_socket_back_unread() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            await state.peer.send(
                wsraw.encode_frame(wsraw.TEXT, b"a") + wsraw.encode_frame(wsraw.TEXT, b"b")
            )
            assert await state.loan.read() == "a"
            state.clean = False  # e.g. the app sent its close: wsproto is no longer OPEN
            assert await state.loan.read() is None
            back = await given_back(state)  # the unread frame, for wsproto
            assert isinstance(back, bytes)
            assert len(back) == 7
            assert back[0] == 0x81


async def test_a_socket_closed_under_the_wait_comes_back_as_gone() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state, trio.open_nursery() as nursery:
            results = read_soon(nursery, state)
            await trio.testing.wait_all_tasks_blocked()
            state.sock.close()  # trio's close wakes the waiting read (hypercorn's aclose)
            assert await given_back(state) is GONE
        assert results == [None]


async def test_a_reset_comes_back_as_gone() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            linger = struct.pack("ii", 1, 0)
            state.peer.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, linger)
            state.peer.close()  # a reset (linger 0)
            assert await state.loan.read() is None
            assert await given_back(state) in (GONE, b"")  # a socket pair may say EOF


async def test_the_apps_task_cancelled_while_reading_gives_the_socket_back() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            with trio.move_on_after(0.01) as scope:
                await state.loan.read()  # nothing comes
            assert scope.cancelled_caught
            assert await given_back(state) is None  # the TCP reader reads on


async def test_a_cue_never_taken_is_withdrawn_when_the_app_goes() -> None:
    sock, peer = trio.socket.socketpair()
    with trio.fail_after(TIMEOUT), sock, peer:
        state = Lent(sock, peer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(state.lend)
            await trio.testing.wait_all_tasks_blocked()
            assert holder(state) is Holder.OFFERED
            state.loan.revoke()  # the app returned (hyper_ext._mark_app_gone)
            assert await given_back(state) is None
            state.loan.take()  # a cue taken after the withdrawal changes nothing
            assert holder(state) is Holder.TCP


async def test_an_app_waiting_on_the_socket_is_woken_by_revoke_as_by_the_close() -> None:
    """The stream closes (an abort, a failed write) while the app waits on the socket: its
    read ends at once, as the coming close would end it (GONE), and not only when hypercorn
    gets to close the socket after its send_eof, which the client sees first."""
    with trio.fail_after(TIMEOUT):
        async with lent() as state, trio.open_nursery() as nursery:
            results = read_soon(nursery, state)
            await trio.testing.wait_all_tasks_blocked()  # it waits for the socket
            state.loan.revoke()
            assert await given_back(state) is GONE
        assert results == [None]


async def test_a_loan_the_app_is_not_reading_on_comes_back_at_once_when_it_goes() -> None:
    """The app went (it returned, or failed) between two reads: nothing would ever give the
    socket back, and the TCP reader (and the connection) would wait for good."""
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            rest = wsraw.encode_frame(wsraw.TEXT, b"unread")
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"read") + rest)
            assert await state.loan.read() == "read"
            state.loan.revoke()  # hyper_ext: the app has gone, or the stream has closed
            assert await given_back(state) == rest


async def test_a_busy_app_has_the_socket_taken_back_after_reclaim_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The app works on one message for RECLAIM_AFTER (a slow action, a full outbox): the TCP
    reader takes the socket back, with what the app read and had not parsed, and reads on
    (pings answered meanwhile)."""
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            rest = wsraw.encode_frame(wsraw.TEXT, b"next")
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"slow") + rest)
            started = trio.current_time()
            assert await state.loan.read() == "slow"
            await trio.sleep(read_loan.RECLAIM_AFTER / 2)  # busy, not for long yet
            assert state.back == []
            back = await given_back(state)  # (the app is still busy)
            assert back == rest
            assert trio.current_time() - started == pytest.approx(read_loan.RECLAIM_AFTER)
            assert await state.loan.read() is None  # the app's next read: the inbox's


async def test_an_app_waiting_for_the_client_keeps_the_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state, trio.open_nursery() as nursery:
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"a"))
            assert await state.loan.read() == "a"  # busy from here...
            results = read_soon(nursery, state)  # ...until it waits for the client again
            await trio.sleep(10 * read_loan.RECLAIM_AFTER)
            assert holder(state) is Holder.APP  # idle, not busy: the loan stays
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"b"))
            await state.returned.wait()  # "b" makes it busy again: back RECLAIM_AFTER later
            assert results == ["b"]
            assert state.back == [None]


async def test_a_cue_left_untaken_is_withdrawn_after_reclaim_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sock, peer = trio.socket.socketpair()
    with trio.fail_after(TIMEOUT), sock, peer:
        state = Lent(sock, peer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(state.lend)
            started = trio.current_time()
            assert await given_back(state) is None  # the app, busy, never took it
            assert trio.current_time() - started == pytest.approx(read_loan.RECLAIM_AFTER)
            state.loan.take()  # taken later: the loan is no longer on offer
            assert holder(state) is Holder.TCP


async def test_the_app_yields_every_yield_every_messages_of_one_read() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            count = 3 * read_loan.YIELD_EVERY
            frames = [wsraw.encode_frame(wsraw.TEXT, str(n).encode()) for n in range(count)]
            await state.peer.send(b"".join(frames))
            with trio.testing.assert_checkpoints():
                assert await state.loan.read() == "0"  # the read itself waits
            for n in range(1, count):
                if n % read_loan.YIELD_EVERY:
                    with trio.testing.assert_no_checkpoints():
                        assert await state.loan.read() == str(n)
                else:
                    with trio.testing.assert_checkpoints():
                        assert await state.loan.read() == str(n)


async def test_cancelled_at_that_checkpoint_the_rest_goes_back_unparsed() -> None:
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            frames = [wsraw.encode_frame(wsraw.TEXT, b"%d" % n) for n in range(15)]
            await state.peer.send(b"".join(frames))
            for n in range(read_loan.YIELD_EVERY):
                assert await state.loan.read() == str(n)
            with trio.CancelScope() as scope:
                scope.cancel()
                await state.loan.read()
            assert await given_back(state) == b"".join(frames[read_loan.YIELD_EVERY :])


async def test_a_socket_closed_after_its_read_woke_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closed between the wake-up and the read (another task of the same batch): its number
    may be another connection's by then, so it is never read."""
    with trio.fail_after(TIMEOUT):
        async with lent() as state:
            wait_readable = trio.lowlevel.wait_readable
            reused: list[trio.socket.SocketType] = []

            async def woken_then_closed(fd: int) -> None:
                await wait_readable(fd)
                state.sock.close()
                reused.append(trio.socket.socket())  # likely the same number again

            monkeypatch.setattr(trio.lowlevel, "wait_readable", woken_then_closed)
            await state.peer.send(wsraw.encode_frame(wsraw.TEXT, b"x"))
            assert await state.loan.read() is None
            assert await given_back(state) is GONE
            reused[0].close()


def test_not_lendable_unless_wanted_and_clean() -> None:
    sock, peer = trio.socket.socketpair()
    with sock, peer:
        state = Lent(sock, peer)
        state.loan.wanted = False  # plain ASGI apps never ask for it
        assert not state.loan.lendable()
        state.loan.wanted, state.clean = True, False
        assert not state.loan.lendable()
        state.clean = True
        assert state.loan.lendable()


# --- end to end ----------------------------------------------------------------------------


class Reads:
    """How many messages the app's task read through a loan (wraps ReadLoan.read)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_app = 0
        original = ReadLoan.read

        async def counted(loan: ReadLoan) -> str | bytes | None:
            message = await original(loan)
            if message is not None:
                self.by_app += 1
            return message

        monkeypatch.setattr(ReadLoan, "read", counted)


async def echo(raw: wsraw.RawWebSocket, request_id: str) -> None:
    """An echo request; returns once its event frame (the last of its three) came."""
    request = {"action": "echo", "request_id": request_id, "payload": {"n": 1}}
    await raw.send_text(json.dumps(request))
    for expected in ("ack", "echo", "event"):
        opcode, payload = await raw.read_frame()
        assert opcode == wsraw.TEXT
        frame = json.loads(payload)
        assert (frame["type"], frame["request_id"]) == (expected, request_id)


async def lent_client(port: int) -> wsraw.RawWebSocket:
    """A raw client past its hello and two echo requests: the second one, at the latest, was
    read by its connection's task, which holds the socket now."""
    raw = await wsraw.open_raw(port, "/ws?channel=loan")
    await raw.read_frame()  # hello
    await echo(raw, "first")
    await echo(raw, "second")
    return raw


def slow_echo(seconds: float) -> Action:
    """An action that takes `seconds` before its one reply (an echo frame)."""

    async def slow(ctx: ActionContext) -> None:
        await trio.sleep(seconds)
        await ctx.reply(protocol.echo(ctx.request_id, {"slow": True}))

    return slow


async def test_requests_after_the_first_are_read_by_the_connections_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True) as server:
            raw = await wsraw.open_raw(server.port, "/ws?channel=loan")
            await raw.read_frame()  # hello
            # hypercorn's reader lends the socket once the handshake is accepted and a chunk is
            # handled: the first request may come through it (when the app accepted later)
            for n in range(6):
                await echo(raw, f"r{n}")
            assert reads.by_app >= 5
            # a ping goes back to wsproto (answered), then the loan resumes
            await raw.send_frame(wsraw.PING, b"hi")
            assert await raw.read_frame() == (wsraw.PONG, b"hi")
            await echo(raw, "r6")  # (may come through the inbox: the cue is queued after it)
            await echo(raw, "r7")
            assert reads.by_app >= 6
            # a message split in two writes, and a client close: wsproto's, as before
            frame = wsraw.encode_frame(wsraw.TEXT, json.dumps({"action": "echo"}).encode())
            await raw.stream.send_all(frame[:3])
            await trio.testing.wait_all_tasks_blocked()
            await raw.stream.send_all(frame[3:])
            opcode, payload = await raw.read_frame()
            assert opcode == wsraw.TEXT
            assert json.loads(payload)["type"] == "ack"
            await raw.send_frame(wsraw.CLOSE, b"\x03\xe8")
            frames = await raw.read_frames_until_eof()
            assert frames[-1] == (wsraw.CLOSE, b"\x03\xe8")


async def test_a_message_too_big_while_lent_is_closed_with_1009(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads(monkeypatch)
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True, max_message_size=1024) as server:
            raw = await lent_client(server.port)
            assert reads.by_app >= 1
            await raw.send_text("x" * 2000)  # a common frame, but over the limit
            frames = await raw.read_frames_until_eof()
            codes = [wsraw.close_code(p) for op, p in frames if op == wsraw.CLOSE]
            assert codes == [1009]


async def test_a_ping_is_answered_while_the_app_is_busy_for_longer_than_reclaim_after() -> None:
    """The app works on a slow request: after RECLAIM_AFTER the TCP reader reads again, so the
    client's ping is answered before that request's reply (review of issue 30)."""

    slow = slow_echo(2 * read_loan.RECLAIM_AFTER)
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True, extra_actions={"slow": slow}) as server:
            raw = await lent_client(server.port)
            await raw.send_text(json.dumps({"action": "slow", "request_id": "s"}))
            _, payload = await raw.read_frame()
            assert json.loads(payload)["type"] == "ack"
            await raw.send_frame(wsraw.PING, b"still there?")
            assert await raw.read_frame() == (wsraw.PONG, b"still there?")
            _, payload = await raw.read_frame()  # then the slow reply
            assert json.loads(payload)["type"] == "echo"
            await echo(raw, "r2")  # and the loan resumes


async def test_a_connection_that_fails_while_its_app_holds_the_socket_is_closed_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's task ends between two reads (a failure in its nursery while it handles a
    message): the loan comes back at once, the TCP server ends and its socket closes (it
    used to wait in `lend` for good, and a shutdown for its whole timeout)."""
    runs = Runs(monkeypatch)

    async def fails() -> None:
        raise RuntimeError("boom")

    async def failing(ctx: ActionContext) -> None:
        ctx.conn.start_soon(fails)
        await trio.sleep_forever()

    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True, extra_actions={"fail": failing}) as server:
            raw = await lent_client(server.port)
            await raw.send_text(json.dumps({"action": "fail", "request_id": "f"}))
            frames = await raw.read_frames_until_eof()
            codes = [wsraw.close_code(p) for op, p in frames if op == wsraw.CLOSE]
            assert codes == [1011]
            await runs.until(started=1, ended=1)  # the TCP server's run has returned
            assert not [tcp for tcp in tcp_server._live if tcp.read_loan is not None]


async def test_no_new_offer_while_a_withdrawn_cue_waits_untaken(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cue left untaken for RECLAIM_AFTER is withdrawn, but stays in the inbox: taken later,
    it must not pass for a newer offer's (the app would read the socket past what was queued
    behind it: replies out of order, or never; second review of issue 30)."""
    sock, peer = trio.socket.socketpair()
    with trio.fail_after(TIMEOUT), sock, peer:
        state = Lent(sock, peer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(state.lend)
            assert await given_back(state) is None  # withdrawn, the cue still queued
            assert not state.loan.lendable()  # no second cue behind it
            state.loan.take()  # the app reaches the old cue: nothing is lent
            assert holder(state) is Holder.TCP
            assert state.loan.lendable()  # from now on, a new offer may be made


async def test_replies_keep_their_order_after_a_request_slower_than_reclaim_after() -> None:
    """Requests sent while a slow one runs wait their turn and are answered in order."""

    slow = slow_echo(3 * read_loan.RECLAIM_AFTER)
    with trio.fail_after(TIMEOUT):
        async with running_server(fast_path=True, extra_actions={"slow": slow}) as server:
            raw = await lent_client(server.port)
            await raw.send_text(json.dumps({"action": "slow", "request_id": "s"}))
            for n in range(1, 4):  # sent while "s" runs, some after the loan was taken back
                await trio.sleep(read_loan.RECLAIM_AFTER * 0.6)
                request = {"action": "echo", "request_id": f"m{n}", "payload": {"n": n}}
                await raw.send_text(json.dumps(request))
            answered: list[tuple[str, str]] = []
            while ("m3", "event") not in answered:
                _, payload = await raw.read_frame()
                frame = json.loads(payload)
                answered.append((frame["request_id"], frame["type"]))
            replies = [rid for rid, kind in answered if kind in ("echo", "error")]
            assert replies == ["s", "m1", "m2", "m3"]
            await echo(raw, "after")


def test_a_line_with_a_key_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="must differ"):
        logs.Line(logging.getLogger("t"), "frame out", ("type", "request_id", "type"))


async def test_the_cue_is_not_counted_as_a_message_waiting() -> None:
    """`queued()` (a publisher's burst: its broadcasts coalesced into every subscriber's
    outbox) counts the client's messages, not the loan's cue: counted, every broadcast after
    a lend was coalesced (W3's p99 four times the reference's)."""
    sock, peer = trio.socket.socketpair()
    with trio.fail_after(TIMEOUT), sock, peer:
        state = Lent(sock, peer)
        assert state.loan.adjusted(2) == 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(state.lend)
            await trio.testing.wait_all_tasks_blocked()
            assert state.loan.adjusted(1) == 0  # the inbox holds the cue alone
            assert state.loan.adjusted(3) == 2  # two messages, then the cue
            state.loan.take()
            assert state.loan.adjusted(0) == 0
            await peer.send(
                wsraw.encode_frame(wsraw.TEXT, b"a") + wsraw.encode_frame(wsraw.TEXT, b"b")
            )
            assert await state.loan.read() == "a"
            assert state.loan.adjusted(0) == 1  # "b" is in what the app read
            assert await state.loan.read() == "b"
            peer.shutdown(trio.socket.SHUT_WR)
            assert await state.loan.read() is None
