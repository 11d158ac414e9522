"""The pipeline's parts on their own: stages composed in order, the lab stage only in the
chain that needs it, failures mapped by the door, every request observed."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qakit_trio.lab.bugs import Bugs
from qakit_trio.lab.fault_rules import FaultRules
from qakit_trio.lab.lab import Lab
from qakit_trio.pipeline.request import Next, Pipeline, Request, compose
from qakit_trio.pipeline.stages import answer_failures, observe
from qakit_trio.request_metrics import RequestMetrics
from qakit_trio.sessions.pipeline import Chain
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message
from qakit_trio.ws.hub import Hub


class Kept:
    """An outlet that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[Message] = []

    async def reply(self, frame: Message, text: str | None = None) -> None:
        self.frames.append(frame)

    async def share(self, item: Frame) -> int:
        return 0


class Refusing(Exception):
    pass


class FakeDoor:
    name = "fake"

    def __init__(self, act: Any) -> None:
        self.metrics = RequestMetrics("fake", frozenset({"go"}))
        self._act = act

    async def act(self, request: Request) -> None:
        await self._act(request)

    def refusal(self, request: Request, failure: Exception) -> tuple[str, Message] | None:
        return ("refused", {"type": "error"}) if isinstance(failure, Refusing) else None

    def internal_error(self, request: Request) -> Message:
        return {"type": "internal"}


def fake_request(door: FakeDoor, outlet: Kept) -> Request:
    return Request(door, "go", "r", "c", {}, outlet, None, None, None)  # type: ignore[arg-type]


async def test_stages_run_in_their_order_around_the_action() -> None:
    order: list[str] = []

    def stage(name: str) -> Any:
        async def run(request: Request, call_next: Next) -> None:
            order.append(f"{name} in")
            await call_next(request)
            order.append(f"{name} out")

        return run

    async def act(request: Request) -> None:
        order.append("act")

    await compose([stage("a"), stage("b")], act)(fake_request(FakeDoor(act), Kept()))
    assert order == ["a in", "b in", "act", "b out", "a out"]


async def test_the_lab_stage_is_only_in_the_chain_when_the_lab_has_something() -> None:
    bugs, rules = Bugs(), FaultRules()
    lab = Lab(bugs, rules, Hub())
    passed: list[bool] = []

    async def spy(request: Request, call_next: Next) -> None:
        passed.append(True)
        await call_next(request)

    async def act(request: Request) -> None:
        pass

    door = FakeDoor(act)
    chain = Chain.of(Pipeline([observe, answer_failures], spy, lab_at=1), act, lab)
    await chain.run(fake_request(door, Kept()))
    assert passed == []  # every bug and fault off: never in the lab stage
    await chain.run(fake_request(door, Kept()), has_fault=True)
    assert passed == [True]  # the request's own fault
    bugs.set_enabled(["duplicate_event"])
    await chain.run(fake_request(door, Kept()))
    assert passed == [True, True]
    bugs.set_enabled([])
    rules.replace({"rules": [{"fault": {"delay_ms": 1}}]})
    await chain.run(fake_request(door, Kept()))
    assert passed == [True, True, True]


@pytest.mark.parametrize(
    ("failure", "outcome", "reply"),
    [
        (None, "ok", []),
        (Refusing(), "refused", ["error"]),
        (KeyError(), "internal_error", ["internal"]),
    ],
)
async def test_failures_become_the_doors_replies_and_every_request_is_observed(
    failure: Exception | None, outcome: str, reply: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    async def act(request: Request) -> None:
        await trio.lowlevel.checkpoint()
        if failure is not None:
            raise failure

    door, outlet = FakeDoor(act), Kept()
    request = fake_request(door, outlet)
    await compose([observe, answer_failures], door.act)(request)
    assert request.outcome == outcome
    assert [frame["type"] for frame in outlet.frames] == reply
    assert door.metrics.counts == {("go", outcome): 1}
    assert ("action failed" in caplog.text) == (outcome == "internal_error")


async def test_a_cancelled_request_is_still_observed_and_not_answered() -> None:
    async def act(request: Request) -> None:
        await trio.sleep_forever()

    door, outlet = FakeDoor(act), Kept()
    with trio.move_on_after(0):
        await compose([observe, answer_failures], door.act)(fake_request(door, outlet))
    assert outlet.frames == []
    assert door.metrics.counts == {("go", "ok"): 1}
