"""Our server-side framing against wsproto's (the library hypercorn frames with), at every
length class, and read back by a wsproto client: the Autobahn-style check of what we write."""

from __future__ import annotations

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import Ping, TextMessage

from qakit_trio.wire import framing

LENGTHS = [0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 1 << 20]


@pytest.mark.parametrize("length", LENGTHS)
def test_text_frame_is_byte_identical_to_wsproto(length: int) -> None:
    text = ("я" * length)[: length // 2] + "x" * (length - length // 2)
    server = Connection(ConnectionType.SERVER)
    assert framing.text_frame(text) == server.send(TextMessage(data=text))


def test_ping_frame_is_byte_identical_to_wsproto() -> None:
    assert Connection(ConnectionType.SERVER).send(Ping(payload=b"qakit")) == framing.PING_FRAME


def test_a_client_reads_back_a_batch_of_frames() -> None:
    texts = ["", "a", "é" * 200, "x" * 70_000, '{"type":"ack"}']
    batch = (
        b"".join(framing.text_frame(t) for t in texts[:2])
        + framing.PING_FRAME
        + b"".join(framing.text_frame(t) for t in texts[2:])
    )
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(batch)
    events = list(client.events())
    assert [e.data for e in events if isinstance(e, TextMessage)] == texts
    assert [e.payload for e in events if isinstance(e, Ping)] == [b"qakit"]
    assert all(e.message_finished for e in events if isinstance(e, TextMessage))
