"""WebSocket framing of what the server sends (RFC 6455 section 5.2), and the items a
connection's writer writes (`Frame`, `Control`). Pure: no I/O.

A server frame is never masked and, since we decline permessage-deflate (hyper_ext.py), never
compressed, so its bytes do not depend on the connection: a broadcast is framed once and the
same bytes are written to every subscriber's socket. tests/wire/test_framing.py checks every length
class against wsproto, the library hypercorn itself frames with.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple, final

FIN = 0x80
OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_PING = 0x9
MAX_ONE_BYTE = 125  # payload lengths up to this fit in the second header byte
MAX_TWO_BYTES = 0xFFFF  # then 126 + a 16-bit length; beyond, 127 + a 64-bit length


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked frame (`fin=False`: a fragment that more follow)."""
    length = len(payload)
    first = (FIN if fin else 0) | opcode
    if length <= MAX_ONE_BYTE:
        header = bytes((first, length))
    elif length <= MAX_TWO_BYTES:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def fragmented_text(text: str, parts: int) -> bytes:
    """One text message as `parts` fragments (RFC 6455 section 5.4): a text frame without
    FIN, continuation frames, the last with FIN. The UTF-8 bytes are cut anywhere: only the
    whole message must be valid UTF-8."""
    data = text.encode()
    size = max(1, -(-len(data) // parts))
    chunks = [data[start : start + size] for start in range(0, len(data), size)] or [b""]
    return b"".join(
        frame(OP_TEXT if n == 0 else OP_CONTINUATION, chunk, fin=n == len(chunks) - 1)
        for n, chunk in enumerate(chunks)
    )


def text_frame(text: str) -> bytes:
    return frame(OP_TEXT, text.encode())


def binary_frame(data: bytes) -> bytes:
    return frame(OP_BINARY, data)


PING_FRAME = frame(OP_PING, b"qakit")


class Frame(NamedTuple):
    """One frame for the wire: its text (plain ASGI sends this) and its bytes (our fast path)."""

    text: str
    wire: bytes

    @classmethod
    def of(cls, text: str) -> Frame:
        return cls(text, text_frame(text))


@final
class Control:
    """A control item: bytes for the wire (maybe none), no text for plain ASGI."""

    text: None = None

    def __init__(self, name: str, wire: bytes) -> None:
        self.name = name
        self.wire = wire

    def __repr__(self) -> str:
        return self.name


PING: Final = Control("PING", PING_FRAME)  # "write a WebSocket ping now"
WAKE: Final = Control("WAKE", b"")  # "look at the connection's state": see connection.py

OutboxItem = Frame | Control
