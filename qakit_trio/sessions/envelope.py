"""The envelope protocol's session on /ws: request -> ack -> the action's frames.

Every text that parses as a JSON object is acknowledged first; then the request is checked and
its action runs. Errors become error frames (the connection stays open); this is where the
service's own errors (the domain's, the store's) are mapped to the protocol's error codes.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.errors import OrderError, ProtocolError, QakitError, StoreError
from qakit_trio.request_metrics import NO_ACTION
from qakit_trio.services import Services
from qakit_trio.sessions import faults
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.wire import faults as wire_faults
from qakit_trio.wire import protocol
from qakit_trio.wire.close_codes import INTERNAL_ERROR
from qakit_trio.wire.faults import Fault
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)

ErrorCode = protocol.ErrorCode


# The errors a request can end with on /ws: each becomes an error frame with its own code
# (errors.py), the connection stays open. Anything else is a handler failure (1011).
REPLIED: tuple[type[QakitError], ...] = (ProtocolError, OrderError, StoreError)


def as_protocol_error(failure: Exception) -> protocol.ProtocolError | None:
    """The error frame for one of the service's own errors (None: not one of them)."""
    if isinstance(failure, ProtocolError):
        return failure
    if isinstance(failure, REPLIED):
        return ProtocolError(ErrorCode(failure.code), str(failure), **failure.details)
    return None


class EnvelopeSession:
    __slots__ = ("_actions", "_conn", "_previous_request_id", "_requests", "_services")

    def __init__(self, conn: Connection, services: Services, actions: dict[str, Action]) -> None:
        self._conn = conn
        self._services = services
        self._actions = actions
        self._requests = 0
        self._previous_request_id: protocol.RequestId | None = None  # event_wrong_request_id

    def hello(self) -> protocol.Message:
        return protocol.connected(self._conn.channel, self._conn.id)

    async def handle(self, message: str | bytes) -> None:
        conn, bugs = self._conn, self._services.bugs
        if isinstance(message, bytes):
            self._log_in(None, message, kind="binary")
            await conn.reply(
                protocol.error(
                    None,
                    protocol.ProtocolError(
                        ErrorCode.INVALID_MESSAGE,
                        "binary frames are not supported: send the JSON request as a text frame",
                    ),
                )
            )
            return
        try:
            obj = protocol.decode_object(message)
        except protocol.ProtocolError as failure:
            self._log_in(None, message)
            if bugs.close_on_invalid_json and failure.code == ErrorCode.INVALID_JSON:
                conn.close_soon(1000, "")  # the lab's defect (the original stand's)
                return
            self._services.requests.observe(NO_ACTION, str(failure.code), 0.0)
            await conn.reply(protocol.error(None, failure))
            return
        request_id = protocol.request_id_of(obj, self._assign_request_id)
        self._log_in(request_id, message, action=obj.get("action"))
        ack = protocol.ack(request_id)
        if "fault" in obj:  # a trainee asks for this request's replies to go wrong
            await self._run_with_fault(obj, request_id, ack)
            return
        if self._services.fault_rules.rules:  # a teacher's scenario (fault_rules.py)
            fault = self._services.fault_rules.pick(obj.get("action"), conn.channel)
            if fault is not None:
                await self._run_with_fault(obj, request_id, ack, fault)
                return
        ctx_bugs = _NO_BUGS
        if bugs.ack_after_data or bugs.event_wrong_request_id:  # the lab's (lab/bugs.py)
            ctx_bugs = {}
            if bugs.event_wrong_request_id:
                ctx_bugs["event_request_id"] = self._previous_request_id
            if bugs.ack_after_data:
                ctx_bugs["late_ack"] = [ack]  # sent after the first reply (ActionContext)
        if not bugs.ack_after_data:
            await conn.reply(ack)
        self._previous_request_id = request_id
        await self._run(obj, request_id, ctx_bugs)

    async def _run_with_fault(
        self,
        obj: dict[str, Any],
        request_id: protocol.RequestId,
        ack: protocol.Message,
        fault: Fault | None = None,
    ) -> None:
        """faults.py: the ack as the fault says, the action's replies collected, then sent
        the way the fault says (maybe later, from a task of the connection). `fault`: a
        rule's; else the request's own `fault` field."""
        conn = self._conn
        if fault is None:
            try:
                fault = wire_faults.parse_fault(obj["fault"])
            except protocol.ProtocolError as failure:
                await conn.reply(ack)
                await conn.reply(protocol.error(request_id, failure))
                return
        await faults.send_acks(conn, fault, ack)
        collecting = faults.CollectingConnection(conn)
        await self._run(obj, request_id, _NO_BUGS, collecting)  # type: ignore[arg-type]
        await faults.deliver(conn, fault, collecting.collected)

    async def _run(
        self,
        obj: dict[str, Any],
        request_id: protocol.RequestId,
        ctx_bugs: dict[str, Any],
        conn: Connection | None = None,
    ) -> None:
        conn = self._conn if conn is None else conn
        late_ack = ctx_bugs.get("late_ack")
        started, outcome = trio.current_time(), "ok"
        try:
            request = protocol.parse_request(obj, request_id)
            action = self._actions.get(request.action)
            if action is None:
                raise protocol.unknown_action(request.action)
            await action(
                ActionContext(request, conn, self._services)
                if ctx_bugs is _NO_BUGS
                else ActionContext(request, conn, self._services, **ctx_bugs)
            )
        except* REPLIED as group:
            failure = as_protocol_error(_first(group))
            assert failure is not None
            outcome = str(failure.code)
            if late_ack:  # (ack_after_data) no data came: the ack goes before the error
                await conn.reply(late_ack.pop())
            await conn.reply(protocol.error(request_id, failure))
        except* Exception:
            outcome = str(ErrorCode.INTERNAL_ERROR)
            log.exception(
                "action failed", extra={"fields": {**conn.fields, "request_id": request_id}}
            )
            await conn.reply(
                protocol.error(
                    request_id,
                    protocol.ProtocolError(
                        ErrorCode.INTERNAL_ERROR, "the server failed to handle this request"
                    ),
                )
            )
            conn.close_soon(INTERNAL_ERROR, "internal error")
        finally:  # counted also when cancelled (a close); the outcome is then what it was
            self._services.requests.observe(
                obj.get("action"), outcome, trio.current_time() - started
            )

    def _assign_request_id(self) -> str:
        self._requests += 1
        if self._services.bugs.no_id_request_id:
            return "no-id"  # the lab's defect (the original stand's behaviour)
        return f"srv-{self._conn.id}-{self._requests}"

    def _log_in(
        self, request_id: protocol.RequestId | None, message: str | bytes, **fields: Any
    ) -> None:
        logs.info(
            log,
            "frame in",
            **self._conn.fields,
            request_id=request_id,
            size=len(message),
            **fields,
            **self._conn.payload_fields(message),
        )


_NO_BUGS: dict[str, Any] = {}


def _first(group: BaseExceptionGroup[Exception]) -> Exception:
    failure = group.exceptions[0]
    return failure if not isinstance(failure, BaseExceptionGroup) else _first(failure)
