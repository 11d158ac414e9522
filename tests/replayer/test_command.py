"""`qakit-trio replay`: its exit codes (0 the same, 1 a difference, 2 a usage or file error)
and what it prints, against a live stand, and with --seed against a deterministic stand of
its own. The command runs in a worker thread (it runs trio of its own), the stand in the
test's loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from qakit_trio import cli
from qakit_trio.replayer.command import main
from qakit_trio.wire import stamps
from qakit_trio.wire.session_har import write_har
from qakit_trio.wire.session_jsonl import write_jsonl

from ..support.helpers import running_server
from .test_runner import record


async def run_cli(*args: str) -> int:
    """`qakit-trio ARGS` (cli.main, which exits), in a worker thread: the exit code."""
    with pytest.raises(SystemExit) as exited:
        await trio.to_thread.run_sync(cli.main, list(args))
    code = exited.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "the following arguments are required: session"),
        (["s.har"], "give --url ws://HOST:PORT (or --seed N for a stand of its own)"),
        (["s.har", "--url", "ws://h:1", "--seed", "1"], "give --url or --seed, not both"),
        (["s.har", "--url", "http://h:1"], "--url must be ws://HOST:PORT or wss://HOST:PORT"),
        (["s.har", "--url", "ws://h:1", "--exact", "--ignore", "ts"], "it takes no --ignore"),
        (["s.har", "--url", "ws://h:1", "--timeout", "0"], "--timeout must be above 0"),
        (["s.har", "--url", "ws://h:1", "--pace", "--ignore"], "expected one argument"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(args)
    except SystemExit as exited:  # argparse's own
        code = int(exited.code or 0)
    assert code == 2
    assert error in capsys.readouterr().err


def test_a_file_that_cannot_be_read_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "none.har"), "--url", "ws://h:1"]) == 2
    assert "No such file or directory" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conn": 1, "url": "ws://h:1/ws", "direction": "send"}\n')
    assert main([str(bad), "--url", "ws://h:1"]) == 2
    assert capsys.readouterr().err == (f"qakit-trio replay: {bad}: line 1: data must be a string\n")


async def test_the_same_stand_exits_0_a_buggy_one_1_none_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har = tmp_path / "session.har"
    with trio.fail_after(60):
        async with running_server() as server:
            har.write_text(write_har(await record(server.ws)))
            assert await run_cli("replay", str(har), "--url", server.ws) == 0
            assert capsys.readouterr().out == "OK 2 connections, 36 frames\n"
            port = server.port
        async with running_server(bugs=("event_wrong_request_id",)) as buggy:
            assert await run_cli("replay", str(har), "--url", buggy.ws, "--pace") == 1
            out = capsys.readouterr().out
            assert out.startswith(
                "DIFFERENT: 1 of 2 connections, 5 differences\n"
                "connection 1 (/ws?channel=replay-room)\n"
            )
            assert '  reply 8: changed: request_id: expected "srv-' in out
            ignoring = ("--ignore", "request_id")
            assert await run_cli("replay", str(har), "--url", buggy.ws, *ignoring) == 0
        assert await run_cli("replay", str(har), "--url", f"ws://127.0.0.1:{port}") == 2
        assert "qakit-trio replay: cannot connect to ws://127.0.0.1:" in capsys.readouterr().err


async def test_seed_replays_on_a_deterministic_stand_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded on a fresh stand with QAKIT_DETERMINISTIC=7, replayed byte for byte by
    `--seed 7 --exact`; with QAKIT_BUGS in the environment, the stand of its own has it."""
    jsonl = tmp_path / "session.jsonl"
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "QAKIT_BUGS"):
        monkeypatch.delenv(name, raising=False)
    try:
        with trio.fail_after(60):
            async with running_server(deterministic=7) as server:
                jsonl.write_text(write_jsonl(await record(server.ws)))
            assert await run_cli("replay", str(jsonl), "--seed", "7", "--exact") == 0
            assert capsys.readouterr().out == "OK 2 connections, 36 frames\n"
            assert await run_cli("replay", str(jsonl), "--seed", "8", "--exact") == 1
            assert "connection_id: expected" in capsys.readouterr().out
            monkeypatch.setenv("QAKIT_BUGS", "duplicate_event")
            assert await run_cli("replay", str(jsonl), "--seed", "7") == 1
            assert "unexpected" in capsys.readouterr().out
    finally:
        stamps.set_deterministic(None)


async def test_python_m_qakit_trio_replay_is_the_command() -> None:
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-m", "qakit_trio", "replay", "--help"],
            capture_stdout=True,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert done.returncode == 0
    assert done.stdout.decode().startswith("usage: qakit-trio replay [-h] [--url ws://HOST:PORT]")
