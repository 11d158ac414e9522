"""What one protocol does with one connection's messages (ws/connection.py runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from qakit_trio.wire import protocol
from qakit_trio.wire.framing import Frame


class Session(Protocol):
    """What one protocol does with one connection's messages."""

    def hello(self) -> protocol.Message | None:
        """The frame the server sends first, if the protocol has one."""

    async def handle(self, message: str | bytes) -> None:
        """Answer one message (through `Connection.reply`). An exception escaping here is a
        handler failure: logged, and the connection closes with 1011."""

    def described(self, frame: protocol.Message) -> tuple[Any, Any, Any]:
        """What a frame's `frame out` log line says that only its protocol can read: its kind,
        its request id, its error code (protocol.LOGGED_KEYS; None: absent). The connection
        knows no protocol's keys."""

    def after_hello(self) -> Sequence[Frame]:
        """Frames that follow the hello before any other (the envelope's recovered
        publications, when the URL gave a position: sessions/envelope.py)."""
