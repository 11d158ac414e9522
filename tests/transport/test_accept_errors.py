"""trio's failed accepts at the descriptor limit, counted (transport/accept_errors.py), on
trio's virtual clock: trio's accept loop is played by logging what it logs."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import trio
import trio.testing

from qakit_trio.transport.accept_errors import QUIET_AFTER, REPORT_EVERY, AcceptErrors

TRIO_ACCEPT = logging.getLogger("trio.serve_listeners")


async def fail_accepts(count: int) -> None:
    """What trio.serve_listeners does at the limit: log an ERROR, wait 0.1 s, try again."""
    for _ in range(count):
        try:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        except OSError:
            TRIO_ACCEPT.error(
                "accept returned %s (%s); retrying in %s seconds",
                "EMFILE",
                os.strerror(errno.EMFILE),
                0.1,
                exc_info=True,
            )
        await trio.sleep(0.1)


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [(record.name, record.levelname, record.getMessage()) for record in caplog.records]


async def test_each_episode_is_one_warning_with_its_count(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        await nursery.start(AcceptErrors().run)
        await fail_accepts(30)
        await trio.sleep(QUIET_AFTER + 1)
        await fail_accepts(3)  # a second episode
        await trio.sleep(QUIET_AFTER + 1)
        nursery.cancel_scope.cancel()
    seen = lines(caplog)
    assert not [line for line in seen if line[0] == "trio.serve_listeners"]
    warnings = [message for _, level, message in seen if level == "WARNING"]
    assert len(warnings) == 2
    assert warnings[0].startswith("accepting connections failed 30 times over 3.0 s (EMFILE")
    assert warnings[1].startswith("accepting connections failed 3 times over 0.3 s (EMFILE")
    assert [level for _, level, _ in seen] == ["INFO", "WARNING", "INFO", "WARNING"]


async def test_a_long_episode_is_reported_while_it_lasts_and_at_shutdown(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        await nursery.start(AcceptErrors().run)
        await fail_accepts(int(REPORT_EVERY * 10) + 50)  # 65 s at the limit
        nursery.cancel_scope.cancel()  # the stand stops while still at it
    warnings = [message for _, level, message in lines(caplog) if level == "WARNING"]
    assert len(warnings) == 2
    assert "still at it" in warnings[0]
    counts = [int(message.split(" failed ")[1].split()[0]) for message in warnings]
    assert sum(counts) == int(REPORT_EVERY * 10) + 50  # every failure counted once


async def test_other_lines_of_trios_accept_loop_pass_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(AcceptErrors().run)
        TRIO_ACCEPT.error("something else")
        nursery.cancel_scope.cancel()
    assert lines(caplog) == [("trio.serve_listeners", "ERROR", "something else")]
