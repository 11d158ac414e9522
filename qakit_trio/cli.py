"""`qakit-trio` (also `python -m qakit_trio`): serve the stand on hypercorn.

qakit-trio                                   # 127.0.0.1:8002 and 127.0.0.1:8000
qakit-trio --bind 0.0.0.0:8002 --bind 0.0.0.0:8000
qakit-trio replay SESSION --url ws://HOST:PORT   # a recorded session as a regression test
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import trio

from qakit_trio.config import load_settings
from qakit_trio.config_values import parse_bind
from qakit_trio.errors import ConfigError
from qakit_trio.logs import setup_logging
from qakit_trio.server import BindError, run_server, tune_gc, tune_malloc, usable_binds


def _bind(value: str) -> str:
    try:
        return parse_bind(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        print(f"qakit-trio: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    setup_logging(settings.log_level)
    try:
        binds = usable_binds(
            args.bind or settings.binds, given=bool(args.bind) or settings.binds_given
        )
    except BindError as error:
        print(f"qakit-trio: {error}", file=sys.stderr)
        sys.exit(1)
    tune_gc()
    tune_malloc()
    trio.run(run_server, settings, binds)
