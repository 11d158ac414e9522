"""A minimal WebSocket client over a raw trio socket, for what trio-websocket cannot do:
stop reading on purpose, ignore pings, shrink its receive buffer, see every control frame."""

from __future__ import annotations

import base64
import os
import socket
import struct

import trio

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class RawWebSocket:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("the server closed the TCP connection")
            self._buffer += data

    async def handshake(self, path: str) -> bytes:
        """Upgrade; return the HTTP response head (raises if it is not 101)."""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await self.stream.send_all(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            await self._fill(len(self._buffer) + 1)
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        self._buffer = bytearray(rest)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        return head

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        await self.stream.send_all(encode_frame(opcode, payload, fin=fin))

    async def send_text(self, text: str) -> None:
        await self.send_frame(TEXT, text.encode())

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload). Servers do not mask."""
        opcode, _fin, payload = await self.read_fragment()
        return opcode, payload

    async def read_fragment(self) -> tuple[int, bool, bytes]:
        """The next frame from the server, fragments as they come: (opcode, FIN, payload)."""
        await self._fill(2)
        first, second = self._buffer[0], self._buffer[1]
        length, offset = second & 0x7F, 2
        if length == 126:
            await self._fill(4)
            length, offset = struct.unpack("!H", self._buffer[2:4])[0], 4
        elif length == 127:
            await self._fill(10)
            length, offset = struct.unpack("!Q", self._buffer[2:10])[0], 10
        await self._fill(offset + length)
        payload = bytes(self._buffer[offset : offset + length])
        del self._buffer[: offset + length]
        return first & 0x0F, bool(first & 0x80), payload

    async def read_frames_until_eof(self) -> list[tuple[int, bytes]]:
        """Every frame until the server drops the TCP connection."""
        frames = []
        while True:
            try:
                frames.append(await self.read_frame())
            except (EOFError, trio.BrokenResourceError):
                return frames

    async def read_until_eof(self) -> None:
        """Read and discard until the server drops the TCP connection."""
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:  # a reset counts as dropped
                return
            if not data:
                return


async def open_raw(port: int, path: str, *, receive_buffer: int | None = None) -> RawWebSocket:
    sock = trio.socket.socket()
    if receive_buffer is not None:  # before connect, so the TCP window starts small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    await sock.connect(("127.0.0.1", port))
    raw = RawWebSocket(trio.SocketStream(sock))
    await raw.handshake(path)
    return raw


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
