"""What an accepted WebSocket stops holding (transport/accepted.py), and what an idle one
holds no longer (W4): hypercorn's memory channel to the app (task_group.py), the frame
objects of exceptions its reader caught, the h11 connection, wsproto's deque."""

from __future__ import annotations

import gc
import types
from collections import Counter
from typing import cast

import pytest
import trio
import trio.testing
from wsproto import ConnectionType
from wsproto.connection import Connection as WsprotoConnection
from wsproto.events import CloseConnection

from qakit_trio.transport import accepted, hyper_ext
from qakit_trio.transport.app_inbox import AppInbox

from ..support import wsraw
from ..support.timeouts import TIMEOUT
from .test_tcp_server import NEVER, serving

# Frames an exception caught on the way used to leave on an idle connection's parked tasks.
EXCEPTION_FRAMES = {
    "TCPServer.run",  # hypercorn's AttributeError for a stream that is not TLS
    "_SocketType._nonblocking_helper",  # the BlockingIOError of trio's recv before a wait
    "MemoryReceiveChannel.receive",  # the channel's WouldBlock before a wait
    "HypercornTransport.receive",
}


def test_wsprotos_events_made_outside_its_parser_still_come_from_a_list() -> None:
    connection = WsprotoConnection(ConnectionType.SERVER)
    connection._events = accepted.Events()  # type: ignore[assignment]
    connection.receive_data(None)  # an EOF: wsproto queues a CloseConnection (1006)
    events = list(connection.events())
    assert [type(event) for event in events] == [CloseConnection]
    assert list(connection.events()) == []


def test_an_http_event_after_the_upgrade_is_refused_clearly() -> None:
    with pytest.raises(RuntimeError, match="accepted WebSocket sends no HTTP events"):
        accepted.UPGRADED.send(object())


def frames_now() -> Counter[str]:
    """The functions whose running frames have frame objects (an exception that passed
    through made them; a suspended coroutine refers to its frame's object, if it has one)."""
    return Counter(
        ref.f_code.co_qualname
        for thing in gc.get_objects()
        if isinstance(thing, types.CoroutineType)
        for ref in gc.get_referents(thing)
        if isinstance(ref, types.FrameType)
    )


async def test_an_idle_websocket_sheds_its_handshake_and_keeps_no_channel_or_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with serving(monkeypatch, NEVER) as running:
            await trio.testing.wait_all_tasks_blocked()
            before = frames_now()  # the server's own tasks (its listener, its services)
            earlier = {id(x) for x in gc.get_objects() if isinstance(x, hyper_ext.QakitWSStream)}
            stream = await trio.open_tcp_stream("127.0.0.1", running.port)
            async with stream:
                client = wsraw.RawWebSocket(stream)
                await client.handshake("/ws/echo")
                await trio.testing.wait_all_tasks_blocked()  # its tasks wait for the client
                [ours] = [
                    x
                    for x in gc.get_objects()
                    if isinstance(x, hyper_ext.QakitWSStream) and id(x) not in earlier
                ]  # (earlier tests' may wait for the collector)
                h11_side = ours.send.__self__.connection  # type: ignore[attr-defined]
                assert h11_side.h11_connection is accepted.UPGRADED
                assert isinstance(cast(object, ours.connection._events), accepted.Events)
                assert ours.handshake.accepted
                assert ours.handshake.key is None
                # the app's queue is an AppInbox (task_group.py), not hypercorn's channel
                assert isinstance(ours.app_put.__self__, AppInbox)  # type: ignore[union-attr]
                made = frames_now() - before
                assert set(made) & EXCEPTION_FRAMES == set(), made
                # and it still works both ways: a message, then the client's close
                await client.send_frame(wsraw.TEXT, b"hello")
                assert await client.read_frame() == (wsraw.TEXT, b"hello")
                await client.send_frame(wsraw.CLOSE, (1000).to_bytes(2, "big"))
                opcode, payload = await client.read_frame()
                assert (opcode, wsraw.close_code(payload)) == (wsraw.CLOSE, 1000)
