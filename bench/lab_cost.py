"""What the lab's views cost a bystander: echo throughput with inspectors open, or with the
task tree read in a loop (issue 22, item 7).

    python bench/lab_cost.py                       # 0, 10, 50 inspectors watching everything,
                                                   # 10 watching another channel, a tree loop
    python bench/lab_cost.py --tree /tmp/base      # the same against another checkout
    python bench/lab_cost.py --smoke               # a few clients for a second (what CI runs)

Each case starts the stand afresh (`python -m qakit_trio`), opens what it tests, then runs
W2 (bench/loadgen.py: `--clients` echo clients back to back on their own channel) and
reports requests/s and round trips as a ratio to the case with nothing open, measured in the
same invocation: absolute figures move from run to run on a shared machine, the ratio less.
Inspectors and the tree loop run in their own process, as a browser would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ports import free_port, wait_listening  # bench/ports.py (scripts: bench/ is on the path)

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = [sys.executable, str(ROOT / "bench" / "loadgen.py")]
SELF = [sys.executable, str(Path(__file__).resolve())]
DROPPED = re.compile(r'"dropped":(\d+)}$')


@contextmanager
def stand(tree: Path, logdir: Path, name: str, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """The stand from `tree` (its package first on the path), on a free port: (port, pid)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), **env}
    with open(logdir / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qakit_trio", "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tree,
        )
        try:
            wait_listening(port, process, f"the stand from {tree}")
            yield port, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def helper(args: list[str]) -> Iterator[dict[str, Any]]:
    """A helper process that prints one JSON line when ready, works until its stdin gets a
    line, then prints its summary (put into the yielded dict)."""
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None
    assert process.stdout is not None
    summary: dict[str, Any] = json.loads(process.stdout.readline())
    try:
        yield summary
    finally:
        process.stdin.write("done\n")
        process.stdin.flush()
        last = process.stdout.readline()
        process.wait(timeout=60)
        if last:
            summary.update(json.loads(last))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def echo_load(port: int, clients: int, duration: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            *LOADGEN,
            "w2",
            "--url",
            f"ws://127.0.0.1:{port}",
            "--clients",
            str(clients),
            "--duration",
            str(duration),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_case(
    tree: Path,
    logdir: Path,
    name: str,
    args: argparse.Namespace,
    inspectors: int = 0,
    watch: str = "all",
    tree_loop: bool = False,
) -> dict[str, Any]:
    env = {} if args.max_inspectors is None else {"QAKIT_MAX_INSPECTORS": str(args.max_inspectors)}
    with stand(tree, logdir, name, env) as (port, pid):
        url = f"127.0.0.1:{port}"
        with contextlib.ExitStack() as stack:
            side: dict[str, Any] = {}
            if tree_loop:
                side["idle"] = stack.enter_context(
                    helper([*LOADGEN, "w4", "--url", f"ws://{url}", "--clients", str(args.idle)])
                )
                side["tree"] = stack.enter_context(
                    helper([*SELF, "_tree", url, str(args.readers), args.tree_query])
                )
            if inspectors:
                side["inspectors"] = stack.enter_context(
                    helper([*SELF, "_inspectors", url, str(inspectors), watch])
                )
            cpu_before = cpu_s(pid)
            result = echo_load(port, args.clients, args.duration)
            cpu = cpu_s(pid) - cpu_before
        return {
            "case": name,
            "requests_per_s": round(result["requests_per_s"]),
            "p50_ms": round(result["p50_ms"], 2),
            "p99_ms": round(result["p99_ms"], 2),
            # the stand's CPU per echo request, all it did in the time included
            "server_cpu_us_per_request": round(cpu / max(1, result["requests"]) * 1e6),
            **{key: value for key, value in side.items() if key != "idle"},
        }


# ---- helper processes ---------------------------------------------------------------------


async def inspectors(url: str, count: int, watch: str) -> None:
    """`count` inspectors reading all they are sent; `watch` "all" or "other" (a channel
    nobody uses). Summary: frames received, the largest `dropped`, and how many were closed."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    message = json.dumps({"watch": {} if watch == "all" else {"channel": "elsewhere"}})
    frames, dropped = [0], [0]
    closed: list[str] = []
    ready = asyncio.Event()
    watching = [0]

    async def one() -> None:
        async with connect(
            f"ws://{url}/ws/_inspect",
            origin=f"http://{url}",  # type: ignore[arg-type]
            max_size=None,
        ) as ws:
            try:
                await ws.recv()  # watching {}
                await ws.send(message)
                answered = False
                async for text in ws:
                    assert isinstance(text, str)
                    if text.startswith('{"type":"frames"'):  # counted without parsing: the
                        frames[0] += text.count('{"dir":')  # client must cost little
                        found = DROPPED.search(text, len(text) - 40)
                        dropped[0] = max(dropped[0], int(found[1]) if found else 0)
                    elif text.startswith('{"type":"watching"') and not answered:  # ours
                        answered = True
                        watching[0] += 1
                        if watching[0] + len(closed) == count:
                            ready.set()
            except ConnectionClosed as error:
                closed.append(
                    f"{error.rcvd.code if error.rcvd else None} "
                    f"{error.rcvd.reason if error.rcvd else ''}"
                )
                if watching[0] + len(closed) == count:
                    ready.set()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await ready.wait()
    print(json.dumps({"watching": watching[0]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    reasons = {reason: closed.count(reason) for reason in sorted(set(closed))}
    print(
        json.dumps({"frames": frames[0], "dropped_max": dropped[0], "closed": reasons}), flush=True
    )


async def tree_loop(url: str, readers: int, query: str) -> None:
    """`readers` clients reading GET /debug/tasks?`query` back to back."""
    import httpx

    stop = asyncio.Event()
    statuses: dict[int, int] = {}
    sizes: list[int] = []

    async def one(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            answer = await client.get(f"/debug/tasks?{query}")
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            sizes.append(len(answer.content))

    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=60) as client:
        await client.get("/health")
        print(json.dumps({"query": query}), flush=True)
        start = time.perf_counter()
        tasks = [asyncio.create_task(one(client)) for _ in range(readers)]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "reads_per_s": round(len(sizes) / elapsed, 1),
                "statuses": statuses,
                "kib": round(max(sizes, default=0) / 1024),
            }
        ),
        flush=True,
    )


def main() -> None:
    if sys.argv[1:2] == ["_inspectors"]:
        url, count, watch = sys.argv[2:5]
        asyncio.run(inspectors(url, int(count), watch))
        return
    if sys.argv[1:2] == ["_tree"]:
        url, readers, query = sys.argv[2:5]
        asyncio.run(tree_loop(url, int(readers), query))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    parser.add_argument("--clients", type=int, default=20, help="echo clients (W2)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=2000, help="idle clients for the tree loop")
    parser.add_argument("--readers", type=int, default=4, help="clients reading the tree")
    parser.add_argument(
        "--tree-query",
        default="limit=500&expand=connection,writer",
        help="issue 22 read limit=10000 (now refused: at most 500)",
    )
    parser.add_argument("--cases", default="none,all10,all50,other10,other50,tree")
    parser.add_argument(
        "--max-inspectors",
        type=int,
        help="QAKIT_MAX_INSPECTORS (unset: "
        "the stand's default; a checkout without the setting refuses it)",
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--logdir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.duration, args.idle, args.readers = 2, 0.5, 20, 1
        args.cases = "none,all2,other2,tree"
    rows = []
    for case in args.cases.split(","):
        if case == "tree":
            row = run_case(args.tree, args.logdir, case, args, tree_loop=True)
        elif case.startswith(("all", "other")):
            watch = "all" if case.startswith("all") else "other"
            row = run_case(
                args.tree,
                args.logdir,
                case,
                args,
                inspectors=int(case.removeprefix(watch)),
                watch=watch,
            )
        else:
            row = run_case(args.tree, args.logdir, case, args)
        rows.append(row)
        baseline = rows[0]["requests_per_s"] or 1
        row["ratio"] = round(row["requests_per_s"] / baseline, 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
