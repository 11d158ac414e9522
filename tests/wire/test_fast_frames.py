"""The fast frame parser against wsproto's (the parser it stands in for): whenever it takes a
chunk, wsproto would have given exactly the same messages and nothing else, and been left clean;
whatever it refuses, wsproto still gets. Generated frames (hypothesis) and the edges by hand."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, Event, TextMessage
from wsproto.frame_protocol import XorMaskerSimple

from qakit_trio.wire.fast_frames import INT_XOR_MAX, next_message, receive_message, unmask

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
MAX = 1 << 20
KEY = b"\x9a\x01\xff\x37"


def parse_frames(chunk: bytes, max_size: int) -> list[str | bytes] | None:
    """The chunk's messages if it is nothing but whole common frames, else None: the stream's
    walk (QakitWSStream.handle, a frame at a time with `next_message`), all or nothing."""
    messages: list[str | bytes] = []
    pos = 0
    while pos < len(chunk):
        found = next_message(chunk, pos, max_size)
        if found is None:
            return None
        message, pos = found
        messages.append(message)
    return messages or None


def frame(
    opcode: int,
    payload: bytes,
    *,
    key: bytes = KEY,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length_form: int | None = None,  # force 126 (16-bit) or 127 (64-bit), minimal or not
) -> bytes:
    """A client frame, as a client would write it (or, with the options, wouldn't)."""
    length = len(payload)
    form = length_form or (length if length < 126 else 126 if length < 65536 else 127)
    head = bytes([(0x80 if fin else 0) | rsv | opcode, (0x80 if masked else 0) | form])
    if form == 126:
        head += struct.pack("!H", length)
    elif form == 127:
        head += struct.pack("!Q", length)
    if not masked:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def wsproto_reads(chunk: bytes) -> tuple[list[Event], bool]:
    """wsproto's events for `chunk` as the server's side, and whether it is clean afterwards
    (what QakitWSStream._parse_clean checks before it skips wsproto)."""
    connection = Connection(ConnectionType.SERVER)
    connection.receive_data(chunk)
    events = list(connection.events())
    proto = connection._proto
    clean = (
        connection.state is ConnectionState.OPEN
        and proto._frame_decoder.header is None
        and not proto._frame_decoder.buffer.buffer
        and proto._message_decoder.opcode is None
    )
    return events, clean


def assert_agrees_with_wsproto(chunk: bytes, max_size: int = MAX) -> bool:
    """If the parser takes `chunk`, wsproto gives the same whole messages and stays clean.
    Returns whether it took it."""
    messages = parse_frames(chunk, max_size)
    if messages is None:
        return False
    events, clean = wsproto_reads(chunk)
    assert clean
    assert all(isinstance(e, TextMessage | BytesMessage) for e in events)
    assert all(e.frame_finished and e.message_finished for e in events)  # type: ignore[attr-defined]
    assert [e.data for e in events] == messages  # type: ignore[attr-defined]
    assert [type(m) for m in messages] == [
        str if isinstance(e, TextMessage) else bytes for e in events
    ]
    return True


# --- generated frames -------------------------------------------------------------------------

keys = st.binary(min_size=4, max_size=4)
common = st.one_of(
    st.tuples(st.just(TEXT), st.text(max_size=300).map(lambda t: t.encode("utf-8")), keys),
    st.tuples(st.just(BINARY), st.binary(max_size=300), keys),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(common, min_size=1, max_size=8))
def test_common_frames_are_taken_and_agree_with_wsproto(
    frames: list[tuple[int, bytes, bytes]],
) -> None:
    chunk = b"".join(frame(op, payload, key=key) for op, payload, key in frames)
    assert assert_agrees_with_wsproto(chunk)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(common, min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
    st.integers(0, 10_000),
)
def test_damaged_chunks_are_refused_or_agree_with_wsproto(
    frames: list[tuple[int, bytes, bytes]], flips: list[tuple[int, int]], cut: int
) -> None:
    """Bytes overwritten and the end cut anywhere: a header byte turned into another opcode,
    RSV bits, no mask, a length too long or too short, UTF-8 broken... The parser either says
    no or reads what wsproto reads."""
    chunk = bytearray(b"".join(frame(op, payload, key=key) for op, payload, key in frames))
    for at, value in flips:
        chunk[at % len(chunk)] = value
    assert_agrees_with_wsproto(bytes(chunk[: len(chunk) - cut % len(chunk)]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_refused_or_agree_with_wsproto(chunk: bytes) -> None:
    assert_agrees_with_wsproto(chunk)


# --- the edges by hand ------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 125, 126, 127, 511, 512, 513, 1000, 65535])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_every_length_class_up_to_the_16_bit_form(opcode: int, length: int) -> None:
    if opcode == TEXT:  # two-byte characters, exactly `length` bytes
        payload = ("é" * (length // 2) + "x" * (length % 2)).encode()
    else:
        payload = bytes(i % 251 for i in range(length))
    assert len(payload) == length
    chunk = frame(opcode, payload) + frame(opcode, b"ok")
    assert assert_agrees_with_wsproto(chunk)


def test_multibyte_utf8_is_decoded() -> None:
    text = "Ωmega — 中文 🎉 ß"
    assert parse_frames(frame(TEXT, text.encode()), MAX) == [text]


@pytest.mark.parametrize(
    ("why", "chunk"),
    [
        ("empty", b""),
        ("ping", frame(PING, b"p")),
        ("pong", frame(PONG, b"p")),
        ("close", frame(CLOSE, struct.pack("!H", 1000))),
        ("a ping between two messages", frame(TEXT, b"a") + frame(PING, b"") + frame(TEXT, b"b")),
        ("a fragment", frame(TEXT, b"par", fin=False)),
        ("a continuation", frame(CONTINUATION, b"t")),
        ("RSV1", frame(TEXT, b"x", rsv=0x40)),
        ("RSV3", frame(BINARY, b"x", rsv=0x10)),
        ("an unmasked frame", frame(TEXT, b"x", masked=False)),
        ("a reserved opcode", frame(0x3, b"x")),
        ("a non-minimal 16-bit length", frame(TEXT, b"x" * 125, length_form=126)),
        ("the 64-bit form", frame(BINARY, b"x" * 65536)),
        ("a non-minimal 64-bit length", frame(BINARY, b"x" * 10, length_form=127)),
        ("invalid UTF-8", frame(TEXT, b'{"a":"\xff"}')),
        ("a surrogate in UTF-8", frame(TEXT, b"\xed\xa0\x80")),
        ("UTF-8 cut mid-character", frame(TEXT, "é".encode()[:1])),
        ("a cut header", frame(TEXT, b"hello")[:1]),
        ("a cut key", frame(TEXT, b"hello")[:4]),
        ("a cut 16-bit length", frame(TEXT, b"x" * 200)[:3]),
        ("a cut payload", frame(TEXT, b"hello")[:-1]),
        ("a whole frame then a cut one", frame(TEXT, b"a") + frame(TEXT, b"hello")[:-2]),
        ("a good frame then garbage", frame(TEXT, b"a") + b"\x00"),
    ],
)
def test_refused(why: str, chunk: bytes) -> None:
    assert parse_frames(chunk, MAX) is None, why


def test_a_payload_over_the_limit_is_left_to_the_slow_path() -> None:
    assert parse_frames(frame(BINARY, b"x" * 100), 100) == [b"x" * 100]
    assert parse_frames(frame(BINARY, b"x" * 101), 100) is None
    # the limit is in bytes: hypercorn counts characters, so its own check is never stricter
    assert parse_frames(frame(TEXT, "é".encode() * 51), 100) is None


def test_receive_messages_have_hypercorns_shape() -> None:
    assert receive_message("hi") == {"type": "websocket.receive", "bytes": None, "text": "hi"}
    assert receive_message(b"\x00") == {"type": "websocket.receive", "bytes": b"\x00", "text": None}
    assert receive_message("") == {"type": "websocket.receive", "bytes": None, "text": ""}
    assert next_message(frame(PING, b""), 0, MAX) is None


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 60, INT_XOR_MAX, INT_XOR_MAX + 1, 70_000])
def test_unmask_is_wsprotos_xor(size: int) -> None:
    payload = bytes((i * 7) % 256 for i in range(size))
    expected = bytes(XorMaskerSimple(KEY).process(bytearray(payload)))
    assert unmask(payload, KEY) == expected
    assert type(unmask(payload, KEY)) is bytes
