"""REST's door into the request pipeline (sessions/pipeline.py): every API route (the orders,
/broadcast, /stats, /health) runs as a request, through the same stages as a WebSocket
message, and is counted in qakit_requests_total{protocol="rest"}.

An HTTP answer travels the pipeline as a frame, `{"status", "body", "headers"}` (`ok`), into
an `HttpOutlet`; the route returns it. The routes' own errors (`HttpError`: FastAPI's shapes)
and the service's (orders, store) become answers in `RestDoor.refusal`; anything else is a
500 JSON answer, logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response, g
from quart import request as http_request
from werkzeug.exceptions import HTTPException

from qakit_trio.errors import BusUnavailable, ErrorCode, OrderError, RateLimited, StoreError
from qakit_trio.pipeline.request import Pipeline, Request
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.pipeline import Chain
from qakit_trio.web import http_errors
from qakit_trio.web.http_errors import HttpError
from qakit_trio.wire.framing import Frame
from qakit_trio.wire.protocol import Message

ACTIONS = frozenset(
    {
        "health",
        "stats",
        "broadcast",
        "create_order",
        "list_orders",
        "get_order",
        "change_status",
        "auth_token",
    }
)
Handler = Callable[[Request], Awaitable[None]]
Answer = Response | tuple[Any, int, dict[str, str]]


def ok(body: Any, headers: dict[str, str] | None = None) -> Message:
    """A 200 answer, as a frame."""
    return {"status": 200, "body": body, "headers": headers or {}}


def http_answer(failure: OrderError | StoreError | BusUnavailable) -> HttpError:
    """The service's errors, as the original stand's HTTP answers."""
    if failure.code == ErrorCode.NOT_FOUND:
        return HttpError(404, {"detail": "Order not found"})
    status = {
        ErrorCode.INVALID_TRANSITION: 400,
        ErrorCode.DB_UNAVAILABLE: 503,
        ErrorCode.BUS_UNAVAILABLE: 503,
        ErrorCode.DB_ERROR: 500,
    }[ErrorCode(failure.code)]
    body = {"detail": str(failure)}
    return HttpError(status, body if status == 400 else {"error": failure.code, **body})


class HttpOutlet:
    """Where an HTTP request's answer goes: kept for the route to return."""

    __slots__ = ("answer",)

    def __init__(self) -> None:
        self.answer: Message | None = None

    async def reply(self, frame: Message, text: str | None = None) -> None:
        self.answer = frame

    async def share(self, item: Frame) -> int:
        return 0  # an HTTP client is in no channel


class RestRequest(Request):
    __slots__ = ("handler",)

    handler: Handler


class RestDoor:
    name = "rest"

    def __init__(self, deps: Deps, pipeline: Pipeline) -> None:
        self.deps = deps
        self.metrics = deps.metrics["rest"]
        self.chain = Chain.of(pipeline, self.act, deps.lab)

    async def serve(self, action: str, handler: Handler) -> Answer:
        """Run one route's `handler` as a request; its answer, for quart."""
        deps, outlet = self.deps, HttpOutlet()
        sender = http_request.remote_addr  # who, when anonymous (the rate limit's key)
        request = RestRequest(
            self, action, None, sender, {}, outlet, deps.store, deps.events, deps.order_events
        )
        request.handler = handler
        request.user = g.get("user")  # QAKIT_AUTH=on: who sent it (web/identities.py)
        await self.chain.run(request)
        answer = outlet.answer
        if answer is None:  # (every handler answers; this one did not)
            answer = self.internal_error(request)
        if answer["body"] is None:  # JSON null, as FastAPI writes it
            return Response("null", status=answer["status"], mimetype="application/json")
        return answer["body"], answer["status"], answer.get("headers", {})

    async def act(self, request: Request) -> None:
        assert isinstance(request, RestRequest)
        await request.handler(request)

    def refusal(self, request: Request, failure: Exception) -> tuple[str, Message] | None:
        if isinstance(failure, RateLimited):
            retry = str(max(1, -(-failure.retry_after_ms // 1000)))  # whole seconds, rounded up
            failure = HttpError(429, {"detail": "Too Many Requests"}, {"Retry-After": retry})
        if isinstance(failure, HTTPException):  # quart's own: a body too large, too slow
            code = failure.code or 500
            failure = HttpError(code, {"detail": http_errors.phrase(code)})
        cause = None
        if isinstance(failure, OrderError | StoreError | BusUnavailable):
            cause = "not_found" if failure.code == ErrorCode.NOT_FOUND else None
            failure = http_answer(failure)
        if not isinstance(failure, HttpError):
            return None
        frame = {"status": failure.status, "body": failure.body, "headers": failure.headers}
        if cause is not None:
            frame["cause"] = cause  # (the store has no such order: lab/outlets.py)
        return str(failure.status), frame

    def internal_error(self, request: Request) -> Message:
        detail = "the server failed to handle this request"
        return {"status": 500, "body": {"error": "internal_error", "detail": detail}}
