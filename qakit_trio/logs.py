"""Structured logs: one JSON object per line on stdout, in the Elastic Common Schema, for Kibana
(Filebeat reads stdout).

Modules log with their own `logging.getLogger(__name__)`, through `info(log, msg, **fields)`
(or `log.warning(msg, extra={"fields": {...}})`); lines about a connection carry `conn`,
`channel` and, when there is one, `request_id`. Those are our names: each is written under its
ECS name with its one type (`qakit.connection_id`, `event.id`, ...), as declared in
log_fields.py.

Three promises, because a class of trainees sends strange input on purpose:
- **Formatting never raises on content.** Fields that JSON cannot encode (a cycle, nesting too
  deep) are logged as their `repr`; a field longer than MAX_FIELD_CHARS is cut (a 0.9 MB
  `request_id` must not become 0.9 MB in five lines); text that is not valid Unicode (a lone
  surrogate) is written with backslash escapes instead of failing the whole batch.
- **Logging never blocks the event loop.** Lines are collected in memory and written in
  batches without blocking (`LineWriter`: pieces a pipe can take now, the rest kept, at most
  MAX_PENDING bytes). A stdout that does not drain (a stuck pipe) fills that; further batches
  are dropped and counted, and `/health` shows the count (`logs.dropped`). Nothing a client
  does waits for a log line.
- **Cheap enough for one line per frame**: no system call per line (a batch is handed off at
  FLUSH_BYTES, on a warning, and every FLUSH_INTERVAL seconds by `run_log_flusher`, a
  supervised service task), and `info()` skips the logging machinery when our handler is the
  only one (as set up by `setup_logging`); anywhere else (tests capturing logs, another setup)
  it is exactly `logger.info(msg, extra=...)`.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import trio

from qakit_trio.log_format import ACCESS_LOGGER, Fields, JsonFormatter, tail_renderer

__all__ = ["ACCESS_LOGGER", "Fields", "JsonFormatter"]  # (they live in log_format.py)

FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL = 0.1
# Bytes that may wait for a stdout that does not take them now. Why 4 MiB: a few seconds of
# the busiest benchmark's lines; a stdout stuck longer than that loses lines (counted) rather
# than growing memory or stopping the server.
MAX_PENDING = 4 * 1024 * 1024
PIPE_BUF = select.PIPE_BUF  # a write this small to a pipe that select() says is ready: no block
FLUSH_WAIT = 2.0  # flush() (at exit, in tests) waits this long at most for the stream


class LineWriter:
    """Writes batches of lines to the stream without ever blocking the event loop.

    A file descriptor that may block (a pipe, a socket, a terminal) is written in pieces of at
    most PIPE_BUF bytes ending a line, each once `select` says the descriptor can take it now:
    such a write never blocks nor mixes with another process's on the pipe (POSIX; --workers).
    What cannot be written now waits here (`pending`, at most MAX_PENDING bytes) and is retried
    at the next batch or tick of the flusher; a batch that does not fit is dropped and counted.
    A regular file never blocks: written whole. A stream without a descriptor (tests): directly.

    Why not a writer thread: measured on the W2 benchmark, handing batches to a thread cost
    about 15 % of the request rate (the GIL changing hands); one `select` per 4 KiB costs less
    than 1 %.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._fd: int | None = None
        self._whole = False  # a regular file: it never blocks, write in one go
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            pass
        else:
            stream.flush()  # whatever the stream buffered goes first
            self._fd = fd
            self._whole = stat.S_ISREG(os.fstat(fd).st_mode)
        self._pending = bytearray()
        self.written = 0  # bytes
        self.dropped = 0  # lines: a batch found no room, or the stream failed

    def put_nowait(self, text: str, lines: int) -> None:
        """Write a batch now, as far as the stream takes it without blocking."""
        data = text.encode("utf-8", "backslashreplace")  # a lone surrogate: escaped, not fatal
        if self._fd is None:
            self._write_stream(text, lines)
            return
        if len(self._pending) + len(data) > MAX_PENDING:
            self.dropped += lines
        else:
            self._pending += data
        self.write_pending(0.0)

    def write_pending(self, wait: float) -> bool:
        """Write what waits; wait up to `wait` s for the stream (0: never). True if all out."""
        fd = self._fd
        if fd is None:
            return True  # nothing is ever pending without a descriptor
        deadline = time.monotonic() + wait
        while self._pending:
            if not self._whole:
                left = deadline - time.monotonic()
                _, ready, _ = select.select([], [fd], [], max(0.0, left))
                if not ready:
                    return False
            cut = self._pending.rfind(b"\n", 0, PIPE_BUF) + 1 or PIPE_BUF  # a longer line: cut
            piece = self._pending if self._whole else self._pending[:cut]
            try:
                written = os.write(fd, piece)
            except BlockingIOError:
                return False
            except OSError:  # the reader is gone: nothing more will ever get out
                self.dropped += self._pending.count(b"\n")
                self._pending.clear()
                return True
            del self._pending[:written]
            self.written += written
        return True

    def _write_stream(self, text: str, lines: int) -> None:
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "utf-8"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        except OSError:
            self.dropped += lines
            return
        self.stream.flush()
        self.written += len(text)

    def waiting(self) -> int:
        return len(self._pending)


class JsonLinesHandler(logging.Handler):
    """Collects formatted lines; writes them out in batches (module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.writer = LineWriter(stream)
        self._lines: list[str] = []
        self._size = 0
        self._batch_lock = threading.Lock()  # lines may come from worker threads too
        self.json = JsonFormatter()
        self.setFormatter(self.json)

    def emit(self, record: logging.LogRecord) -> None:
        captured = _captured.get()
        if captured is not None:  # a replay twin's line (captured_lines): never written
            captured.append((record.name, record.getMessage(), getattr(record, "fields", {})))
            return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.append(line, urgent=record.levelno >= logging.WARNING)

    def append(self, line: str, *, urgent: bool = False) -> None:
        with self._batch_lock:
            self._lines.append(line)
            self._size += len(line) + 1
            full = self._size >= FLUSH_BYTES
        if urgent or full:
            self.hand_off()

    def hand_off(self) -> None:
        """Write what has gathered, as far as the stream takes it now. Never blocks."""
        with self._batch_lock:  # one writer at a time, whichever thread logged the line
            lines, self._lines, self._size = self._lines, [], 0
            if lines:
                self.writer.put_nowait("\n".join(lines) + "\n", len(lines))
            elif self.writer.waiting():
                self.writer.write_pending(0.0)

    def flush(self) -> None:
        """Write everything out, waiting for the stream at most FLUSH_WAIT s: at exit, in
        tests (the only place that may block)."""
        self.hand_off()
        if self.writer.waiting():
            self.writer.write_pending(FLUSH_WAIT)

    def health(self) -> dict[str, int]:
        """Bytes written, lines dropped, bytes waiting for the stream."""
        writer = self.writer
        return {
            "written_bytes": writer.written,
            "dropped": writer.dropped,
            "waiting_bytes": writer.waiting(),
        }


_direct: JsonLinesHandler | None = None  # set by setup_logging(): the root's only handler
# A context whose lines are kept instead of written (`captured_lines`): the classroom's replay
# twins, in-process stands whose lines must not reach the live stand's log.
Captured = list[tuple[str, str, dict[str, object]]]  # (logger, message, fields)
_captured: ContextVar[Captured | None] = ContextVar("qakit_captured_lines", default=None)


@contextmanager
def captured_lines() -> Iterator[Captured]:
    """For the block (and the tasks started in it), log lines are kept in the list it gives,
    never written: `info()`'s as (logger, message, fields), other records as their message."""
    lines: Captured = []
    token = _captured.set(lines)
    try:
        yield lines
    finally:
        _captured.reset(token)


def info(
    logger: logging.Logger, msg: str, about: dict[str, Any] | None = None, /, **fields: object
) -> str | None:
    """`logger.info(msg, extra={"fields": {**about, **fields}})`, fast (see module docstring):
    `about`, when it is a `Fields`, is encoded once for all its lines. Returns the JSON line
    when it went straight to our handler (the inspector shows event lines)."""
    captured = _captured.get()
    if captured is not None:  # (whatever the level: a replay twin compares its event lines)
        captured.append((logger.name, msg, {**about, **fields} if about else fields))
        return None
    if not logger.isEnabledFor(logging.INFO):
        return None
    direct = _direct
    root_handlers = logging.root.handlers
    if direct is None or len(root_handlers) != 1 or root_handlers[0] is not direct:
        logger.info(msg, extra={"fields": {**about, **fields} if about else fields})
        return None
    line = direct.json.render(time.time(), "INFO", logger.name, msg, fields, about)
    direct.append(line)
    return line


class Line:
    """A log line written for every frame (`frame out`, `frame in`, `event`): its logger, its
    message and its fields' keys, fixed. `line.info(about, *values)` writes what
    `info(logger, msg, about, **dict(zip(keys, values)))` writes (a None value: the field is
    absent), the fields through a function made for its keys (log_format.tail_renderer):
    ~2.5 µs against ~4.5 µs a `frame out` line (issue 30)."""

    __slots__ = ("_keys", "_keys_set", "_logger", "_msg", "_tail")

    def __init__(self, logger: logging.Logger, msg: str, keys: tuple[str, ...]) -> None:
        self._logger, self._msg, self._keys = logger, msg, keys
        self._keys_set = frozenset(keys)
        if len(self._keys_set) != len(keys):  # (a key twice would be written twice)
            raise ValueError(f"a log line's keys must differ: {keys}")
        self._tail = tail_renderer(keys)

    def info(self, about: dict[str, Any], /, *values: object) -> str | None:
        logger, direct = self._logger, _direct
        root_handlers = logging.root.handlers
        if (
            direct is None
            or type(about) is not Fields
            or _captured.get() is not None
            or len(root_handlers) != 1
            or root_handlers[0] is not direct
            or not logger.isEnabledFor(logging.INFO)
            or not self._keys_set.isdisjoint(about)  # (a key in both: the later one wins)
        ):  # (a replay twin's, a test's capture, another setup: the generic path)
            return info(logger, self._msg, about, **self._fields(values, about))
        json = direct.json
        preset = about.json_by(json)
        tail = self._tail(preset, *values)
        if not preset and tail:
            tail = tail[1:]  # (each field comes after a comma)
        created = time.time()
        line = json.render_tail(created, logger.name, self._msg, tail)
        if line is None:  # the first of its kind, or too long: the generic way
            fields = self._fields(values, about)
            line = json.render(created, "INFO", logger.name, self._msg, fields, about)
        direct.append(line)
        return line

    def _fields(self, values: tuple[object, ...], about: dict[str, Any]) -> dict[str, object]:
        """The line's fields, as `info`'s keywords: a None is left out, unless `about` has the
        key too (then it wins there, as a keyword None does in `info`: the field is absent)."""
        keys = self._keys
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None or k in about}


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every logger (ours and hypercorn's) to stdout as JSON lines."""
    global _direct
    # Fields our lines never show: skip computing them per record (the logging HOWTO's
    # "Optimization" section lists these switches).
    # (The process id stays: hypercorn's own text lines show it when hypercorn launches us.)
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no stack walk for the caller's file and line
    # aiokafka logs every failed connection attempt at ERROR during a Kafka outage; our Kafka
    # adapter already logs the outage once (a WARNING) and shows it in /health.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    _direct = JsonLinesHandler(stream or sys.stdout)
    root = logging.getLogger()
    root.handlers[:] = [_direct]
    root.setLevel(level)


def name_node(node: str) -> None:
    """Name this instance in every line from now on (`service.node.name`: QAKIT_INSTANCE_ID)."""
    if _direct is not None and _captured.get() is None:  # (not a replay twin's)
        _direct.json.name_node(node)


def hand_off_logs() -> None:
    """Hand buffered lines to the writer(s) without waiting."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, JsonLinesHandler):
            handler.hand_off()
        else:
            handler.flush()


def flush_logs() -> None:
    """Write out buffered lines and wait for them (bounded): at exit and in tests."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def health() -> dict[str, Any]:
    """For /health: lines written, dropped (a stuck stdout) and batches waiting."""
    return {} if _direct is None else _direct.health()


async def run_log_flusher(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve forever: hand buffered log lines to the writer every FLUSH_INTERVAL seconds."""
    task_status.started()
    if _captured.get() is not None:  # a replay twin's: its lines are kept, none to write
        await trio.sleep_forever()
    try:
        while True:
            await trio.sleep(FLUSH_INTERVAL)
            hand_off_logs()
    finally:
        hand_off_logs()  # synchronous and never blocking: safe while being cancelled
