"""One recorded finding per bug of the catalogue (lab/bugs.py), in the format POST /lab/findings
takes: the steps a trainee's clients sent, `wrong` (the reply, `event` log line or Kafka record
that shows the bug) and `fabricated`, a pointer at a reply that is the same with the bug and
without it (a finding that is not reproduced). docs/lab-answer-key.md describes each scenario;
tests/lab/test_bug_toggles.py proves each defect on a real socket.

The same scenarios are what the scripted class plays live (test_class.py): order ids in them are
those of a fresh stand (the first order created is 1), which the class's step runner shifts to
the orders the trainee's own run created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qakit_trio.classroom.steps import Evidence, parse_evidence
from qakit_trio.lab.bugs import ASSIGNABLE


@dataclass(frozen=True)
class Scenario:
    bug: str
    steps: list[dict[str, Any]]
    wrong: dict[str, int]  # {"step": N, "frame" | "log" | "record": M}
    fabricated: dict[str, int]  # a reply the bug does not change

    def finding(self, wrong: dict[str, int] | None = None) -> dict[str, Any]:
        """The body of POST /lab/findings (pointing at `wrong`, the recorded one by default)."""
        return {
            "steps": self.steps,
            "wrong": self.wrong if wrong is None else wrong,
            "expected": "what the contract says",
            "actual": "what the stand did",
        }

    def evidence(self, wrong: dict[str, int] | None = None) -> Evidence:
        return parse_evidence(self.finding(wrong))


def ws(conn: str, path: str, send: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"conn": conn, "path": path, "send": send, **extra}


def echo(conn: str, request_id: str | None, path: str = "/ws") -> dict[str, Any]:
    send: dict[str, Any] = {"action": "echo", "payload": {"text": "hi"}}
    if request_id is not None:
        send["request_id"] = request_id
    return ws(conn, path, send)


def http(method: str, path: str, body: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"http": method, "path": path}
    if body is not None:
        step["json"] = body
    return step


def order(customer: str) -> dict[str, Any]:
    return http("POST", "/orders", {"customer": customer})


def pay(conn: str, request_id: str, **extra: Any) -> dict[str, Any]:
    send = {"action": "change_status", "request_id": request_id}
    return ws(conn, "/ws", {**send, "payload": {"id": 1, "status": "paid"}}, **extra)


# A `since` names an epoch of the stand's: a replay twin starts the channel at it (classroom/
# steps.py named_epochs), and the live class's runner puts the live channel's own in its place.
EPOCH = "0000cafe"


def broadcast(conn: str, channel: str, request_id: str, message: str) -> dict[str, Any]:
    send = {"action": "broadcast", "request_id": request_id, "payload": {"message": message}}
    return ws(conn, f"/ws?channel={channel}", send)


def published(channel: str) -> list[dict[str, Any]]:
    """Offsets 1 and 2 of `channel`: "one" and "two", from connection a."""
    return [broadcast("a", channel, "p1", "one"), broadcast("a", channel, "p2", "two")]


def since(offset: int, epoch: str) -> dict[str, Any]:
    return {"offset": offset, "epoch": epoch}


def subscribe(conn: str, channel: str, position: dict[str, Any]) -> dict[str, Any]:
    payload = {"channel": channel, "since": position}
    return ws(
        conn, "/ws?channel=lobby", {"action": "subscribe", "request_id": "s1", "payload": payload}
    )


def channel_request(conn: str, channel: str, action: str, request_id: str) -> dict[str, Any]:
    send = {"action": action, "request_id": request_id, "payload": {"channel": channel}}
    return ws(conn, f"/ws?channel={channel}", send)


SCENARIOS: dict[str, Scenario] = {
    scenario.bug: scenario
    for scenario in (
        # the first reply is the ack (the event, third, is the event either way)
        Scenario(
            "ack_after_data", [echo("a", "r1")], {"step": 1, "frame": 1}, {"step": 1, "frame": 3}
        ),
        # the second request's event carries its own id (the first's is right either way)
        Scenario(
            "event_wrong_request_id",
            [echo("a", "one"), echo("a", "two")],
            {"step": 2, "frame": 3},
            {"step": 1, "frame": 3},
        ),
        # a broadcast in "room" reaches c in "elsewhere": c's 4th frame after its own echo
        Scenario(
            "broadcast_leaks_channels",
            [
                echo("c", "c1", "/ws?channel=elsewhere"),
                ws(
                    "a",
                    "/ws?channel=room",
                    {"action": "broadcast", "request_id": "b1", "payload": {"message": "hi"}},
                ),
            ],
            {"step": 1, "frame": 4},
            {"step": 2, "frame": 1},
        ),
        # four orders, list_orders limit 3: the data frame holds 3 (2 with the bug)
        Scenario(
            "list_orders_off_by_one",
            [
                *(order(f"c{n}") for n in range(4)),
                ws(
                    "a",
                    "/ws",
                    {"action": "list_orders", "request_id": "l1", "payload": {"limit": 3}},
                ),
            ],
            {"step": 5, "frame": 2},
            {"step": 1, "frame": 1},
        ),
        # one event per request: a 4th reply to the echo is the duplicate
        Scenario(
            "duplicate_event",
            [echo("a", "d1"), echo("a", "d2")],
            {"step": 1, "frame": 4},
            {"step": 1, "frame": 1},
        ),
        # invalid JSON: an error frame (with the bug: the socket closed with 1000)
        Scenario(
            "close_on_invalid_json",
            [echo("a", "e1"), {"conn": "a", "text": "{oops"}],
            {"step": 2, "frame": 1},
            {"step": 1, "frame": 1},
        ),
        # no request_id: the server's own srv-<connection>-<n> (with the bug: "no-id")
        Scenario(
            "no_id_request_id",
            [echo("a", None), echo("a", "x1")],
            {"step": 1, "frame": 1},
            {"step": 2, "frame": 1},
        ),
        # created -> delivered is refused with 400 (with the bug: 200)
        Scenario(
            "any_transition_allowed",
            [order("a"), http("POST", "/orders/1/deliver")],
            {"step": 2, "frame": 1},
            {"step": 1, "frame": 1},
        ),
        # two payments of one order at once: the second is refused (with the bug: both succeed)
        Scenario(
            "lost_update",
            [order("a"), pay("a", "p1", wait_ms=0), pay("b", "p2")],
            {"step": 3, "frame": 2},
            {"step": 1, "frame": 1},
        ),
        # /stats, a client connects, /stats again: it counts the client (with the bug: stale)
        Scenario(
            "stale_stats",
            [http("GET", "/stats"), echo("a", "s1"), http("GET", "/stats")],
            {"step": 3, "frame": 1},
            {"step": 1, "frame": 1},
        ),
        # a missing order is 404 (with the bug: 200 null); order 0 is 404 either way
        Scenario(
            "missing_order_is_200",
            [http("GET", "/orders/99999"), http("GET", "/orders/0")],
            {"step": 1, "frame": 1},
            {"step": 2, "frame": 1},
        ),
        # the requester on /ws/orders gets result, then order_created (with the bug: no event)
        Scenario(
            "legacy_requester_misses_event",
            [ws("o", "/ws/orders", {"action": "create_order", "customer": "a"})],
            {"step": 1, "frame": 2},
            {"step": 1, "frame": 1},
        ),
        # the echo's record on the WS topic carries the event's event_id
        Scenario(
            "kafka_record_without_event_id",
            [echo("a", "k1")],
            {"step": 1, "record": 1},
            {"step": 1, "frame": 3},
        ),
        # the echo's `event` log line carries the event's event_id
        Scenario(
            "event_log_without_event_id",
            [echo("a", "g1")],
            {"step": 1, "log": 1},
            {"step": 1, "frame": 3},
        ),
        # a broadcast to a fresh channel is its offset 1 (with the bug: 2)
        Scenario(
            "offset_gap",
            [broadcast("a", "gap", "o1", "hi")],
            {"step": 1, "frame": 2},
            {"step": 1, "frame": 1},
        ),
        # two publications, then a recovery since offset 1: ack, subscribed, "two", event
        # (skips_one: the event third; duplicates_last: "one" third)
        Scenario(
            "recovery_skips_one",
            [*published("rec-skip"), subscribe("b", "rec-skip", since(1, EPOCH))],
            {"step": 3, "frame": 3},
            {"step": 3, "frame": 1},
        ),
        Scenario(
            "recovery_duplicates_last",
            [*published("rec-dup"), subscribe("b", "rec-dup", since(1, EPOCH))],
            {"step": 3, "frame": 3},
            {"step": 3, "frame": 1},
        ),
        # a position of another epoch is not recovered (with the bug: it is, by its offset)
        Scenario(
            "epoch_never_changes",
            [*published("epochs"), subscribe("b", "epochs", since(1, "not-this-one"))],
            {"step": 3, "frame": 2},
            {"step": 3, "frame": 1},
        ),
        # b closes (its fault's close), then a asks who is in the channel: a alone
        Scenario(
            "presence_keeps_ghosts",
            [
                ws(
                    "b",
                    "/ws?channel=ghosts",
                    {"action": "echo", "request_id": "h0", "payload": {}, "fault": {"close": 1000}},
                ),
                channel_request("a", "ghosts", "presence", "h1"),
            ],
            {"step": 2, "frame": 2},
            {"step": 2, "frame": 1},
        ),
        # a unsubscribes, then b broadcasts to the channel: a gets no 4th frame
        Scenario(
            "unsubscribe_ignored",
            [
                channel_request("a", "unsub", "unsubscribe", "u1"),
                broadcast("b", "unsub", "u2", "still there?"),
            ],
            {"step": 1, "frame": 4},
            {"step": 1, "frame": 1},
        ),
    )
}
assert set(SCENARIOS) == ASSIGNABLE, "a scenario for every bug a trainee may be given"
