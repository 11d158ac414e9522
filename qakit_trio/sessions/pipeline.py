"""The request pipeline's stages, in order: the one place that lists them (the model of a
request and of a stage: pipeline/request.py; docs/concurrency.md shows the chain).

    observe -> (admit) -> lab -> failures -> the door's action

`observe` and `failures`: pipeline/stages.py; the lab's stage: lab/lab.py, in the chain only
while the lab has something for the request (else the request never passes it). A new stage
(auth, a rate limit, recording) is one module and one line here, in `stages`, between observe
and the lab: every door (/ws, qa_kit, /ws/orders, REST) runs it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qakit_trio.auth.users import User
from qakit_trio.lab.lab import Lab
from qakit_trio.pipeline.request import ConnectionRequest, Door, Next, Pipeline, Request, Stage
from qakit_trio.pipeline.stages import answer_failures, observe
from qakit_trio.request_metrics import NO_ACTION
from qakit_trio.sessions.deps import Deps
from qakit_trio.wire.protocol import RequestId
from qakit_trio.ws.connection import Connection


def pipeline(lab: Lab, admit: Sequence[Stage] = ()) -> Pipeline:
    """The stages every door's requests pass; `admit`: stages that may refuse a request
    (none yet; tests add their own through create_app(extra_stages=...))."""
    stages: list[Stage] = [observe, *admit, answer_failures]
    return Pipeline(stages, lab.stage, lab_at=len(stages) - 1)  # the lab: before failures


@dataclass(frozen=True, slots=True)
class Chain:
    """One door's action behind the stages: composed once (with and without the lab)."""

    plain: Next
    with_lab: Next
    lab: Lab

    @classmethod
    def of(cls, pipeline: Pipeline, act: Next, lab: Lab) -> Chain:
        plain, with_lab = pipeline.chains(act)
        return cls(plain, with_lab, lab)

    async def run(self, request: Request, has_fault: bool = False) -> None:
        """Run one request through the stages (`has_fault`: it asks for its own fault)."""
        if has_fault or self.lab.on:
            await self.with_lab(request)
        else:
            await self.plain(request)


def decoded(
    door: Door,
    deps: Deps,
    conn: Connection,
    body: dict[str, Any],
    problem: Exception | None,
    request_id: RequestId | None,
    user: User | None,
) -> ConnectionRequest:
    """One message of `conn` as its door decoded it (`problem`: why it is not a request; its
    action is then NO_ACTION), with what its stages and action use from `deps`."""
    request = ConnectionRequest(
        door,
        conn,
        body,
        NO_ACTION if problem is not None else body.get("action"),
        request_id,
        deps.store,
        deps.events,
        deps.order_events,
    )
    request.problem = problem
    request.user = user
    return request
