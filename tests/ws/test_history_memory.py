"""The history's memory is bounded (ws/history.py, docs/protocol.md "History"): 10,000
channels flooded with large publications (half of them Cyrillic), through ChannelOps.publish
(what every publication passes), in a process of their own; its RSS grows by no more than the
documented bound, QAKIT_HISTORY_TOTAL_BYTES x 1.25 + 8 MiB, whatever was published (here 20
times the limit)."""

from __future__ import annotations

import json
import sys

import trio

TOTAL = 32 * 1024 * 1024
CHANNELS, ROUNDS, SIZE = 10_000, 8, 8_192  # 655 MB of publications over the run

FLOOD = """
import json, sys, trio
from qakit_trio.wire import protocol
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.history import HistoryLimits
from qakit_trio.ws.hub import Hub

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

async def main(total, channels, rounds, size):
    hub = Hub(history=HistoryLimits(total_bytes=total))
    ops = ChannelOps(hub)
    texts = ("x" * size, "ж" * size)  # Cyrillic: two bytes a character in memory
    ops.publish("warm-up", protocol.rest_broadcast("warm-up", texts[0]))
    before = peak = rss()
    for round in range(rounds):
        for n in range(channels):
            text = texts[(round + n) % 2]
            ops.publish(f"flood-{n}", protocol.rest_broadcast(f"flood-{n}", text))
        peak = max(peak, rss())
    history = hub.history
    last = history.kept(f"flood-{channels - 1}")
    print(json.dumps({"before": before, "peak": peak, "accounted": history.bytes,
                      "channels": history.channels(), "kept": last}))

trio.run(main, *map(int, sys.argv[1:]))
"""


async def test_flooding_ten_thousand_channels_keeps_rss_within_the_bound() -> None:
    with trio.fail_after(120):
        done = await trio.run_process(
            [sys.executable, "-c", FLOOD, str(TOTAL), str(CHANNELS), str(ROUNDS), str(SIZE)],
            capture_stdout=True,
        )
    figures = json.loads(done.stdout)
    assert figures["accounted"] <= TOTAL
    assert figures["kept"] >= 1  # the newest publications are what is kept
    assert figures["channels"] < CHANNELS  # channels with nothing kept and nobody in are gone
    growth = figures["peak"] - figures["before"]
    assert growth <= TOTAL * 1.25 + 8 * 1024 * 1024, figures
