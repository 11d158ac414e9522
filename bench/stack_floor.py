"""The stack alone: the reference's protocol subset (bench/reference_server.py) on the stack the
project chose (quart-trio on hypercorn's trio worker, library defaults), written the plain way
and with nothing of qakit-trio: no hypercorn extension, no logging, no sessions.

    python bench/stack_floor.py --port 8004
    python bench/run.py --workloads w2,w5 --floor     # measured beside the reference

What it answers (issue 30): how much of qakit-trio's cost per request and per connection is
the stack's own. Per connection: one nursery, a reader (the route) and a writer task, one
bounded trio memory channel as its outbox. Subset: the hello frame, `echo` (ack, echo, event)
and `broadcast` (ack, message to the channel, event with the delivered count).
"""

from __future__ import annotations

import argparse
import json
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import websocket
from quart_trio import QuartTrio

OUTBOX_SIZE = 256  # as the reference's queue: a client that falls this far behind is closed
CLOSE_TIMEOUT = 10.0  # the `websockets` library's default close_timeout, as the reference's
app = QuartTrio(__name__)
channels: dict[str, dict[trio.MemorySendChannel[str], trio.CancelScope]] = {}


def ts() -> str:
    return datetime.now(UTC).isoformat()


def dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


async def writer(outbox: trio.MemoryReceiveChannel[str]) -> None:
    async with outbox:
        async for text in outbox:
            await websocket.send(text)


@app.websocket("/ws")
async def ws() -> None:
    channel = websocket.args.get("channel") or "general"
    conn = uuid.uuid4().hex[:12]
    # the route owns `send` (closed when it ends), the writer `receive`; a broadcast only
    # send_nowait()s to another member's `send`, or cancels that member's scope
    send, receive = trio.open_memory_channel[str](OUTBOX_SIZE)
    with trio.CancelScope() as scope:  # cancelled by a broadcast that finds its outbox full
        members = channels.setdefault(channel, {})
        members[send] = scope
        await websocket.accept()
        send.send_nowait(dump({"type": "system", "message": f"connected to '{channel}'",
                               "channel": channel, "connection_id": conn, "ts": ts()}))  # fmt: skip
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer, receive)
                while True:
                    request = json.loads(await websocket.receive())
                    await serve_one(request, send, members, channel, conn)
        finally:
            members.pop(send, None)
            if not members and channels.get(channel) is members:
                channels.pop(channel, None)
            send.close()
    if scope.cancelled_caught:  # evicted, as the reference does: 4008
        with trio.move_on_after(CLOSE_TIMEOUT):  # a client that reads nothing: given up
            await websocket.close(4008, "slow consumer: outbox full")


async def serve_one(
    request: dict[str, Any],
    send: trio.MemorySendChannel[str],
    members: dict[trio.MemorySendChannel[str], trio.CancelScope],
    channel: str,
    conn: str,
) -> None:
    rid = request.get("request_id")
    payload = request.get("payload") or {}
    await send.send(dump({"type": "ack", "request_id": rid, "ts": ts()}))
    if request.get("action") == "echo":
        await send.send(dump({"type": "echo", "request_id": rid, "data": payload, "ts": ts()}))
        extra: Any = payload
        name = "ws.echo"
    else:
        frame = dump({"type": "message", "channel": channel, "message": payload["message"],
                      "request_id": rid, "from": conn, "ts": ts()})  # fmt: skip
        delivered = 0
        for member in list(members):
            try:
                member.send_nowait(frame)
                delivered += 1
            except (trio.WouldBlock, trio.BrokenResourceError):
                members.pop(member).cancel()  # that client is closed with 4008 (itself too)
        extra, name = {"channel": channel, "delivered": delivered}, "ws.broadcast"
    await send.send(dump({"type": "event", "name": name, "request_id": rid, "ts": ts(),
                          "extra": extra, "event_id": str(uuid.uuid4())}))  # fmt: skip


async def main(port: int) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

        async def stop() -> None:
            async for _ in signals:
                return

        print(f"Running on http://127.0.0.1:{port}", flush=True)
        await serve(app, config, shutdown_trigger=stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    trio.run(main, parser.parse_args().port)
