"""Events: what happened, with one `event_id` a trainee can follow everywhere.

An event frame goes to the client that caused it (or to a channel), and `EventSink.record`
writes the same event once to the log as a JSON line carrying the same `event_id`. (The Kafka
issue adds the Kafka topic as one more place the sink writes to.)
"""

from __future__ import annotations

import logging
import random
import uuid
from typing import Any

from . import logs
from .protocol import Frame

log = logging.getLogger(__name__)


_random = random.Random()  # seeded from the OS once; ids need to be unique, not secret


def new_event_id() -> str:
    """A random (version 4) UUID, drawn without a system call per id."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


class EventSink:
    def record(self, frame: Frame, fields: dict[str, Any]) -> None:
        """Log one event (an event frame) once, whoever receives it."""
        logs.info(log, "event", **fields, name=frame["name"], event_id=frame["event_id"],
                  request_id=frame.get("request_id"), extra=frame.get("extra"))
