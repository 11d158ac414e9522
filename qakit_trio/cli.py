"""`qakit-trio` (also `python -m qakit_trio`): serve the stand on hypercorn.

qakit-trio                                   # 127.0.0.1:8002 and 127.0.0.1:8000
qakit-trio --bind 0.0.0.0:8002 --bind 0.0.0.0:8000
QAKIT_CLUSTER=kafka ... qakit-trio --workers 4  # 4 processes sharing the ports (workers.py)
qakit-trio replay SESSION --url ws://HOST:PORT   # a recorded session as a regression test
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from functools import partial

import trio

from qakit_trio import workers
from qakit_trio.binds import BindError, usable_binds
from qakit_trio.config import load_settings
from qakit_trio.config_values import parse_bind
from qakit_trio.errors import ConfigError
from qakit_trio.logs import setup_logging
from qakit_trio.server import run_server, tune_gc, tune_malloc


def _bind(value: str) -> str:
    try:
        return parse_bind(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _workers(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= workers.MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of 1-{workers.MAX_WORKERS}")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:
        from qakit_trio.replayer.command import main as replay  # (loaded for the command only)

        sys.exit(replay(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="qakit-trio",
        description="QA Kit WebSocket training stand (settings: docs/settings.md, also served "
        "as /guides/settings.md)",
        epilog="qakit-trio replay --help: replay a recorded session (docs/replay.md)",
    )
    parser.add_argument(
        "--bind",
        action="append",
        type=_bind,
        metavar="HOST:PORT",
        help="address to listen on; repeat for several (default: "
        "QAKIT_BIND, or 127.0.0.1:8002 and 127.0.0.1:8000)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="run N processes sharing the ports (SO_REUSEPORT), restarted when they die; "
        "needs QAKIT_CLUSTER=kafka (default: 1, this process serves)",
    )
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # set by --workers
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ)
        if args.workers > 1:
            workers.check_workers(settings, os.environ, args.workers)
    except ConfigError as error:
        print(f"qakit-trio: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    setup_logging(settings.log_level)
    try:
        binds = usable_binds(
            args.bind or settings.binds,
            given=bool(args.bind) or settings.binds_given,
            reuse_port=settings.reuse_port or args.workers > 1,
        )
        if args.workers > 1:
            workers.main(settings, argv, binds, args.workers)  # the parent: it serves nothing
            return
    except BindError as error:
        print(f"qakit-trio: {error}", file=sys.stderr)
        sys.exit(1)
    tune_gc()
    tune_malloc()
    trio.run(partial(run_server, settings, binds, parent_pid=args.parent_pid))
