"""`qakit-trio replay SESSION --url ws://HOST:PORT`: a recorded session as a regression test.

qakit-trio replay session.har --url ws://127.0.0.1:8002
qakit-trio replay session.jsonl --url ws://127.0.0.1:8002 --pace --ignore status
qakit-trio replay session.har --seed 42 --exact     # a deterministic stand of its own

Prints "OK n connections, m frames" or the differences; exits 0 (the same), 1 (a
difference) or 2 (a usage or file error, or the stand unreachable). docs/replay.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import trio

from qakit_trio.app import create_app
from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.replayer.plan import plan
from qakit_trio.replayer.runner import GRACE, Options, ReplayError, replay
from qakit_trio.server import serve
from qakit_trio.wire.session_diff import Report
from qakit_trio.wire.session_jsonl import read_session
from qakit_trio.wire.session_match import DEFAULT_IGNORED, Rules
from qakit_trio.wire.sessions import Session, SessionFileError

SAME, DIFFERENT, USAGE = 0, 1, 2
TIMEOUT = 60.0  # seconds for a replay, unless --timeout (with --pace: and the recording's)


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="qakit-trio replay",
        description="Send a recorded session's client frames again and compare the replies "
        "frame by frame (docs/replay.md). Exit 0: the same; 1: a difference; 2: a usage or "
        "file error.",
    )
    command.add_argument("session", help="a HAR (.har) or JSON-lines (.jsonl) file")
    command.add_argument(
        "--url",
        metavar="ws://HOST:PORT",
        help="the stand to replay against (each connection keeps its path and query)",
    )
    command.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="instead of --url: replay on a fresh stand of its own, QAKIT_DETERMINISTIC=N",
    )
    command.add_argument(
        "--pace", action="store_true", help="keep the recorded gaps between frames"
    )
    command.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD",
        help="a field to leave out of the comparison, by name (any depth) or path "
        f"(data.status); repeat for more. Left out already: {', '.join(DEFAULT_IGNORED)}; "
        "server request ids, offsets and order ids are compared by rules (docs/replay.md)",
    )
    command.add_argument(
        "--exact", action="store_true", help="byte-identical replies, nothing left out"
    )
    command.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"for the whole replay ({TIMEOUT:g}; with --pace, plus the recording's length)",
    )
    command.add_argument(
        "--grace",
        type=float,
        default=GRACE,
        metavar="S",
        help=f"give up on a missing reply after the recorded wait plus S seconds ({GRACE:g})",
    )
    return command


def main(argv: Sequence[str]) -> int:
    """Run the command; the exit code."""
    command = parser()
    args = command.parse_args(argv)
    problem = _usage_problem(args)
    if problem:
        command.print_usage(sys.stderr)
        print(f"qakit-trio replay: error: {problem}", file=sys.stderr)
        return USAGE
    try:
        text = Path(args.session).read_text(encoding="utf-8")
        session = read_session(text, args.session)
    except (OSError, UnicodeDecodeError, SessionFileError) as error:
        print(f"qakit-trio replay: {error}", file=sys.stderr)
        return USAGE
    rules = Rules.byte_for_byte() if args.exact else Rules.with_ignored(tuple(args.ignore))
    timeout = args.timeout
    if timeout is None:
        steps = plan(session).steps
        timeout = TIMEOUT + (steps[-1].at if args.pace and steps else 0.0)
    options = Options(
        url=args.url or "", rules=rules, pace=args.pace, grace=args.grace, timeout=timeout
    )
    try:
        report = trio.run(_run, session, options, args.seed)
    except (ReplayError, ConfigError) as error:
        print(f"qakit-trio replay: {error}", file=sys.stderr)
        return USAGE
    except Exception as error:  # a crash of the replay is not a difference of the stand's
        print(f"qakit-trio replay: the replay failed: {error!r}", file=sys.stderr)
        return USAGE
    print(report.render())
    return SAME if report.ok else DIFFERENT


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.url is None and args.seed is None:
        return "give --url ws://HOST:PORT (or --seed N for a stand of its own)"
    if args.url is not None and args.seed is not None:
        return "--seed starts a stand of its own: give --url or --seed, not both"
    if args.url is not None and not args.url.startswith(("ws://", "wss://")):
        return f"--url must be ws://HOST:PORT or wss://HOST:PORT, not {args.url!r}"
    if args.exact and args.ignore:
        return "--exact compares every byte: it takes no --ignore"
    if (args.timeout is not None and args.timeout <= 0) or args.grace < 0:
        return "--timeout must be above 0 and --grace not below"
    return None


async def _run(session: Session, options: Options, seed: int | None) -> Report:
    if seed is None:
        return await replay(session, options)
    return await replay_on_own_stand(session, options, seed)


async def replay_on_own_stand(session: Session, options: Options, seed: int) -> Report:
    """Replay against a stand started here: QAKIT_DETERMINISTIC=seed, orders in memory, no
    Kafka, the rest of the environment's settings (QAKIT_BUGS included), on a free port."""
    settings = replace(
        load_settings(os.environ),
        deterministic=seed,
        database_url=None,
        kafka_bootstrap=None,
        kafka_spool_dir=None,
    )
    app = create_app(settings)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, settings, ["127.0.0.1:0"], stop.wait, app)
        try:
            return await replay(session, replace(options, url=urls[0].replace("http", "ws", 1)))
        finally:
            stop.set()
