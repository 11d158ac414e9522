"""A Locust user that speaks the stand's `/ws` protocol with websocket-client (Locust runs users
on gevent, which makes its blocking socket calls cooperative), and reports to Locust what it
measures and what it finds wrong.

Every timing is a Locust request of type `WS`, named for what it measures: `hello` (connect ->
the hello frame), `ack`, `reply` (request -> its last frame), `delivery` (publish -> a
subscriber's frame), `close` (close frame sent -> the stand's answer). Every failed check is a
failure of type `WS` named `correlation` (a frame the contract does not allow: correlation.py
says which) or `connection` (the socket failed or a frame did not come within LOADTEST_TIMEOUT
seconds), with the reason; the connection is then dropped and the next task connects again.
Locust exits with 1 when a run had any failure: a correlation check that fails fails the run.

The settings are environment variables, the same for the Locust, k6 and Artillery scenarios
(loadtest/README.md): LOADTEST_TIMEOUT (10 s), LOADTEST_CHANNEL (each scenario's own).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from typing import Any

import websocket
from correlation import CorrelationError, Correlator
from locust import User, constant

LOG = logging.getLogger("loadtest")
TIMEOUT = float(os.environ.get("LOADTEST_TIMEOUT", "10"))
USERS = itertools.count(1)  # numbers users, for request_ids unique to this run


class StandUser(User):
    """One virtual user with at most one connection to `/ws?channel=<channel>`."""

    abstract = True
    wait_time = constant(0)
    channel = "loadtest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.number = next(USERS)
        self.requests = itertools.count(1)
        self.ws: websocket.WebSocket | None = None
        self.correlator: Correlator | None = None
        self.logged: set[str] = set()  # the failures whose frame this user has logged

    def request_id(self) -> str:
        return f"locust-{self.number}-{next(self.requests)}"

    def connect(self) -> Correlator:
        """Connect, read the hello, record the `hello` timing."""
        started = time.perf_counter()
        url = f"{self.host}/ws?channel={self.channel}"
        self.ws = websocket.create_connection(url, timeout=TIMEOUT)
        self.correlator = Correlator.after(self.receive(), self.channel)
        self.record("hello", (time.perf_counter() - started) * 1000)
        return self.correlator

    def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        assert self.ws is not None
        self.ws.settimeout(timeout)
        try:
            text = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            waiting = sorted(self.correlator.open) if self.correlator else []
            raise TimeoutError(f"no frame within {timeout} s; unanswered: {waiting}") from None
        frame = json.loads(text)
        if not isinstance(frame, dict):
            raise CorrelationError("a frame that is not a JSON object", text[:300])
        return frame

    def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        assert self.correlator is not None
        self.correlator.sent(frame["request_id"], frame["action"], time.time())
        self.ws.send(json.dumps(frame))

    def take(self, frame: dict[str, Any]) -> None:
        """Check a frame with the correlator; record the timings it completes."""
        assert self.correlator is not None
        for name, ms in self.correlator.received(frame, time.time()):
            self.record(name, ms)

    def answer_all(self) -> None:
        """Read until every request sent is answered (or fail)."""
        assert self.correlator is not None
        while self.correlator.open:
            self.take(self.receive())

    def close(self) -> None:
        """Close with 1000 and wait for the stand's close frame; record `close`."""
        if self.ws is None:
            return
        started = time.perf_counter()
        try:
            self.ws.close(status=1000, timeout=TIMEOUT)
            self.record("close", (time.perf_counter() - started) * 1000)
        finally:
            self.ws, self.correlator = None, None

    def record(self, name: str, ms: float) -> None:
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=ms, response_length=0, exception=None
        )

    def failed(self, error: Exception) -> None:
        """Record a failure and drop the connection: the next task starts afresh. A correlation
        failure's frame is logged, once per user and kind of failure."""
        name = "correlation" if isinstance(error, CorrelationError) else "connection"
        if isinstance(error, CorrelationError) and str(error) not in self.logged:
            self.logged.add(str(error))
            LOG.warning("user %s: %s: %s", self.number, error, error.detail)
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=0, response_length=0, exception=error
        )
        if self.ws is not None:
            self.ws.shutdown()  # no close frame: the connection is in an unknown state
            self.ws, self.correlator = None, None

    def on_stop(self) -> None:
        try:
            self.close()
        except (OSError, websocket.WebSocketException) as error:
            self.failed(error)


# What a task may raise that is the stand's fault or the network's, not the scenario's
FAILURES = (CorrelationError, OSError, websocket.WebSocketException, ValueError)
