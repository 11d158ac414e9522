"""What the suite is doing while it is slow: a line on the real terminal before each install,
download, build or start that can take more than a moment ("downloading Kafka 3.9.1 jars with
Maven (≈ 46 MB, once)…"), and a one-line summary at the end of the run of what it installed or
downloaded, and where (tests/conftest.py's pytest_terminal_summary calls summary()).

Under pytest a line goes through pytest's terminal reporter with output capture suspended for
that moment, so it shows without -s, in a terminal and in a CI log alike; outside pytest (the
benchmarks use the same support modules) it goes to stderr. The figures in the lines were
measured: docs/running-the-tests.md says how and when.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

PREFIX = "qakit-trio tests:"


@dataclass
class Step:
    """One announced step. `where`: where an install or download put things (None: a start,
    a build or a run, which leaves nothing behind); `seconds`: how long it took, when it was
    announced with `with`."""

    what: str
    where: str | None = None
    seconds: float | None = None
    _started: float = 0.0

    def __enter__(self) -> Step:
        self._started = time.monotonic()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.seconds = time.monotonic() - self._started
        if kind is None and self.where is not None:
            _write(f"{PREFIX} … done in {self.seconds:.0f} s: {self.where}")

    @property
    def name(self) -> str:
        """What it was, without the estimate in brackets."""
        return self.what.split(" (", 1)[0]


STEPS: list[Step] = []  # every step announced in this process, in order
_CONFIG: list[pytest.Config] = []  # the running pytest's config, once attach() has been called
_LOCK = threading.Lock()  # a step may be announced from a worker thread (trio.to_thread)


def attach(config: pytest.Config) -> None:
    """Write through this pytest's terminal (tests/conftest.py's pytest_configure)."""
    _CONFIG[:] = [config]


def home(path: Path | str) -> str:
    """A path as a reader writes it: ~/.cache/... rather than /root/.cache/..."""
    text, user = str(path), str(Path.home())
    return "~" + text[len(user) :] if text == user or text.startswith(user + "/") else text


def announce(what: str, where: Path | str | None = None) -> Step:
    """Say, now and on the terminal, what slow step starts; record it for the summary.
    `where`: where an install or download puts things. Use it with `with` to time the step."""
    step = Step(what, None if where is None else home(where))
    with _LOCK:
        STEPS.append(step)
    _write(f"{PREFIX} {what}…")
    return step


def note(line: str) -> None:
    """Say something on the terminal without recording a step (a part of one)."""
    _write(f"{PREFIX} {line}")


def summary() -> str:
    """One line: what this run installed or downloaded and where, and what it started."""
    installed = [
        f"{step.name}{_took(step)} → {step.where}" for step in STEPS if step.where is not None
    ]
    counts: dict[str, int] = {}
    for step in STEPS:
        if step.where is None:
            counts[step.name] = counts.get(step.name, 0) + 1
    others = [name + (f" ({count} times)" if count > 1 else "") for name, count in counts.items()]
    line = (
        f"{PREFIX} installed or downloaded: " + "; ".join(installed)
        if installed
        else f"{PREFIX} nothing installed or downloaded (every cache was warm)"
    )
    return line + (f"; slow steps: {', '.join(others)}" if others else "")


def _took(step: Step) -> str:
    return "" if step.seconds is None else f" ({step.seconds:.0f} s)"


def _write(line: str) -> None:
    with _LOCK:
        config = _CONFIG[0] if _CONFIG else None
        reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
        if config is None or reporter is None:
            print(line, file=sys.__stderr__, flush=True)
            return
        capture = config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            reporter.write_line(line)
            reporter.flush()
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
            reporter.flush()
