"""(a) Connect storm: each user connects to `/ws?channel=loadtest-storm`, checks the hello,
stays idle LOADTEST_IDLE seconds (1) expecting no frame at all, closes with 1000 and waits for
the stand's close frame; then again, until the run ends.

    locust -f loadtest/locust/storm.py --host ws://127.0.0.1:8002 \\
        --headless -u 200 -r 50 -t 30s --csv storm

Timings: `hello` (TCP connect + upgrade + the hello frame), `close`. Failures: `correlation` (a
hello that is not this channel's, a frame during the idle), `connection`.
"""

from __future__ import annotations

import os

from correlation import CorrelationError
from locust import task
from ws_user import FAILURES, StandUser

IDLE = float(os.environ.get("LOADTEST_IDLE", "1"))


class Storm(StandUser):
    channel = os.environ.get("LOADTEST_CHANNEL", "loadtest-storm")

    @task
    def connect_idle_leave(self) -> None:
        try:
            self.connect()
            try:
                frame = self.receive(timeout=IDLE)
            except TimeoutError:
                pass
            else:
                raise CorrelationError("a frame while idle", str(frame)[:300])
            self.close()
        except FAILURES as error:
            self.failed(error)
