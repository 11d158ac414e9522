"""The reference: the same protocol subset on the `websockets` library (asyncio), written the
way a user would pick instead of our stack: one bounded queue and one writer task per
connection, the same slow-consumer policy (queue full -> close 4008).

    python bench/reference_server.py --port 8003

Subset: the hello frame, `echo` (ack, echo, event) and `broadcast` (ack, message to the
channel, event with the delivered count). No per-frame logging.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

OUTBOX_SIZE = 256
channels: dict[str, dict[asyncio.Queue[str], ServerConnection]] = {}
background: set[asyncio.Task[None]] = set()


def ts() -> str:
    return datetime.now(UTC).isoformat()


def dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


async def writer(ws: ServerConnection, outbox: asyncio.Queue[str]) -> None:
    while True:
        await ws.send(await outbox.get())


def evict(ws: ServerConnection) -> None:
    task = asyncio.create_task(ws.close(4008, "slow consumer: outbox full"))
    background.add(task)
    task.add_done_callback(background.discard)


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    query = parse_qs(urlsplit(ws.request.path).query)
    channel = (query.get("channel") or ["general"])[0] or "general"
    conn = uuid.uuid4().hex[:12]
    outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_SIZE)
    members = channels.setdefault(channel, {})
    members[outbox] = ws
    outbox.put_nowait(
        dump(
            {
                "type": "system",
                "message": f"connected to '{channel}'",
                "channel": channel,
                "connection_id": conn,
                "ts": ts(),
            }
        )
    )
    task = asyncio.create_task(writer(ws, outbox))
    try:
        async for text in ws:
            request = json.loads(text)
            rid = request.get("request_id")
            payload = request.get("payload") or {}
            await outbox.put(dump({"type": "ack", "request_id": rid, "ts": ts()}))
            if request.get("action") == "echo":
                await outbox.put(
                    dump({"type": "echo", "request_id": rid, "data": payload, "ts": ts()})
                )
                extra: Any = payload
                name = "ws.echo"
            else:
                frame = dump(
                    {
                        "type": "message",
                        "channel": channel,
                        "message": payload["message"],
                        "request_id": rid,
                        "from": conn,
                        "ts": ts(),
                    }
                )
                delivered = 0
                for member, member_ws in list(members.items()):
                    try:
                        member.put_nowait(frame)
                        delivered += 1
                    except asyncio.QueueFull:
                        del members[member]
                        evict(member_ws)
                extra, name = {"channel": channel, "delivered": delivered}, "ws.broadcast"
            await outbox.put(
                dump(
                    {
                        "type": "event",
                        "name": name,
                        "request_id": rid,
                        "ts": ts(),
                        "extra": extra,
                        "event_id": str(uuid.uuid4()),
                    }
                )
            )
    except ConnectionClosed:
        pass  # the client left without a closing handshake
    finally:
        members.pop(outbox, None)
        if not members:
            channels.pop(channel, None)
        task.cancel()


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port):  # library defaults, permessage-deflate too
        print(f"Running on http://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
