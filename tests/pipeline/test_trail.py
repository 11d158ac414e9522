"""An event's trail: its log line and its Kafka record, found by event_id."""

from __future__ import annotations

import json

from qakit_trio.adapters.kafka_records import Record
from qakit_trio.pipeline.trail import EventTrail, trail


def test_the_line_given_is_kept_and_a_missing_one_is_rendered() -> None:
    events = EventTrail(keep=3)
    events.saw("e1", '{"msg":"event","event_id":"e1"}', "x", "event", {"event_id": "e1"})
    events.saw("e2", None, "qakit_trio.pipeline.events", "event", {"event_id": "e2"})
    assert events.lines("e1") == ['{"msg":"event","event_id":"e1"}']
    [rendered] = events.lines("e2")
    line = json.loads(rendered)
    assert (line["message"], line["event.id"], line["log.logger"]) == (
        "event",
        "e2",
        "qakit_trio.pipeline.events",
    )


def test_only_the_last_events_are_kept() -> None:
    events = EventTrail(keep=2)
    for n in range(3):
        events.saw(f"e{n}", f"line {n}", "x", "event", {})
    assert (events.lines("e0"), events.lines("e2")) == ([], ["line 2"])


def test_the_trail_joins_the_log_line_and_the_acknowledged_record() -> None:
    events = EventTrail()
    events.saw("e1", "the line", "x", "event", {})
    acknowledged = [
        (Record("ws_events", b"lobby", b'{"event_id":"e1"}', "e1"), 0, 41),
        (Record("ws_events", b"lobby", b'{"event_id":"e2"}', "e2"), 0, 42),
    ]
    assert trail("e1", events, "up", acknowledged) == {
        "event_id": "e1",
        "log_lines": ["the line"],
        "kafka": {
            "state": "up",
            "records": [
                {
                    "topic": "ws_events",
                    "partition": 0,
                    "offset": 41,
                    "key": "lobby",
                    "value": '{"event_id":"e1"}',
                }
            ],
        },
    }
    assert trail("nope", events, "disabled", ()) == {
        "event_id": "nope",
        "log_lines": [],
        "kafka": {"state": "disabled", "records": []},
    }
