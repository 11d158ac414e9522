"""Findings proved by replay: a trainee's steps (steps.py) run again on fresh twins of the
stand, one with the trainee's bugs and one clean, and the reply they point at compared.

    live stand (trio, the main thread)
    └── POST /lab/findings  ->  Replayer.judge  (one at a time: REPLAYS, a CapacityLimiter)
            └── worker thread: judge_in_thread
                    twin "clean"   trio.run(...) on a MockClock, open_stand(...)   (kit)
                    twin "buggy"   the same, QAKIT_BUGS = the trainee's bugs
                    twin per bug   only when the trainee has more than one: which one did it

A twin is the testing kit's in-process stand (testing.py): no socket, no PostgreSQL, no Kafka
(its records are kept, not sent), its own trio run on a virtual clock (so the lost_update
window and a `wait_ms` take no wall time), its own ids and clock (stamps.own_stamps, seeded:
QAKIT_DETERMINISTIC) and its own log lines (logs.captured_lines: none reaches the live log).
Nothing of the live stand is shared: not its orders, not its hub, not its bugs.

Limits: the steps are checked before (steps.py: 200 steps, 16 connections, 16 KiB a frame);
the replays of one finding have REPLAY_SECONDS of wall time in all (checked between steps and
between frames: `ReplayTooLong`), each twin VIRTUAL_SECONDS of its own clock, and keep at most
MAX_FRAMES replies. The thread holds the GIL while it computes, so replays run one at a time
and at most MAX_WAITING wait for their turn (web/classroom.py answers 503 past that).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from qakit_trio import logs
from qakit_trio.adapters.kafka import NoKafka
from qakit_trio.adapters.kafka_records import Record
from qakit_trio.classroom.steps import (
    REPLAY_SECONDS,
    Evidence,
    HttpStep,
    MakeApp,
    ReplayTooLong,
    Step,
    Verdict,
    Wrong,
    named_epochs,
    normalized,
)
from qakit_trio.transport.kit import Stand, StandClient, StandClosed
from qakit_trio.wire import stamps

VIRTUAL_SECONDS = 3_000.0  # a twin's own clock: 200 steps of the longest wait, and more
SETTLE_SECONDS = 2.0  # (virtual) after the last step: what the stand still had to send
MAX_FRAMES = 5_000  # replies kept per twin (a broadcast storm of 200 steps stays bounded)
SEED = 2026  # the twins' QAKIT_DETERMINISTIC: the same ids and times in both
UNSTABLE = "differs from one replay to the next on a clean stand: it proves no bug"


class KeptRecords(NoKafka):
    """A twin's Kafka: the records it would have published, kept in order."""

    enabled = True

    def __init__(self) -> None:
        self.records: list[Record] = []

    def publish_nowait(self, record: Record) -> None:
        self.records.append(record)


@dataclass(slots=True)
class Replies:
    """What a twin gave for each step: replies, `event` log lines, Kafka records."""

    frames: list[list[Any]]
    logs: list[list[Any]]
    records: list[list[Any]]
    kept: int = 0  # replies kept in all (MAX_FRAMES)

    @classmethod
    def of(cls, steps: int) -> Replies:
        return cls(
            [[] for _ in range(steps)], [[] for _ in range(steps)], [[] for _ in range(steps)]
        )

    def pick(self, wrong: Wrong) -> Any:
        """The item `wrong` points at, or None when there is none."""
        items = {"frame": self.frames, "log": self.logs, "record": self.records}[wrong.target]
        step = items[wrong.step - 1]
        return step[wrong.index - 1] if wrong.index <= len(step) else None

    def count(self, wrong: Wrong) -> int:
        items = {"frame": self.frames, "log": self.logs, "record": self.records}[wrong.target]
        return len(items[wrong.step - 1])


@dataclass(slots=True)
class _Run:
    """One twin's replay in progress."""

    replies: Replies
    deadline: float  # time.monotonic() (wall: a limit on work, not on the twin's time)
    current: dict[str, int] = field(default_factory=dict)  # connection -> its latest step
    closed: set[str] = field(default_factory=set)
    done: bool = False  # every step replayed: what comes now is not a reply

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise ReplayTooLong

    def keep(self, step: int, frame: Any) -> None:
        self.check()
        if self.replies.kept < MAX_FRAMES:
            self.replies.frames[step].append(frame)
            self.replies.kept += 1


def run_twin(
    make_app: MakeApp, steps: Sequence[Step], bugs: Sequence[str], deadline: float
) -> Replies:
    """Replay `steps` on a fresh twin with `bugs` on; synchronous (a worker thread's).
    ReplayTooLong past the wall-clock `deadline` or the twin's own VIRTUAL_SECONDS."""
    over = (ReplayTooLong, trio.TooSlowError)
    with stamps.own_stamps(), logs.captured_lines() as lines:
        clock = trio.testing.MockClock(autojump_threshold=0)
        try:
            return trio.run(
                _twin, make_app, tuple(steps), tuple(bugs), deadline, lines, clock=clock
            )
        except over:
            raise ReplayTooLong from None
        except BaseExceptionGroup as group:  # the twin's nurseries wrap it: the route's 422
            too_long, rest = group.split(over)
            if too_long is not None and rest is None:
                raise ReplayTooLong from None
            raise


async def _twin(
    make_app: MakeApp,
    steps: tuple[Step, ...],
    bugs: tuple[str, ...],
    deadline: float,
    lines: logs.Captured,
) -> Replies:
    run = _Run(Replies.of(len(steps)), deadline)
    kafka = KeptRecords()
    app = make_app({"bugs": bugs, "deterministic": SEED}, kafka)
    services = app.services  # the steps' recoveries name epochs of ours: the twin starts there
    for channel, epoch in named_epochs(steps, services.settings.default_channel).items():
        services.hub.history.adopt(channel, epoch)
    with trio.fail_after(VIRTUAL_SECONDS):
        async with app.test_app() as test_app, trio.open_nursery() as readers:
            stand = Stand(app, test_app.test_client())
            async with AsyncExitStack() as exits:  # the connections, closed before the readers
                clients: dict[str, StandClient] = {}
                for index, step in enumerate(steps):
                    run.check()
                    marks = (len(lines), len(kafka.records))
                    if isinstance(step, HttpStep):
                        status, body = await stand.request(step.method, step.path, json=step.body)
                        run.keep(index, {"status": status, "body": body})
                    else:
                        client = clients.get(step.conn)
                        if client is None:
                            client = clients[step.conn] = await _open(stand, exits, step.path)
                            readers.start_soon(_read, client, step.conn, run)
                            await trio.testing.wait_all_tasks_blocked()  # its hello: not a reply
                        run.current[step.conn] = index
                        if step.conn not in run.closed:
                            await client.send_text(step.text)
                    if step.wait_ms:
                        await trio.sleep(step.wait_ms / 1000)
                    else:
                        await trio.testing.wait_all_tasks_blocked()
                    _attribute(run.replies, index, lines, kafka.records, marks)
                marks = (len(lines), len(kafka.records))
                await trio.sleep(SETTLE_SECONDS)
                _attribute(run.replies, len(steps) - 1, lines, kafka.records, marks)
                run.done = True  # leaving closes the connections: not a reply of the stand's
            readers.cancel_scope.cancel()
    return run.replies


async def _open(stand: Stand, exits: AsyncExitStack, path: str) -> StandClient:
    return await exits.enter_async_context(stand.connect(path))


async def _read(client: StandClient, conn: str, run: _Run) -> None:
    """A connection's replies, each to the latest step sent on it (before its first: none)."""
    while True:
        try:
            text = await client.receive()
        except StandClosed as closed:
            run.closed.add(conn)
            if conn in run.current and not run.done:
                ending = (
                    {"close": closed.code}
                    if closed.status is None
                    else {"status": closed.status, "body": closed.body}
                )
                run.keep(run.current[conn], ending)
            return
        if conn not in run.current or run.done:
            continue  # the hello (or after the last step)
        try:
            frame = json.loads(text)
        except ValueError:
            frame = {"text": text if isinstance(text, str) else text.decode(errors="replace")}
        run.keep(run.current[conn], frame)


def _attribute(
    replies: Replies,
    step: int,
    lines: logs.Captured,
    records: list[Record],
    marks: tuple[int, int],
) -> None:
    """The `event` log lines and the Kafka records made since `marks`: the step's."""
    for _logger, message, fields in lines[marks[0] :]:
        if message == "event":
            replies.logs[step].append({key: value for key, value in fields.items()})
    for record in records[marks[1] :]:
        replies.records[step].append(
            {"topic": record.topic, "key": record.key.decode(), "value": json.loads(record.value)}
        )


def judge(make_app: MakeApp, evidence: Evidence, bugs: Sequence[str]) -> Verdict:
    """Replay on a clean twin and a buggy one; which of `bugs` changed the pointed reply.
    Synchronous: run it in a worker thread (web/classroom.py does)."""
    deadline = time.monotonic() + REPLAY_SECONDS
    wrong = evidence.wrong
    clean = run_twin(make_app, evidence.steps, (), deadline)
    buggy = run_twin(make_app, evidence.steps, bugs, deadline) if bugs else clean
    before, after = clean.pick(wrong), buggy.pick(wrong)
    if normalized(before) == normalized(after):
        return Verdict(False, None, before, after, _why_not(wrong, clean, buggy, bugs))
    again = run_twin(make_app, evidence.steps, (), deadline).pick(wrong)
    if normalized(again) != normalized(before):  # no proof: it differs without any bug
        return Verdict(False, None, before, after, f"{_where(wrong)} {UNSTABLE}")

    def changes_it(with_bugs: Sequence[str]) -> bool:
        replayed = run_twin(make_app, evidence.steps, with_bugs, deadline)
        return bool(normalized(replayed.pick(wrong)) != normalized(before))

    culprit = bugs[0] if len(bugs) == 1 else next((b for b in bugs if changes_it((b,))), None)
    if culprit is None:  # only together do they change it: name those it needs, no other
        needed = [bug for bug in bugs if not changes_it([b for b in bugs if b != bug])]
        culprit = "+".join(needed or bugs[:1])
    name = culprit
    return Verdict(True, name, before, after, f"{_where(wrong)} differs: {name} changed it")


def _where(wrong: Wrong) -> str:
    return f"step {wrong.step}, {wrong.target} {wrong.index}"


def _why_not(wrong: Wrong, clean: Replies, buggy: Replies, bugs: Sequence[str]) -> str:
    if not bugs:
        return "you have no bug on this stand: every reply is the clean stand's"
    if clean.pick(wrong) is None:
        counts = f"{clean.count(wrong)} on a clean stand, {buggy.count(wrong)} with your bugs"
        return f"{_where(wrong)} does not exist: the step got {counts}"
    return f"{_where(wrong)} is the same on a clean stand (ts and server ids aside)"
