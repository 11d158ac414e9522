"""Structured logs: one JSON object per line on stdout, for Kibana (Filebeat reads stdout).

Modules log with their own `logging.getLogger(__name__)` and put the line's fields in
`extra={"fields": {...}}`; lines about a connection carry `conn`, `channel` and, when there is
one, `request_id`.

Cheap enough for one line per frame: the handler does not write (a system call) per line, it
collects lines and writes them in one go when FLUSH_BYTES have gathered, when a warning or
error comes, every FLUSH_INTERVAL seconds (`run_log_flusher`, a service-nursery task) and at
exit. A line therefore reaches stdout at most FLUSH_INTERVAL late.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

import trio

FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL = 0.1


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._encoder = json.JSONEncoder(ensure_ascii=False, default=str)
        self._second = -1
        self._second_text = ""

    def _ts(self, created: float) -> str:
        """UTC ISO-8601 with microseconds, like protocol.utc_ts(); the part up to the second is
        formatted once per second."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1e6):06d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": self._ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(line)


class JsonLinesHandler(logging.Handler):
    """Buffers formatted lines; writes them out in batches (see module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: list[str] = []
        self._size = 0
        self._write_lock = threading.Lock()  # flush() may come from another thread at exit
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= FLUSH_BYTES or record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            if not self._lines:
                return
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self._size = 0
            self.stream.write(text)
            self.stream.flush()


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every logger (ours and hypercorn's) to stdout as JSON lines."""
    # Fields our lines never show: skip computing them per record (the logging HOWTO's
    # "Optimization" section lists these switches).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no stack walk for the caller's file and line
    root = logging.getLogger()
    root.handlers[:] = [JsonLinesHandler(stream or sys.stdout)]
    root.setLevel(level)


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


async def run_log_flusher(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve forever: write out buffered log lines every FLUSH_INTERVAL seconds."""
    task_status.started()
    try:
        while True:
            await trio.sleep(FLUSH_INTERVAL)
            flush_logs()
    finally:
        flush_logs()  # synchronous: safe while being cancelled
