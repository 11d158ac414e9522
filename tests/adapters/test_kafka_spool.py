"""The Kafka disk spool on its own: files in a temporary directory, no event loop, no broker
(the adapter with a real broker: tests/adapters/test_kafka.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qakit_trio.adapters import kafka_spool
from qakit_trio.adapters.kafka_records import Record
from qakit_trio.adapters.kafka_spool import DiskSpool
from qakit_trio.errors import SpoolError


def record(n: int) -> Record:
    return Record(
        "topic",
        b"key",
        f'{{"n":{n},"text":"\u043f\u0440\u0438\u0432\u0435\u0442"}}'.encode(),
        f"e-{n}",
    )


def drain(spool: DiskSpool, max_records: int = 500) -> list[Record]:
    """What the adapter does, with Kafka acknowledging everything at once."""
    sent: list[Record] = []
    while (where := spool.next_read()) is not None:
        batch = spool.read(max_records, *where)
        sent += batch.records
        spool.commit(batch, spool.forget(batch))
        if not batch.records and where == spool.next_read():
            break  # nothing more written yet
    return sent


@pytest.fixture
def spool(tmp_path: Path) -> DiskSpool:
    opened = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    opened.open()
    return opened


def test_records_come_back_in_order_and_the_files_go(spool: DiskSpool) -> None:
    for n in range(10):
        assert spool.append(record(n))
    assert spool.pending_records == 10
    assert drain(spool, max_records=3) == [record(n) for n in range(10)]
    assert (spool.pending_records, spool.pending_bytes) == (0, 0)
    assert not list(spool.directory.glob("*.jsonl"))
    spool.append(record(10))  # and it goes on after being empty
    assert drain(spool) == [record(10)]


def test_segments_roll_and_each_is_deleted_once_sent(
    spool: DiskSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_spool, "SEGMENT_BYTES", 200)
    for n in range(20):
        spool.append(record(n))
    assert len(list(spool.directory.glob("*.jsonl"))) > 3
    assert drain(spool, max_records=4) == [record(n) for n in range(20)]
    assert not list(spool.directory.glob("*.jsonl"))


def test_the_limit_is_in_unsent_bytes(tmp_path: Path) -> None:
    line = len(kafka_spool._line(record(0)))
    spool = DiskSpool(tmp_path, max_bytes=3 * line)
    spool.open()
    assert [spool.append(record(n)) for n in range(5)] == [True, True, True, False, False]
    assert spool.refused == 2
    assert drain(spool, max_records=1)[0] == record(0)
    assert spool.append(record(9))  # room again once sent


def test_a_restart_resumes_after_what_was_acknowledged(tmp_path: Path) -> None:
    first = DiskSpool(tmp_path, max_bytes=1 << 20)
    first.open()
    for n in range(6):
        first.append(record(n))
    where = first.next_read()
    assert where is not None
    batch = first.read(2, *where)
    first.commit(batch, first.forget(batch))  # 0 and 1 are in Kafka
    first.close()
    second = DiskSpool(tmp_path, max_bytes=1 << 20)
    second.open()
    assert second.pending_records == 4
    second.append(record(6))  # a new segment after the old one
    assert drain(second) == [record(n) for n in range(2, 7)]


def test_a_torn_or_damaged_line_is_skipped_and_counted(tmp_path: Path) -> None:
    first = DiskSpool(tmp_path, max_bytes=1 << 20)
    first.open()
    first.append(record(0))
    first.close()
    segment = next(tmp_path.glob("*.jsonl"))
    with segment.open("ab") as file:
        file.write(b'{"not a record"}\n' + kafka_spool._line(record(1)) + b'{"topic":"to')
    second = DiskSpool(tmp_path, max_bytes=1 << 20)
    second.open()
    assert drain(second) == [record(0), record(1)]
    assert second.skipped == 2
    assert not list(tmp_path.glob("*.jsonl"))


def test_one_directory_one_process(spool: DiskSpool, tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="used by another qakit-trio process"):
        DiskSpool(spool.directory, max_bytes=1 << 20).open()
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="file"):
        DiskSpool(tmp_path / "file" / "spool", max_bytes=1 << 20).open()
