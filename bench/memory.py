"""What an idle WebSocket connection holds in the server (W4), by part: tracemalloc snapshots of
the server before and after N idle clients connect, the difference sorted into parts by who
allocated it, divided by N.

    python bench/memory.py                      # 1,000 idle clients (bench/loadgen.py w4)
    python bench/memory.py --clients 2000 --tree /tmp/old

The server runs as the CLI runs it (`python -m qakit_trio`), started through this file with
`--serve`: tracemalloc on (25 frames) and SIGUSR1 writing a snapshot, so nothing in the
service knows about it. A block is given to the innermost frame of its traceback that is not
the standard library's, trio's, outcome's or sniffio's, by file (PARTS); a block allocated by
trio alone (a task, a cancel scope, a channel's state) is trio's. The figure is what Python
allocated (tracemalloc), not the process's RSS that W4 reports (which adds the kernel's socket
buffers, malloc's slack and the page granularity): compare the parts, not the totals.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from ports import free_port, wait_listening  # bench/ports.py (scripts: bench/ is on the path)

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = [sys.executable, str(ROOT / "bench" / "loadgen.py")]
FRAMES = 25  # deep enough for an await chain from the TCP server down to a channel
# (part, substrings of a traceback frame's filename), matched from the innermost frame out
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("wsproto", ("/wsproto/",)),
    ("h11", ("/h11/",)),
    ("hypercorn", ("/hypercorn/",)),
    ("quart, werkzeug", ("/quart", "/werkzeug/")),
    ("ours: transport (hypercorn extension)", ("qakit_trio/transport/",)),
    ("ours: connection, outbox, hub", ("qakit_trio/ws/",)),
    ("ours: sessions, routes", ("qakit_trio/sessions/", "qakit_trio/web/", "qakit_trio/lab/")),
    ("ours: other", ("qakit_trio/",)),
]
BACKGROUND = ("/trio/", "/outcome/", "/sniffio/", "<frozen", "<attrs generated", "/lib/python3")


def part_of(filenames: list[str]) -> str:
    """The part a block belongs to, from its traceback's filenames (innermost first)."""
    for filename in filenames:
        for part, needles in PARTS:
            if any(needle in filename for needle in needles):
                return part
        if not any(needle in filename for needle in BACKGROUND):
            return "other"
    return "trio: tasks, scopes, channels" if any("/trio/" in f for f in filenames) else "other"


def serve() -> None:
    """The server, traced: SIGUSR1 writes a snapshot to $BENCH_MEMORY_SNAPSHOT."""
    tracemalloc.start(FRAMES)

    def snapshot(_signum: int, _frame: object) -> None:
        path = os.environ["BENCH_MEMORY_SNAPSHOT"]
        tracemalloc.take_snapshot().dump(path + ".part")
        os.replace(path + ".part", path)  # whole, or not there yet

    signal.signal(signal.SIGUSR1, snapshot)
    from qakit_trio.cli import main as cli

    cli(sys.argv[2:])


def take(server: subprocess.Popen[bytes], path: Path) -> tracemalloc.Snapshot:
    """Ask the server for a snapshot and wait for the file (the loop runs it between steps)."""
    path.unlink(missing_ok=True)
    server.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 300
    while not path.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server wrote no snapshot")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    parser.add_argument("--where", type=int, default=0, help="also the N biggest sites")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="qakit-memory-") as tmp:
        path = Path(tmp) / "snapshot"
        env = {**os.environ, "PYTHONPATH": str(args.tree), "BENCH_MEMORY_SNAPSHOT": str(path)}
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=args.tree,
        )
        try:
            wait_listening(port, server, "qakit-trio", seconds=60)
            url = f"ws://127.0.0.1:{port}"
            warm = [*LOADGEN, "w4", "--url", url, "--clients", "20"]  # first-use caches
            warmed = subprocess.run(warm, input="done\n", text=True, capture_output=True)
            if warmed.returncode:
                raise RuntimeError(f"the warm-up clients failed: {warmed.stderr[-2000:]}")
            before = take(server, path)
            clients = subprocess.Popen(
                [*LOADGEN, "w4", "--url", url, "--clients", str(args.clients)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert clients.stdout is not None
            assert clients.stdin is not None
            connected = json.loads(clients.stdout.readline())["connected"]
            time.sleep(1.0)  # the server finishes what the handshakes started
            after = take(server, path)
            clients.stdin.write("done\n")
            clients.stdin.close()
            clients.wait(timeout=120)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            log.close()
    parts: collections.Counter[str] = collections.Counter()
    where: collections.Counter[str] = collections.Counter()  # --where: the biggest sites
    for stat in after.compare_to(before, "traceback"):
        files = [frame.filename for frame in reversed(stat.traceback)]  # innermost first
        part = part_of(files)
        parts[part] += stat.size_diff
        if args.where:
            frames = list(reversed(stat.traceback))[:4]
            where[
                f"{part} | " + " < ".join(f"{f.filename.split('/')[-1]}:{f.lineno}" for f in frames)
            ] += stat.size_diff
    total = sum(parts.values())
    print(f"w4 memory: {connected} idle clients, {total / connected / 1024:.2f} KiB each")
    print("\n| part | KiB per connection |\n|---|---|")
    for part, size in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"| {part} | {size / connected / 1024:.2f} |")
    print(f"| **total** (tracemalloc) | {total / connected / 1024:.2f} |")
    for site, size in where.most_common(args.where):
        print(f"{size / connected:8.0f} B  {site}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    else:
        main()
