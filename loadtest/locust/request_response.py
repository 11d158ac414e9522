"""(b) Request/response with correlation: each user keeps one connection to
`/ws?channel=loadtest-rr` and sends batches of LOADTEST_BATCH requests (4) at once, `echo` and
`triplet_demo` in turn, each with a request_id of its own (`locust-<user>-<n>`); then reads
until every request is answered. Each must get exactly its frames, in order, with its id (ack,
echo, event; ack, step, step, event), and no frame may claim an id that is already answered or
was never sent (correlation.py).

    locust -f loadtest/locust/request_response.py --host ws://127.0.0.1:8002 \\
        --headless -u 50 -r 10 -t 30s --csv rr

Timings: `hello`, `ack` (request -> its ack), `reply` (request -> its event: the whole
request); with a batch, a request waits behind the ones before it, as pipelined requests do.
Failures: `correlation`, `connection`.
"""

from __future__ import annotations

import os

from locust import task
from ws_user import FAILURES, StandUser

BATCH = int(os.environ.get("LOADTEST_BATCH", "4"))
ACTIONS = ("echo", "triplet_demo")


class Requester(StandUser):
    channel = os.environ.get("LOADTEST_CHANNEL", "loadtest-rr")

    def on_start(self) -> None:
        try:
            self.connect()
        except FAILURES as error:
            self.failed(error)

    @task
    def batch(self) -> None:
        try:
            if self.ws is None:
                self.connect()
            for n in range(BATCH):
                request_id = self.request_id()
                payload = {"text": request_id}
                self.send({"action": ACTIONS[n % 2], "payload": payload, "request_id": request_id})
            self.answer_all()
        except FAILURES as error:
            self.failed(error)
