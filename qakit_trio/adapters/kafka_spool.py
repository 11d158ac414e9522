"""A disk spool for Kafka records that do not fit in the publisher's memory inbox.

Without PostgreSQL, events (and broadcast messages) reach Kafka only through the publisher's
bounded inbox (kafka.py). During a long outage the inbox fills; with QAKIT_KAFKA_SPOOL_DIR set,
what does not fit is written here instead of being dropped, and sent, oldest first, once Kafka
is back. Records still in memory at shutdown are written here too, so a restart loses nothing.

On disk: a directory of segment files, `00000001.jsonl`, `00000002.jsonl`, ... one record per
line (`{"topic","key","value","event_id"}`, key and value as text: both are UTF-8 JSON/text we
made), plus `position`: the first unsent byte of the oldest segment. New records go to the
newest segment (a new one after SEGMENT_BYTES); the publisher reads from the oldest, and
deletes a segment once every record in it is acknowledged. A lock file keeps two processes out.

Bounded by bytes (QAKIT_KAFKA_SPOOL_BYTES): `append` refuses a record that would take the
unsent bytes past the limit (the publisher then drops it and counts it, as before).

Threads: every count and list here is changed on the event loop only (`append`, `next_read`,
`forget`); `read` and `commit` (file reads, a delete, the position file) run in a worker thread
the publisher starts, and touch only bytes `append` has finished writing, or segments it no
longer writes to. `append` is one `write` of one line into the page cache, and runs only
while Kafka is unreachable. At least once: a crash between Kafka's acknowledgement and
`commit` sends those records again (at most one segment).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from qakit_trio.adapters.kafka_records import Record
from qakit_trio.errors import SpoolError
from qakit_trio.wire import protocol

SEGMENT_BYTES = 1024 * 1024  # a new segment after this many bytes: the most a crash re-sends


@dataclass(frozen=True, slots=True)
class Batch:
    """Records read from the oldest segment, and where reading stopped."""

    records: list[Record]
    segment: int
    end: int  # byte offset after the last record read


def _line(record: Record) -> bytes:
    return (
        protocol.encode(
            {
                "topic": record.topic,
                "key": record.key.decode(),
                "value": record.value.decode(),
                "event_id": record.event_id,
            }
        ).encode()
        + b"\n"
    )


def _record(line: bytes) -> Record:
    data = json.loads(line)
    return Record(data["topic"], data["key"].encode(), data["value"].encode(), data["event_id"])


class DiskSpool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes
        self.pending_bytes = 0  # written and not yet acknowledged by Kafka
        self.pending_records = 0
        self._segments: list[int] = []  # numbers of the segment files, oldest first
        self._position = 0  # the first unsent byte of the oldest segment
        self._fd: int | None = None  # the newest segment, open for appending
        self._fd_size = 0
        self._next = 1  # the number of the next segment file
        self._lock: int | None = None
        self.appended = 0  # records written here by this process, in all
        self.refused = 0  # records refused because the spool was full (max_bytes)
        self.skipped = 0  # lines that could not be read back (torn by a crash, or damaged)

    def open(self) -> None:
        """Take the directory (creating it), and count what an earlier run left unsent."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpoolError(f"{self.directory} is used by another qakit-trio process") from None
        except OSError as error:
            raise SpoolError(f"{self.directory}: {error.strerror}") from None
        self._segments = sorted(
            int(p.stem) for p in self.directory.glob("*.jsonl") if p.stem.isdigit()
        )
        self._next = (self._segments[-1] + 1) if self._segments else 1
        position = self.directory / "position"
        text = position.read_text().split() if position.exists() else []
        if len(text) == 2 and self._segments and text[0] == str(self._segments[0]):
            self._position = int(text[1])
        for number in self._segments:
            data = self._path(number).read_bytes()
            if number == self._segments[0]:
                data = data[self._position :]
            self.pending_bytes += len(data)
            self.pending_records += data.count(b"\n")

    def close(self) -> None:
        for fd in (self._fd, self._lock):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock = None

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:08d}.jsonl"

    # --- the event loop: appending --------------------------------------------------------

    def append(self, record: Record) -> bool:
        """Write one record at the end; False (nothing written) if it would pass max_bytes."""
        line = _line(record)
        if self.pending_bytes + len(line) > self.max_bytes:
            self.refused += 1
            return False
        if self._fd is None or self._fd_size >= SEGMENT_BYTES:
            self._roll()
        assert self._fd is not None
        os.write(self._fd, line)
        self._fd_size += len(line)
        self.pending_bytes += len(line)
        self.pending_records += 1
        self.appended += 1
        return True

    def _roll(self) -> None:
        """Start a new newest segment (the old one is only read from now on)."""
        if self._fd is not None:
            os.close(self._fd)
        number, self._next = self._next, self._next + 1
        self._fd = os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fd_size = 0
        self._segments.append(number)

    # --- the publisher's worker thread: reading and committing ---------------------------

    def read(self, max_records: int, segment: int, start: int, written: int | None) -> Batch:
        """Up to `max_records` unsent records of `segment` from byte `start` (see `next_read`).
        A torn line (a crash in the middle of a write) or one that does not parse is skipped
        and counted in `skipped`."""
        with self._path(segment).open("rb") as file:
            file.seek(start)
            data = file.read() if written is None else file.read(written - start)
        records: list[Record] = []
        end = start
        for line in data.splitlines(keepends=True):
            if len(records) == max_records:
                break
            end += len(line)
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("torn line")
                records.append(_record(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                self.skipped += 1
        return Batch(records, segment, end)

    def commit(self, batch: Batch, finished: bool) -> None:
        """Files, after `forget`: delete a finished segment, write down the position."""
        if finished:
            self._path(batch.segment).unlink()
        position = f"{batch.segment + 1} 0" if finished else f"{batch.segment} {batch.end}"
        temporary = self.directory / "position.tmp"
        temporary.write_text(position + "\n")
        temporary.replace(self.directory / "position")

    # --- the event loop: what to read next, and forgetting what Kafka has ---------------

    def next_read(self) -> tuple[int, int, int | None] | None:
        """(segment, start, written) for `read`, or None when nothing waits. `written` is how
        many bytes of the segment are complete when `append` still writes to it."""
        if not self._segments:
            return None
        segment = self._segments[0]
        writing = self._fd is not None and segment == self._segments[-1]
        return segment, self._position, self._fd_size if writing else None

    def forget(self, batch: Batch) -> bool:
        """Kafka acknowledged `batch`: take it off the counts. True when that finished its
        segment (then `append` no longer writes to it, and `commit` deletes it)."""
        self.pending_bytes -= batch.end - self._position
        self.pending_records -= len(batch.records)
        writing = self._fd is not None and batch.segment == self._segments[-1]
        size = self._fd_size if writing else self._path(batch.segment).stat().st_size
        if batch.end < size:
            self._position = batch.end
            return False
        if writing:  # the next record starts a new segment
            assert self._fd is not None
            os.close(self._fd)
            self._fd = None
        self._segments.pop(0)
        self._position = 0
        return True

    def health(self) -> dict[str, int | str]:
        return {
            "directory": str(self.directory),
            "pending_bytes": self.pending_bytes,
            "pending_records": self.pending_records,
            "max_bytes": self.max_bytes,
            "appended": self.appended,
            "refused": self.refused,
            "skipped": self.skipped,
        }
