"""(c) Fan-out: publishers and subscribers in one channel, `loadtest-fanout`. LOADTEST_PUBLISHERS
users (1) publish: a `broadcast` every LOADTEST_INTERVAL seconds (0.1) whose message is JSON
with the time it was sent (`sent_at_ms`, epoch milliseconds) and its request_id, and each
must get its ack, its own message and its event, in order, with its id. Every other user
subscribes: it reads the channel's messages and measures each one's delivery latency from the
timestamp in it. Everyone checks each publication: offsets one after another from the hello's
(no gap, no duplicate), one epoch, and a request_id that is the one its message names
(correlation.py).

    locust -f loadtest/locust/fanout.py --host ws://127.0.0.1:8002 \\
        --headless -u 21 -r 21 -t 30s --csv fanout

Timings: `hello`, `ack`, `reply` (the publisher's), `delivery` (publish -> a subscriber's frame;
both clocks are this machine's: run Locust on one machine, or on machines with synced clocks).
Failures: `correlation`, `connection`.
"""

from __future__ import annotations

import os
import time

from correlation import publication
from locust import constant, task
from ws_user import FAILURES, StandUser

CHANNEL = os.environ.get("LOADTEST_CHANNEL", "loadtest-fanout")
PUBLISHERS = int(os.environ.get("LOADTEST_PUBLISHERS", "1"))
INTERVAL = float(os.environ.get("LOADTEST_INTERVAL", "0.1"))
READ = 0.5  # a subscriber's task reads for this long, then Locust may stop it


class Publisher(StandUser):
    channel = CHANNEL
    fixed_count = PUBLISHERS
    wait_time = constant(INTERVAL)

    @task
    def publish(self) -> None:
        try:
            if self.ws is None:
                self.connect()
            self.send(publication("broadcast", self.request_id(), time.time()))
            self.answer_all()  # other publishers' messages are checked on the way
        except FAILURES as error:
            self.failed(error)


class Subscriber(StandUser):
    channel = CHANNEL

    @task
    def read(self) -> None:
        try:
            if self.ws is None:
                self.connect()
            until = time.monotonic() + READ
            while (left := until - time.monotonic()) > 0:
                try:
                    frame = self.receive(timeout=left)
                except TimeoutError:
                    return
                self.take(frame)
        except FAILURES as error:
            self.failed(error)
