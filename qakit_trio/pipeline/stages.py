"""The stages every door shares (their order: sessions/pipeline.py; the model: request.py).

observe   outermost: the request's time and outcome, into qakit_requests_total and
          qakit_request_duration_seconds (web/metrics.py), counted also when cancelled
failures  innermost before the action: the door's own errors become its error replies and
          the connection stays open; anything else is a handler failure, logged with its
          traceback, answered with the door's internal error, and the connection closes
          with 1011 (REST: a 500 answer, web/rest_door.py)

A stage outside `failures` (the lab, an admit stage) answers its own refusals: what it raises
is a handler failure of the connection (1011), not an error reply.
"""

from __future__ import annotations

import logging

import trio

from qakit_trio.pipeline.request import Next, Request
from qakit_trio.wire.close_codes import INTERNAL_ERROR

log = logging.getLogger(__name__)

INTERNAL = "internal_error"  # the outcome of a request whose handler failed


async def observe(request: Request, call_next: Next) -> None:
    started = trio.current_time()
    try:
        await call_next(request)
    finally:  # also when cancelled (a close): the outcome is then what it was
        request.door.metrics.observe(request.action, request.outcome, trio.current_time() - started)


async def answer_failures(request: Request, call_next: Next) -> None:
    failed: Exception | None = None
    try:
        await call_next(request)
    except* (trio.BrokenResourceError, trio.ClosedResourceError):
        raise  # the writer has finished: the connection is closing, not failing (connection.py)
    except* Exception as group:  # (a Cancelled among them goes on: it is not an Exception)
        failed = first(group)
    if failed is None:
        return
    try:
        door = request.door
        refused = door.refusal(request, failed)
        if refused is not None:
            request.outcome, reply = refused
            await request.reply(reply)
            return
        request.outcome = INTERNAL
        log.error(
            "action failed",
            exc_info=failed,
            extra={"fields": {**request.fields, "request_id": request.request_id}},
        )
        await request.reply(door.internal_error(request))
        request.close_soon(INTERNAL_ERROR, "internal error")
    finally:
        del failed  # its traceback holds this frame: a cycle keeping the request, its connection


def first(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first error of a group, however deep (one request raises one error at a time)."""
    failure = group.exceptions[0]
    return failure if not isinstance(failure, BaseExceptionGroup) else first(failure)
