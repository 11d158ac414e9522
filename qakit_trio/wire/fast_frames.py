"""A fast parser for the common inbound WebSocket frame, beside wsproto (issue 30).

Almost every frame a client sends is one whole message: FIN set, no reserved bit, text or
binary, masked (RFC 6455 5.3: a client always masks), short (7-bit length, or the 16-bit form).
wsproto parses each of them through a chain of generators (frame decoder, masker, message
decoder, incremental UTF-8): ~8-10 % of the server's CPU in the W2 echo profile.

`next_message(chunk, pos, max_size)` takes the frame at `pos` of a chunk read from the socket
and returns its message (str for text, bytes for binary) and where the next frame starts, only
when it is such a frame, complete. Anything else returns None, having consumed nothing, and the
caller hands the chunk from `pos` on to wsproto, as it would have had it: control frames
(ping, pong, close), fragments and continuations, reserved bits, an unmasked frame, a
non-minimal or 64-bit length, a frame cut at the end of the chunk, invalid UTF-8, a payload
over `max_size`. So every error, close code and partial state stays wsproto's; this module
only ever agrees with it (tests/wire/test_fast_frames.py compares the two on generated frames).
A chunk is taken a frame at a time: while the app's inbox is full, only the chunk waits.
"""

from __future__ import annotations

from typing import Any

FIN_TEXT = 0x81  # FIN, no RSV bit, opcode 1
FIN_BINARY = 0x82  # FIN, no RSV bit, opcode 2
MASKED = 0x80  # the MASK bit of the second byte
LENGTH_16 = 126  # the 7-bit length that announces a 16-bit one
# Below this, XOR as one big integer is faster than wsproto's four translate() slices; above it
# the slices win (measured on CPython 3.11: ~0.9 against 1.7 µs at 60 bytes, 47 against 30 µs
# at 16 KB).
INT_XOR_MAX = 512
_XOR_TABLES = [bytes(a ^ b for a in range(256)) for b in range(256)]

Messages = list[str | bytes]


def next_message(chunk: bytes, pos: int, max_size: int) -> tuple[str | bytes, int] | None:
    """The message of the common frame at `pos` of `chunk` and where the next frame starts; None
    when the frame there is not a common one, or not whole: from `pos` on, the chunk is
    wsproto's (it is clean at a frame boundary, so that is as if it had had the whole chunk).

    `max_size`: a payload longer than this (in bytes) is left to the caller's slow path, which
    enforces its own limit (hypercorn's websocket_max_message_size, 1009)."""
    end = len(chunk)
    if end - pos < 6:  # the shortest masked frame: 2 header bytes and the key
        return None
    first = chunk[pos]
    if first != FIN_TEXT and first != FIN_BINARY:
        return None
    length = chunk[pos + 1] - MASKED  # negative: the frame is not masked
    if length < 0:
        return None
    if length < LENGTH_16:
        key_at = pos + 2
    elif length == LENGTH_16 and end - pos >= 8:
        length = (chunk[pos + 2] << 8) | chunk[pos + 3]
        if length < LENGTH_16:  # a non-minimal length: wsproto's protocol error (1002)
            return None
        key_at = pos + 4
    else:  # the 64-bit form, or a 16-bit length cut off
        return None
    start = key_at + 4
    stop = start + length
    if stop > end or length > max_size:
        return None
    payload = unmask(chunk[start:stop], chunk[key_at:start])
    if first == FIN_TEXT:
        try:
            return payload.decode("utf-8"), stop
        except UnicodeDecodeError:  # wsproto's 1007, with its reason
            return None
    return payload, stop


def receive_message(data: str | bytes) -> dict[str, Any]:
    """A message as ASGI `websocket.receive`: the shape of hypercorn's
    WebsocketBuffer.to_message(), which the slow path delivers."""
    if type(data) is str:
        return {"type": "websocket.receive", "bytes": None, "text": data}
    return {"type": "websocket.receive", "bytes": data, "text": None}


def unmask(payload: bytes, key: bytes) -> bytes:
    """`payload` XOR the 4-byte masking `key` repeated (RFC 6455 5.3)."""
    size = len(payload)
    if not size:
        return b""
    if size <= INT_XOR_MAX:
        mask = (key * ((size >> 2) + 1))[:size]
        return (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(
            size, "little"
        )
    data = bytearray(payload)
    for offset in range(4):
        data[offset::4] = data[offset::4].translate(_XOR_TABLES[key[offset]])
    return bytes(data)
