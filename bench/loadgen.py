"""Load generator for the QA Kit protocol: picows on uvloop, in its own process.

    python bench/loadgen.py w1 --url ws://127.0.0.1:8002 [--clients 1000 --messages 200]

Prints one JSON object with the workload's figures and the client's own CPU time, so a reader
can tell whether the client was the bottleneck. Each workload speaks the product's protocol:
subscribers on /ws?channel=..., a publisher using the `broadcast` action, latency taken from a
send timestamp (perf_counter_ns) carried at the start of the message text.

Frames are inspected without json.loads on the hot path (the message text is found by its
key): the client must cost far less than the server per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

TOKEN = [""]  # "&token=..." when the stand runs with QAKIT_AUTH=on (--token)
LOST_HANDSHAKES = [0]  # closed by the server before its 101, and tried again
MESSAGE_KEY = '"message":"'
DELIVERED = re.compile(r'"delivered":(\d+)')


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Client(WSListener):
    """One connection; `on_text` sees every text frame after the hello."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.hello = asyncio.get_running_loop().create_future()
        self.on_text: Callable[[str], None] = lambda text: None
        self.closed_code: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            text = frame.get_payload_as_utf8_text()
            if not self.hello.done():
                self.hello.set_result(text)
            else:
                self.on_text(text)
        elif frame.msg_type == WSMsgType.CLOSE:
            self.closed_code = frame.get_close_code().value

    def send(self, obj: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, json.dumps(obj, separators=(",", ":")).encode())


async def connect(url: str, count: int, parallel: int = 100) -> tuple[list[Client], list[float]]:
    """Open `count` clients (at most `parallel` handshakes at once); wait for each hello."""
    clients: list[Client] = []
    durations: list[float] = []
    semaphore = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with semaphore:
            start = time.perf_counter()
            for _attempt in range(3):
                _transport, listener = await ws_connect(Client, url, websocket_handshake_timeout=60)
                if listener is not None:
                    break
                # picows: the server closed the connection before its 101 (counted, shown)
                LOST_HANDSHAKES[0] += 1
            else:
                raise ConnectionError(f"{url}: the server closed 3 handshakes in a row")
            client = cast(Client, listener)
            await client.hello
            durations.append(time.perf_counter() - start)
            clients.append(client)

    await asyncio.gather(*(one() for _ in range(count)))
    return clients, durations


def message_stamp(text: str) -> tuple[int, int] | None:
    """(send time ns, sequence) from a `message` frame, or None for other frames."""
    if not text.startswith('{"type":"message"'):
        return None
    start = text.index(MESSAGE_KEY) + len(MESSAGE_KEY)
    sent, seq, _ = text[start : start + 40].split("|", 2)
    return int(sent), int(seq)


def stamped_message(seq: int, size: int) -> str:
    head = f"{time.perf_counter_ns()}|{seq}|"
    return head + "x" * max(0, size - len(head))


class Subscriber:
    """Counts `message` frames, checks their order, records latencies."""

    def __init__(self, client: Client, expected: int, done: Callable[[], None]) -> None:
        self.received = 0
        self.next_seq = 0
        self.out_of_order = 0
        self.latencies: list[float] = []
        self.expected = expected
        self.done = done
        client.on_text = self.on_text

    def on_text(self, text: str) -> None:
        stamp = message_stamp(text)
        if stamp is None:
            return
        sent, seq = stamp
        self.latencies.append((time.perf_counter_ns() - sent) / 1e6)
        if seq != self.next_seq:
            self.out_of_order += 1
        self.next_seq = seq + 1
        self.received += 1
        if self.received == self.expected:
            self.done()


async def open_stalled(url: str) -> asyncio.StreamWriter:
    """A subscriber that never reads, with a tiny receive window: a slow consumer."""
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        (
            f"GET /ws?channel=bench HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return writer  # and never read again


async def fan_out(
    url: str,
    clients: int,
    messages: int,
    size: int,
    window: int,
    interval: float | None,
    stalled: int = 0,
) -> dict[str, Any]:
    """W1 (interval None: as fast as possible) and W3 (one broadcast every `interval` s).
    `stalled` more subscribers never read: the slow-consumer policy must evict them while
    the others keep receiving everything."""
    connect_start = time.perf_counter()
    subscribers_clients, connect_times = await connect(f"{url}/ws?channel=bench{TOKEN[0]}", clients)
    connect_total = time.perf_counter() - connect_start
    stalled_writers = [await open_stalled(url) for _ in range(stalled)]
    last_delivered = [clients + stalled]
    loop = asyncio.get_running_loop()
    all_done = loop.create_future()
    remaining = [len(subscribers_clients)]
    last_delivery = [0.0]

    def one_done() -> None:
        remaining[0] -= 1
        last_delivery[0] = time.perf_counter()
        if remaining[0] == 0 and not all_done.done():
            all_done.set_result(None)

    subscribers = [Subscriber(c, messages, one_done) for c in subscribers_clients]
    publisher = subscribers_clients[0]  # a member of the channel like the others
    own = subscribers[0]
    in_flight = asyncio.Semaphore(window)

    def publisher_text(text: str) -> None:
        if text.startswith('{"type":"event"'):
            found = DELIVERED.search(text)
            if found:
                last_delivered[0] = int(found[1])
            in_flight.release()
        else:
            own.on_text(text)

    publisher.on_text = publisher_text
    cpu_start, start = cpu_seconds(), time.perf_counter()
    for seq in range(messages):
        await in_flight.acquire()
        publisher.send(
            {
                "action": "broadcast",
                "request_id": seq,
                "payload": {"message": stamped_message(seq, size)},
            }
        )
        if interval is not None:
            await asyncio.sleep(interval)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_done, timeout=120)
    for writer in stalled_writers:
        writer.close()
    elapsed = (last_delivery[0] or time.perf_counter()) - start
    latencies = [lat for s in subscribers for lat in s.latencies]
    per_message = [
        [s.latencies[i] for s in subscribers if len(s.latencies) > i] for i in range(messages)
    ]
    delivered = sum(s.received for s in subscribers)
    return {
        "clients": clients,
        "messages": messages,
        "delivered": delivered,
        "expected": clients * messages,
        "lost": clients * messages - delivered,
        "out_of_order": sum(s.out_of_order for s in subscribers),
        "frames_per_s": delivered / elapsed if elapsed > 0 else 0.0,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "connect_total_s": connect_total,
        "connect_p50_ms": percentile(connect_times, 0.5) * 1e3,
        "connect_p99_ms": percentile(connect_times, 0.99) * 1e3,
        "lost_handshakes": LOST_HANDSHAKES[0],
        "client_cpu_s": cpu_seconds() - cpu_start,
        "evicted": sum(1 for c in subscribers_clients if c.closed_code == 4008),
        "stalled": stalled,
        "stalled_evicted": clients + stalled - last_delivered[0],
        "p99_ms_by_message": [round(percentile(m, 0.99), 1) for m in per_message[:50]],
    }


async def request_reply(url: str, clients: int, duration: float) -> dict[str, Any]:
    """W2: each client sends `echo` back to back; a request completes with its event frame."""
    connected, _ = await connect(f"{url}/ws?channel=w2{TOKEN[0]}", clients)
    latencies: list[float] = []
    stop_at = [0.0]

    def drive(client: Client) -> None:
        sent = [0]

        def send_next() -> None:
            sent[0] = time.perf_counter_ns()
            client.send({"action": "echo", "payload": {"n": 1}, "request_id": "e"})

        def on_text(text: str) -> None:
            if text.startswith('{"type":"event"') and time.perf_counter() < stop_at[0]:
                latencies.append((time.perf_counter_ns() - sent[0]) / 1e6)
                send_next()

        client.on_text = on_text
        send_next()

    cpu_start, start = cpu_seconds(), time.perf_counter()
    stop_at[0] = start + duration
    for client in connected:
        drive(client)
    await asyncio.sleep(duration + 0.5)  # requests completing after stop_at are not counted
    completed = len(latencies)
    return {
        "clients": clients,
        "seconds": duration,
        "requests": completed,
        "requests_per_s": completed / duration,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu_s": cpu_seconds() - cpu_start,
    }


async def connect_storm(url: str, clients: int, parallel: int) -> dict[str, Any]:
    """W5: `clients` connect as fast as they can (`parallel` handshakes in flight at once), each
    timed from its TCP connect to its hello frame; then all of them close."""
    cpu_start, start = cpu_seconds(), time.perf_counter()
    connected, durations = await connect(f"{url}/ws?channel=w5{TOKEN[0]}", clients, parallel)
    total = time.perf_counter() - start
    client_cpu = cpu_seconds() - cpu_start
    for client in connected:
        assert client.transport is not None
        client.transport.disconnect()
    return {
        "clients": clients,
        "parallel": parallel,
        "connected": len(connected),
        "connect_total_s": total,
        "connections_per_s": len(connected) / total,
        "lost_handshakes": LOST_HANDSHAKES[0],
        "connect_p50_ms": percentile(durations, 0.5) * 1e3,
        "connect_p99_ms": percentile(durations, 0.99) * 1e3,
        "client_cpu_s": client_cpu,
    }


async def idle(url: str, clients: int, deflate: bool) -> dict[str, Any]:
    """W4: open idle connections (raw handshakes, optionally offering permessage-deflate),
    report, then hold them until stdin says so (the runner reads the server's RSS meanwhile)."""
    host, port = url.removeprefix("ws://").split(":")
    writers = []
    accepted_deflate = 0
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    for _ in range(clients):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"GET /ws?channel=w4 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\n{offer if deflate else ''}\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        accepted_deflate += b"permessage-deflate" in head.lower()
        await reader.read(1)  # the first byte of the hello frame: the server sent it
        writers.append(writer)
    print(
        json.dumps(
            {"connected": clients, "deflate_offered": deflate, "deflate_accepted": accepted_deflate}
        ),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for writer in writers:
        writer.close()
    return {"clients": clients, "deflate_offered": deflate, "deflate_accepted": accepted_deflate}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["w1", "w2", "w3", "w4", "w5"])
    parser.add_argument("--stalled", type=int, default=0, help="w1: subscribers never reading")
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--parallel", type=int, default=250, help="w5: handshakes at once")
    parser.add_argument("--token", help="QAKIT_AUTH=on: a token every client bears (?token=)")
    args = parser.parse_args()
    if args.token:
        TOKEN[0] = f"&token={args.token}"
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.workload == "w1":
        coro = fan_out(
            args.url, args.clients, args.messages, args.size, args.window, None, args.stalled
        )
    elif args.workload == "w3":
        coro = fan_out(args.url, args.clients, args.messages, args.size, 1, args.interval)
    elif args.workload == "w2":
        coro = request_reply(args.url, args.clients, args.duration)
    elif args.workload == "w5":
        coro = connect_storm(args.url, args.clients, args.parallel)
    else:
        coro = idle(args.url, args.clients, args.deflate)
    result = uvloop.run(coro)
    print(json.dumps({"workload": args.workload, **result}), flush=True)


if __name__ == "__main__":
    main()
