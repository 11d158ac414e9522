"""Failed accepts at the descriptor limit: one WARNING per episode, with a count.

hypercorn accepts connections through `trio.serve_listeners`, which answers EMFILE (too many
open files), ENFILE, ENOMEM and ENOBUFS by waiting 0.1 s and trying again, and logs every try
as an ERROR with a traceback on the `trio.serve_listeners` logger: ten lines a second per
address for as long as the stand stays at its limit. That is an expected situation for a
server (new connections wait in the listen backlog and are taken as soon as a descriptor is
free), not an error. `AcceptErrors` filters those lines out and counts them; its task logs an
INFO line when an episode begins and one WARNING once it is over (no failed accept for
QUIET_AFTER), saying how many accepts failed, why, and for how long. An episode that lasts is
reported every REPORT_EVERY while it does, so a stand stuck at its limit is never silent.
"""

from __future__ import annotations

import logging
import resource

import trio

from qakit_trio import logs

log = logging.getLogger(__name__)

TRIO_LOGGER = "trio.serve_listeners"
QUIET_AFTER = 1.0  # seconds without a failed accept: the episode is over (trio retries at 0.1 s)
REPORT_EVERY = 60.0  # seconds: a long episode is reported this often while it lasts


class AcceptErrors(logging.Filter):
    """A filter on trio's accept-loop logger (installed by `run`) and the task reporting."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = 0  # accepts failed in this episode (so far)
        self._why: set[str] = set()  # their errno names (EMFILE, ...)
        self._first = self._last = 0.0
        self._began = trio.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("accept returned"):
            return True  # anything else trio's accept loop may say is shown as it is
        try:
            now = trio.current_time()
        except RuntimeError:  # not from trio's own task: let it through
            return True
        if not self.failed:
            self._first = now
            self._began.set()
        self.failed += 1
        self._last = now
        if isinstance(record.args, tuple) and record.args:
            self._why.add(str(record.args[0]))
        return False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Count trio's accept errors until cancelled: a line when an episode begins, the
        WARNING with the count when it is over (and every REPORT_EVERY while it lasts)."""
        logger = logging.getLogger(TRIO_LOGGER)
        logger.addFilter(self)
        try:
            task_status.started()
            while True:
                await self._began.wait()
                logs.info(
                    log,
                    "at the descriptor limit: accepting connections fails; new "
                    "connections wait in the listen backlog",
                    why=self._why_text(),
                )
                while not await self._episode_over():
                    self._report(over=False)
                self._report(over=True)
        finally:
            logger.removeFilter(self)
            self._report(over=True)  # an episode the shutdown interrupted

    async def _episode_over(self) -> bool:
        """Wait until no accept has failed for QUIET_AFTER (True), or until this part of the
        episode has lasted REPORT_EVERY (False)."""
        while True:
            quiet_at, report_at = self._last + QUIET_AFTER, self._first + REPORT_EVERY
            now = trio.current_time()
            if now >= quiet_at:
                return True
            if now >= report_at:
                return False
            await trio.sleep_until(min(quiet_at, report_at))

    def _why_text(self) -> str:
        return ", ".join(sorted(self._why)) or "?"

    def _report(self, *, over: bool) -> None:
        failed, why = self.failed, self._why_text()
        seconds = round(self._last - self._first + 0.1, 1)  # the last retry's wait included
        self.failed = 0
        self._why.clear()
        if over:
            self._began = trio.Event()
        else:
            self._first = self._last = trio.current_time()
        if not failed:  # a long episode, reported, then over before another failure
            return
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        state = (
            "new connections waited in the listen backlog meanwhile"
            if over
            else "still at it; new connections wait in the listen backlog"
        )
        log.warning(
            f"accepting connections failed {failed} times over {seconds} s ({why}: "
            f"at the descriptor limit, {limit} open files); {state}",
            extra={"fields": {"why": why, "pause_s": seconds}},
        )
