"""Where the server's CPU goes, per request (W2) or per connection (W5): py-spy samples of the
server under the load, sorted into parts, times its measured CPU per request or connection.

    python bench/profile.py w2                 # 50 echo clients for 10 s
    python bench/profile.py w5                 # 5,000 clients connecting, 100 at once
    python bench/profile.py w2 --tree /tmp/old  # another checkout (a commit before)
    python bench/profile.py w2 --env QAKIT_LOG_PAYLOAD_MAX=0

Needs py-spy (the dev extra) and the right to read another process's memory (ptrace: root, or
kernel.yama.ptrace_scope=0). A sample is given to the first part that matches, in PARTS' order,
walking from the innermost frame out, except that any sample under our logging code is
`logging`: the JSON lines, their fields and the calls building them. A part's time includes
the C functions and system calls its own code calls (os.write is `transport: writes`). The
table is what docs/benchmarks.md's "Where the time goes" shows (issue 30).
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
from pathlib import Path

from ports import free_port, wait_listening  # bench/ports.py (scripts: bench/ is on the path)
from proctree import tree_cpu_s

ROOT = Path(__file__).resolve().parent.parent
LOGGING = ("/logs.py", "/log_format.py", "/log_fields.py")
LOGGING_CALLS = ("_log_out ", "log_in ", "log_event ", ".payload_fields ")
# (part, substrings of a frame "function (file:line)"), matched from the innermost frame out
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("transport: writes (os.write)", ("write_nowait (",)),
    ("trio: socket reads, epoll", ("(trio/_socket", "(trio/_highlevel_socket", "_io_epoll")),
    ("trio: channels", ("(trio/_channel",)),
    ("trio: scheduler, tasks, cancel scopes", ("(trio/", "(outcome/")),
    ("wsproto: frames", ("(wsproto/",)),
    ("h11: HTTP", ("(h11/",)),
    ("hypercorn", ("(hypercorn/",)),
    ("quart, werkzeug: routing, contexts", ("(quart", "(werkzeug/")),
    ("ours: transport (hypercorn extension)", ("qakit_trio/transport/",)),
    ("ours: connection, outbox, hub", ("qakit_trio/ws/",)),
    ("ours: sessions, pipeline, routes", ("qakit_trio/sessions/", "qakit_trio/pipeline/")),
    ("ours: sessions, pipeline, routes", ("qakit_trio/web/", "qakit_trio/lab/")),
    ("ours: frames (wire/: JSON, ids, times)", ("qakit_trio/wire/", "(json/")),
    ("ours: other", ("qakit_trio/",)),
]


def part_of(stack: str) -> str:
    frames = stack.split(";")
    if any(f.endswith(LOGGING) or any(c in f for c in LOGGING_CALLS) for f in frames):
        return "logging (JSON lines)"
    for frame in reversed(frames):
        for part, needles in PARTS:
            if any(needle in frame for needle in needles):
                return part
    return "other (stdlib, start-up)"


def breakdown(raw: str) -> dict[str, int]:
    """Samples per part, from py-spy's raw (collapsed) output: `frame;frame;... count`."""
    parts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            # py-spy writes "function (file:line)"; drop the line, keep function and file
            parts[part_of(";".join(f.rsplit(":", 1)[0] for f in stack.split(";")))] += int(count)
    return dict(parts)


def settled_cpu_s(pid: int, limit: float = 10.0) -> float:
    """The server's CPU time once it has finished what the load left it (W5: the clients'
    closes, which the load generator does not wait for): when 0.2 s add less than 5 ms."""
    deadline = time.monotonic() + limit
    last = tree_cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = tree_cpu_s(pid)
        if now - last < 0.005:
            return now
        last = now
    return last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["w2", "w5"])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    parser.add_argument("--env", action="append", default=[], metavar="VAR=VALUE")
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    parser.add_argument("--keep", type=Path, help="also copy py-spy's raw samples here")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, **dict(e.split("=", 1) for e in args.env), "PYTHONPATH": str(args.tree)}
    with tempfile.TemporaryDirectory(prefix="qakit-profile-") as tmp:
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "qakit_trio", "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=args.tree,
        )
        wait_listening(port, server, "qakit-trio")
        time.sleep(0.3)
        raw_path = Path(tmp) / "samples.raw"
        spy = subprocess.Popen(
            [
                *("py-spy", "record", "-p", str(server.pid), "-r", str(args.rate), "-f", "raw"),
                *("-o", str(raw_path), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        load = ["--clients", "50", "--duration", "10"] if args.workload == "w2" else []
        load = load or ["--clients", "5000", "--parallel", "100"]
        before = tree_cpu_s(server.pid)
        url = f"ws://127.0.0.1:{port}"
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "loadgen.py"),
                args.workload,
                "--url",
                url,
                *load,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = settled_cpu_s(server.pid) - before
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        spy.wait(timeout=60)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        log.close()
        result = json.loads(done.stdout.strip().splitlines()[-1])
        parts = breakdown(raw_path.read_text())
        if args.keep is not None:
            args.keep.write_text(raw_path.read_text())
    units = result["requests"] if args.workload == "w2" else result["connected"]
    unit = "request" if args.workload == "w2" else "connection"
    per_unit = cpu / units * 1e6
    total = sum(parts.values())
    print(f"{args.workload}: {units} {unit}s, server CPU {cpu:.2f} s: {per_unit:.0f} µs per {unit}")
    print(f"\n| part | share of samples | µs per {unit} |\n|---|---|---|")
    for part, count in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"| {part} | {count / total:.1%} | {per_unit * count / total:.1f} |")
    print(f"| **total** ({total} samples) | 100% | {per_unit:.0f} |")


if __name__ == "__main__":
    main()
