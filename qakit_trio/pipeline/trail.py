"""An event's trail: its log line and its Kafka record, side by side (GET /debug/events/ID).

What a trainee checks by hand in Kibana and in Kafka, shown by the inspector when an event is
clicked: the same `event_id` in the frame, in the JSON log line and in the Kafka record.

- Log lines: `EventSink.record` (pipeline/events.py) hands each event's JSON line, as it was
  written to stdout, to `EventTrail.saw`; the last KEEP are kept (older ones fall out).
- Kafka records: the Kafka adapter keeps the last records Kafka acknowledged, with their
  partition and offset (adapters/kafka.py, `acknowledged`); they are looked up, not copied.
A lab defect that leaves the id out of the line or the record (lab/bugs.py) shows here as a
missing line or record: that is the bug to find.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from qakit_trio.adapters.kafka_records import Record
from qakit_trio.logs import JsonFormatter

KEEP = 1000  # event lines kept: a class's last minutes at the pace people click

_formatter = JsonFormatter()  # lines that did not go through our handler (tests, hypercorn)


class EventTrail:
    def __init__(self, keep: int = KEEP) -> None:
        self._lines: deque[tuple[str, str]] = deque(maxlen=keep)  # (event_id, line)

    def saw(
        self, event_id: str, line: str | None, logger: str, msg: str, fields: dict[str, object]
    ) -> None:
        """Keep the line of one event (rendered here if the logger did not hand it over)."""
        if line is None:
            line = _formatter.render(time.time(), "INFO", logger, msg, fields)
        self._lines.append((event_id, line))

    def lines(self, event_id: str) -> list[str]:
        return [line for seen, line in self._lines if seen == event_id]


def trail(
    event_id: str,
    events: EventTrail,
    kafka_state: str,
    acknowledged: Iterable[tuple[Record, int, int]],
) -> dict[str, Any]:
    records = [
        {
            "topic": record.topic,
            "partition": partition,
            "offset": offset,
            "key": record.key.decode("utf-8", "replace"),
            "value": record.value.decode("utf-8", "replace"),
        }
        for record, partition, offset in acknowledged
        if record.event_id == event_id
    ]
    return {
        "event_id": event_id,
        "log_lines": events.lines(event_id),
        "kafka": {"state": kafka_state, "records": records},
    }
