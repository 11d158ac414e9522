"""QakitWSStream's fast inbound path (wire/fast_frames.py): taken for a chunk of common frames
with wsproto clean, and wsproto's otherwise, with the same messages, close codes and order.

Driven with hypercorn's events, no sockets (the harness of test_hyper_ext.py); a spy on wsproto's
`receive_data` says which path a chunk took."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import trio
from hypercorn.protocol.events import Data

from qakit_trio.transport import hyper_ext

from ..support import wsraw
from ..support.timeouts import TIMEOUT
from ..wire.test_fast_frames import parse_frames
from .test_hyper_ext import Recorder, stream_with_app


def spy_on_wsproto(stream: hyper_ext.QakitWSStream, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The chunks wsproto is fed from now on."""
    fed: list[bytes] = []
    original = stream.connection.receive_data

    def receive_data(data: bytes | None) -> None:
        fed.append(data or b"")
        original(data)

    monkeypatch.setattr(stream.connection, "receive_data", receive_data)
    return fed


def text(data: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": None, "text": data}


async def received(recorder: Recorder, count: int) -> list[dict[str, Any]]:
    return [await recorder.inbox.receive() for _ in range(count)]


def close_codes(recorder: Recorder) -> list[int | None]:
    return [wsraw.close_code(e[2]) for e in recorder.log if e[:2] == ("wire", wsraw.CLOSE)]


async def chunk(stream: hyper_ext.QakitWSStream, data: bytes) -> None:
    await stream.handle(Data(stream_id=1, data=data))


async def test_common_frames_skip_wsproto_and_arrive_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(
                stream,
                wsraw.encode_frame(wsraw.TEXT, b"a")
                + wsraw.encode_frame(wsraw.BINARY, b"\x00\xff")
                + wsraw.encode_frame(wsraw.TEXT, "привет".encode() * 30),  # the 16-bit form
            )
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b""))
            assert await received(recorder, 4) == [
                text("a"),
                {"type": "websocket.receive", "bytes": b"\x00\xff", "text": None},
                text("привет" * 30),
                text(""),
            ]
            assert fed == []


async def test_a_fragmented_message_goes_through_wsproto_then_the_fast_path_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"hel", fin=False))
            await chunk(
                stream,
                wsraw.encode_frame(wsraw.CONTINUATION, b"lo")
                + wsraw.encode_frame(wsraw.TEXT, b"x"),
            )
            assert len(fed) == 2
            assert await received(recorder, 2) == [text("hello"), text("x")]
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"fast"))
            assert await received(recorder, 1) == [text("fast")]
            assert len(fed) == 2


async def test_a_new_message_inside_a_fragmented_one_is_still_wsprotos_1002(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next chunk looks common, but wsproto expects a continuation: its state decides."""
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"hel", fin=False))
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"x"))
            assert len(fed) == 2
            assert (await recorder.inbox.receive())["code"] == 1002
            assert close_codes(recorder) == [1002]


async def test_the_rest_of_a_cut_frame_is_its_payload_even_when_it_looks_like_a_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame's header in one chunk, its payload in the next; the payload's bytes on the wire
    happen to be an empty masked text frame. wsproto's half-parsed frame must win."""
    key = b"\xc1\xc2\x00\x00"
    on_the_wire = bytes([0x81, 0x80, 0x63, 0x64, 0xA4, 0xA4])  # also: an empty text frame
    assert parse_frames(on_the_wire, 100) == [""]
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(stream, bytes([0x81, 0x80 | len(on_the_wire)]) + key)
            await chunk(stream, on_the_wire)
            assert await received(recorder, 1) == [text("@Bcdef")]  # on_the_wire XOR key
            assert len(fed) == 2


async def test_the_rest_of_a_cut_header_is_read_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a frame's first byte in one chunk (wsproto keeps it in its buffer); the rest would
    pass for a masked 1-byte binary frame on its own."""
    key = b"\x81\x00\x00\x00"
    rest = bytes([0x80 | 2]) + key + bytes([ord("o") ^ 0x81, ord("k")])
    assert parse_frames(rest, 100) is not None
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(stream, bytes([0x81]))
            await chunk(stream, rest)
            assert await received(recorder, 1) == [text("ok")]
            assert len(fed) == 2


async def test_a_ping_between_messages_is_answered_and_the_order_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app() as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(
                stream,
                wsraw.encode_frame(wsraw.TEXT, b"a")
                + wsraw.encode_frame(wsraw.PING, b"p")
                + wsraw.encode_frame(wsraw.TEXT, b"b"),
            )
            assert await received(recorder, 2) == [text("a"), text("b")]
            assert ("wire", wsraw.PONG, b"p") in recorder.log
            assert len(fed) == 1


async def test_invalid_utf8_after_a_good_frame_is_still_1007(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(
                stream,
                wsraw.encode_frame(wsraw.TEXT, b"ok") + wsraw.encode_frame(wsraw.TEXT, b"\xff"),
            )
            first, disconnect = await received(recorder, 2)
            assert first == text("ok")
            assert (disconnect["type"], disconnect["code"]) == ("websocket.disconnect", 1007)
            assert close_codes(recorder) == [1007]
            assert len(fed) == 1


async def test_a_message_over_the_limit_is_still_1009(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            stream.buffer.max_length = 10  # hypercorn's websocket_max_message_size
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"x" * 10))
            assert await received(recorder, 1) == [text("x" * 10)]
            assert fed == []  # at the limit: fast
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"x" * 11))
            disconnect = await recorder.inbox.receive()
            assert (disconnect["code"], disconnect["reason"]) == (1009, "message too big")
            assert close_codes(recorder) == [1009]
            assert len(fed) == 1


async def test_frames_after_the_app_closed_go_to_wsproto(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            await recorder.app_send({"type": "websocket.close", "code": 1000})
            fed = spy_on_wsproto(stream, monkeypatch)
            await chunk(
                stream,
                wsraw.encode_frame(wsraw.TEXT, b"late")
                + wsraw.encode_frame(wsraw.CLOSE, struct.pack("!H", 1000)),
            )
            assert len(fed) == 1
            assert close_codes(recorder) == [1000]


async def test_a_message_of_the_other_type_after_a_1009_is_no_crash() -> None:
    """hypercorn's loop breaks out at a too-big message with the part of it still in its buffer
    (a BytesIO here); the next message, text, was written into that: TypeError in `handle`,
    the reader's task, and so the server's. The buffer is emptied with the 1009."""
    with trio.fail_after(TIMEOUT):
        async with stream_with_app(stays=True) as (stream, recorder):
            stream.buffer.max_length = 10
            await chunk(stream, wsraw.encode_frame(wsraw.BINARY, b"x" * 20))
            disconnect = await recorder.inbox.receive()
            assert (disconnect["code"], disconnect["reason"]) == (1009, "message too big")
            await chunk(stream, wsraw.encode_frame(wsraw.TEXT, b"y"))
            await chunk(stream, wsraw.encode_frame(wsraw.BINARY, b"z"))
            assert close_codes(recorder) == [1009]
