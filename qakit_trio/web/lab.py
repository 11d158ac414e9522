"""The lab's REST routes, for teachers: which defects are on (lab/bugs.py), which faults.

    GET /lab/bugs                           -> {"bugs": [{"name", "enabled", "surface", "summary"}]}
    PUT /lab/bugs {"enabled": ["name", ...]} -> the same, after the change (replaces the set)
    GET | PUT | DELETE /lab/faults          -> {"seed", "rules"}: server-wide fault rules
                                               (lab/fault_rules.py)
    POST /lab/blip {"channel"?, "reset_history"?}
                                            -> {"closed", "channel", "history_reset"}: the /ws
        connections in `channel` (every one: no channel) closed with 1012 "service restart",
        and with `reset_history` that channel's history (every channel's) started again
        under a new epoch, as a restart without a durable history would: reconnect practice

An unknown name is a 422 naming it (FastAPI's body, like every other 422 here); the change is
logged as a WARNING: a stand with defects on should never be a surprise in its logs.
With QAKIT_CLUSTER=kafka the bugs and the fault rules are every instance's (lab/shared.py): a
change is written to PostgreSQL first (503 when the database does not take it: nothing
changed) and acts on every instance within a second. A blip stays this instance's: it closes
the connections this instance holds.
`PUT /lab/faults` takes at most MAX_RULES rules in a body of at most MAX_BODY_BYTES (413 past
it); an unknown key at any level is a 422 `extra_forbidden` item per key, as FastAPI answers a
model that forbids extra fields.
"""

from __future__ import annotations

import logging
from typing import Any

from quart_trio import QuartTrio

from qakit_trio.lab.fault_rules import MAX_BODY_BYTES, Loc, RuleError, unknown_keys
from qakit_trio.services import Services
from qakit_trio.web import bodies, http_errors
from qakit_trio.web.classroom import saving
from qakit_trio.wire.close_codes import SERVICE_RESTART
from qakit_trio.wire.protocol import channel_problem

log = logging.getLogger(__name__)


def register_lab(app: QuartTrio, services: Services) -> None:
    bugs = services.bugs

    @app.get("/lab/bugs")
    async def list_bugs() -> dict[str, Any]:
        return {"bugs": bugs.listing()}

    @app.put("/lab/bugs")
    async def set_bugs() -> dict[str, Any]:
        body = await bodies.json_object()
        loc: list[str | int] = ["body", "enabled"]
        if "enabled" not in body:
            raise http_errors.invalid(http_errors.missing(loc, body))
        names = body["enabled"]
        if not isinstance(names, list):
            raise http_errors.invalid(
                http_errors.problem("list_type", loc, "Input should be a valid list", names)
            )
        shared = services.lab.shared  # None: this instance's alone
        try:
            if shared is None:
                bugs.set_enabled(names)
            else:
                with saving():
                    await shared.set_bugs(names)
        except ValueError as error:
            raise http_errors.invalid(http_errors.refused_value(loc, names, str(error))) from None
        log.warning("lab bugs changed", extra={"fields": {"bugs": bugs.enabled()}})
        return {"bugs": bugs.listing()}

    rules = services.fault_rules

    @app.get("/lab/faults")
    async def list_faults() -> dict[str, Any]:
        return rules.listing()

    @app.put("/lab/faults")
    async def set_faults() -> dict[str, Any]:
        body = await bodies.json_object(max_bytes=MAX_BODY_BYTES)
        if extra := unknown_keys(body):
            raise http_errors.invalid(
                *(
                    http_errors.problem(
                        "extra_forbidden", ["body", *loc], "Extra inputs are not permitted", value
                    )
                    for loc, value in extra
                )
            )
        shared = services.lab.shared
        try:
            if shared is None:
                rules.replace(body)
            else:
                with saving():
                    await shared.set_fault_rules(body)
        except RuleError as error:
            raise http_errors.invalid(
                http_errors.refused_value(["body", *error.loc], _at(body, error.loc), str(error))
            ) from None
        log.warning("lab fault rules changed", extra={"fields": {"fault_rules": rules.listing()}})
        return rules.listing()

    @app.post("/lab/blip")
    async def blip() -> dict[str, Any]:
        body = await bodies.json_object(max_bytes=1024)
        if extra := sorted(set(body) - {"channel", "reset_history"}):
            raise http_errors.invalid(
                *(
                    http_errors.problem(
                        "extra_forbidden",
                        ["body", key],
                        "Extra inputs are not permitted",
                        body[key],
                    )
                    for key in extra
                )
            )
        channel, reset = body.get("channel"), body.get("reset_history", False)
        problem = None if channel is None else _channel_problem(channel)
        if problem is not None:
            raise http_errors.invalid(
                http_errors.refused_value(["body", "channel"], channel, problem)
            )
        if not isinstance(reset, bool):
            raise http_errors.invalid(
                http_errors.problem(
                    "bool_type", ["body", "reset_history"], "Input should be a valid boolean", reset
                )
            )
        hub = services.hub
        members = [m for m in hub.members() if channel is None or channel in m.channels]
        hub.close_members(members, SERVICE_RESTART, "service restart")
        closed = len(members)
        # (the stand-wide epoch_never_changes: the history starts again under the same epoch)
        reset_count = (
            hub.history.reset(channel, keep_epoch=bugs.epoch_never_changes) if reset else 0
        )
        answer = {"closed": closed, "channel": channel, "history_reset": reset_count}
        log.warning("lab blip", extra={"fields": answer})
        return answer

    @app.delete("/lab/faults")
    async def clear_faults() -> dict[str, Any]:
        shared = services.lab.shared
        if shared is None:
            rules.clear()
        else:
            with saving():
                await shared.clear_fault_rules()
        log.warning("lab fault rules cleared")
        return rules.listing()


def _channel_problem(channel: object) -> str | None:
    if not isinstance(channel, str):
        return "the channel must be a string (leave it out for every channel)"
    return channel_problem(channel)


def _at(body: Any, loc: Loc) -> Any:
    """The value at `loc` in the body (FastAPI's "input" of a problem), or None."""
    for step in loc:
        if isinstance(body, dict) and isinstance(step, str):
            body = body.get(step)
        elif isinstance(body, list) and isinstance(step, int) and step < len(body):
            body = body[step]
        else:
            return None
    return body
