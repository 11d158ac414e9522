"""Structured logs: one JSON object per line on stdout, for Kibana (Filebeat reads stdout).

Modules log with their own `logging.getLogger(__name__)`, through `info(log, msg, **fields)`
(or `log.warning(msg, extra={"fields": {...}})`); lines about a connection carry `conn`,
`channel` and, when there is one, `request_id`.

Cheap enough for one line per frame:
- the handler does not write (a system call) per line: it collects lines and writes them in
  one go when FLUSH_BYTES have gathered, when a warning or error comes, every FLUSH_INTERVAL
  seconds (`run_log_flusher`, a service-nursery task) and at exit; a line reaches stdout at
  most FLUSH_INTERVAL late;
- `info()` hands an INFO line straight to that handler when it is the only one (as set up by
  `setup_logging`), skipping the LogRecord and the logging machinery's calls; anywhere else
  (tests capturing logs, another setup) it is exactly `logger.info(msg, extra=...)`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import TextIO

import trio

from .protocol import iso_utc

FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL = 0.1


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._encoder = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))
        self._heads: dict[tuple[str, str, str], str] = {}  # the JSON of level, logger, msg

    def render(self, created: float, level: str, logger: str, msg: str,
               fields: dict[str, object] | None) -> str:
        """{"ts", "level", "logger", "msg", **fields} as JSON; the middle part is encoded once
        per (level, logger, msg): a few hundred distinct lines, each written thousands of times."""
        key = (level, logger, msg)
        head = self._heads.get(key)
        if head is None:
            head = self._encoder.encode({"level": level, "logger": logger, "msg": msg})[1:-1]
            if len(self._heads) < 1024:  # access-log lines differ every time: do not grow
                self._heads[key] = head
        tail = self._encoder.encode(fields)[1:-1] if fields else ""
        ts = iso_utc(created)
        return f'{{"ts":"{ts}",{head}{"," if tail else ""}{tail}}}'


    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if record.exc_info:
            fields = {**(fields or {}), "exc": self.formatException(record.exc_info)}
        return self.render(record.created, record.levelname, record.name, record.getMessage(),
                           fields)


class JsonLinesHandler(logging.Handler):
    """Buffers formatted lines; writes them out in batches (see module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: list[str] = []
        self._size = 0
        self._write_lock = threading.Lock()  # flush() may come from another thread at exit
        self.json = JsonFormatter()
        self.setFormatter(self.json)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.append(line, urgent=record.levelno >= logging.WARNING)

    def append(self, line: str, *, urgent: bool = False) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        if urgent or self._size >= FLUSH_BYTES:
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


_direct: JsonLinesHandler | None = None  # set by setup_logging(): the root's only handler


def info(logger: logging.Logger, msg: str, /, **fields: object) -> None:
    """`logger.info(msg, extra={"fields": fields})`, fast (see module docstring)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    direct = _direct
    root_handlers = logging.root.handlers
    if direct is None or len(root_handlers) != 1 or root_handlers[0] is not direct:
        logger.info(msg, extra={"fields": fields})
        return
    direct.append(direct.json.render(time.time(), "INFO", logger.name, msg, fields))


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every logger (ours and hypercorn's) to stdout as JSON lines."""
    global _direct
    # Fields our lines never show: skip computing them per record (the logging HOWTO's
    # "Optimization" section lists these switches).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no stack walk for the caller's file and line
    _direct = JsonLinesHandler(stream or sys.stdout)
    root = logging.getLogger()
    root.handlers[:] = [_direct]
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
