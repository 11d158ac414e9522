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

from qakit_trio.lab.lab import Lab
from qakit_trio.pipeline.request import Next, Pipeline, Request, Stage
from qakit_trio.pipeline.stages import answer_failures, observe


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
