"""The classroom's part of the OpenAPI document (web/classroom.py's routes), merged into
openapi.py's `document()`: bugs per trainee, findings proved by replay, the teacher's board.

Who may call what (QAKIT_AUTH=on; with it off, anyone may call anything, but assignments answer
409: without names there is no one to give a bug to):

    GET | PUT | DELETE /lab/assignments, POST /lab/assignments/shuffle,
    POST /lab/assignments/{name}/reveal, GET /lab/findings, /lab/findings.csv,
    /lab/classroom                                                   the teacher
    POST /lab/findings, GET /lab/findings/mine                      any signed-in user

BLIP: POST /lab/blip (web/lab.py, reconnection practice), the teacher's, a Lab route that
openapi.py lists beside /lab/faults.
"""

from __future__ import annotations

from typing import Any

from qakit_trio.classroom.budget import WINDOW as BUDGET_WINDOW
from qakit_trio.classroom.classroom import MAX_FINDINGS_EACH
from qakit_trio.classroom.steps import MAX_CONNS, MAX_STEPS, MAX_WAITING, REPLAY_SECONDS, TARGETS
from qakit_trio.web.classroom import FINDINGS_RATE, MAX_FINDING_BYTES, MAX_REPLY_CHARS

TAG = ["Classroom"]
TEACHER = " Teacher only (QAKIT_AUTH=on)."
ANY_USER = " Any signed-in user (QAKIT_AUTH=off: anyone)."
ERROR = {"$ref": "#/components/schemas/Error"}
INVALID = {"$ref": "#/components/schemas/HTTPValidationError"}
BUG_LIST = {"type": "array", "items": {"type": "string"}}
NAMES = {"type": "array", "items": {"type": "string"}, "description": "trainees"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


NO_AUTH = _error("QAKIT_AUTH is off: trainees have no names to give bugs to")
FORBIDDEN = _error("Not the teacher")
NOT_SAVED = _error("PostgreSQL did not keep the change (Retry-After)")
TABLE = {
    "type": "object",
    "additionalProperties": BUG_LIST,
    "description": "trainee -> their bugs",
    "example": {"ivan": ["list_orders_off_by_one"], "maria": ["duplicate_event"]},
}
LISTING = {
    "type": "object",
    "required": ["assignments", "revealed"],
    "properties": {"assignments": TABLE, "revealed": NAMES},
}
WRONG = {
    "type": "object",
    "required": ["step"],
    "description": "the reply said to be wrong: the step (from 1) and one of "
    + ", ".join(f"`{target}`" for target in TARGETS)
    + " (from 1): a reply frame, an `event` log line, a Kafka record the step caused",
    "properties": {"step": {"type": "integer", "minimum": 1}}
    | {target: {"type": "integer", "minimum": 1} for target in TARGETS},
    "example": {"step": 4, "frame": 2},
}
STEP = {
    "type": "object",
    "description": "a WebSocket frame {conn, path (first step of a connection), send | text, "
    "wait_ms} or a REST call {http: GET|POST, path (/orders…, /stats, /broadcast, /health), "
    "json, wait_ms}; wait_ms (0..10000, default 1000) is virtual time before the next step: "
    "0 sends the next at once (a race)",
    "properties": {
        "conn": {"type": "string", "maxLength": 32},
        "path": {"type": "string"},
        "send": {},
        "text": {"type": "string"},
        "http": {"type": "string", "enum": ["GET", "POST"]},
        "json": {},
        "wait_ms": {"type": "integer", "minimum": 0, "maximum": 10_000},
    },
}
FINDING = {
    "type": "object",
    "required": ["id", "status", "trainee", "at", "wrong", "clean", "buggy", "detail"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["confirmed", "not_reproduced"]},
        "bug": {"type": "string", "description": "only when confirmed: the bug that did it"},
        "trainee": {"type": "string", "nullable": True},
        "at": {"type": "string", "format": "date-time"},
        "wrong": WRONG,
        "expected": {"type": "string"},
        "actual": {"type": "string"},
        "clean": {"description": "the pointed reply on the clean twin (null: none)"},
        "buggy": {"description": "and on the twin with the trainee's bugs"},
        "detail": {"type": "string"},
        "steps": {"type": "integer", "description": "how many steps were replayed"},
    },
}
FINDINGS = {"type": "object", "properties": {"findings": {"type": "array", "items": FINDING}}}


def _assignments() -> dict[str, Any]:
    listed = _json(LISTING, "Who has which bugs, and whose were revealed")
    return {
        "get": {
            "summary": "The bugs given to each trainee." + TEACHER,
            "tags": TAG,
            "responses": {"200": listed, "403": FORBIDDEN},
        },
        "put": {
            "summary": "Replace the whole table of bugs per trainee." + TEACHER,
            "description": "A trainee must have taken a token; every bug of the catalogue "
            "may be given. Unknown names, duplicates: 422 naming them.",
            "tags": TAG,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["assignments"],
                    "properties": {"assignments": TABLE},
                }
            ),
            "responses": {
                "200": listed,
                "403": FORBIDDEN,
                "409": NO_AUTH,
                "413": _error("Body too large"),
                "422": _json(INVALID, "Unknown trainee or bug, a duplicate"),
                "503": NOT_SAVED,
            },
        },
        "delete": {
            "summary": "Nobody has bugs of their own any more." + TEACHER,
            "tags": TAG,
            "responses": {"200": listed, "403": FORBIDDEN, "503": NOT_SAVED},
        },
    }


def _shuffle() -> dict[str, Any]:
    deal = {
        "type": "object",
        "required": ["pool"],
        "properties": {
            "pool": {**BUG_LIST, "minItems": 1},
            "per_trainee": {"type": "integer", "minimum": 1, "default": 1},
            "seed": {
                "type": "integer",
                "minimum": 0,
                "description": "the same seed, the same deal",
            },
            "trainees": {**NAMES, "description": "default: everyone who has taken a token"},
        },
        "example": {"pool": ["ack_after_data", "duplicate_event"], "seed": 42},
    }
    dealt = {
        **LISTING,
        "properties": {"assignments": TABLE, "revealed": NAMES, "seed": {"type": "integer"}},
    }
    return {
        "post": {
            "summary": "Deal bugs from a pool: no two trainees share one while the pool "
            "allows." + TEACHER,
            "tags": TAG,
            "requestBody": _body(deal),
            "responses": {
                "200": _json(dealt, "The new table and the seed it was dealt with"),
                "403": FORBIDDEN,
                "409": NO_AUTH,
                "422": _json(INVALID, "An empty pool, an unknown bug or trainee, a duplicate"),
                "503": NOT_SAVED,
            },
        }
    }


BLIP = {
    "post": {
        "summary": "Close the /ws connections of a channel (every channel: {}) with 1012 "
        "service restart; with reset_history, start its history again under a new epoch: "
        "reconnect-and-recover practice." + TEACHER,
        "tags": ["Lab"],
        "requestBody": _body(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "channel": {"type": "string", "minLength": 1, "maxLength": 64},
                    "reset_history": {"type": "boolean", "default": False},
                },
            }
        ),
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "closed": {"type": "integer"},
                        "channel": {"type": "string", "nullable": True},
                        "history_reset": {"type": "integer"},
                    },
                },
                "How many connections were closed, and channel histories started again",
            ),
            "422": _json(INVALID, "A bad channel, reset_history or another key"),
        },
    }
}


def paths() -> dict[str, Any]:
    """The classroom's paths, for openapi.py's document."""
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    evidence = {
        "type": "object",
        "required": ["steps", "wrong"],
        "properties": {
            "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": STEP},
            "wrong": WRONG,
            "expected": {"type": "string", "maxLength": 1000},
            "actual": {"type": "string", "maxLength": 1000},
        },
    }
    rate = f"{FINDINGS_RATE.burst} at once, then one every {1 / FINDINGS_RATE.rate:g} s"
    mine = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "nullable": True},
            "findings": {"type": "array", "items": FINDING},
            "bugs": {**BUG_LIST, "description": "only those found, or all once revealed"},
            "assigned": {"type": "integer", "description": "how many bugs they were given"},
            "found": BUG_LIST,
        },
    }
    return {
        "/lab/assignments": _assignments(),
        "/lab/assignments/shuffle": _shuffle(),
        "/lab/assignments/{name}/reveal": {
            "post": {
                "summary": "Show this trainee their bugs on /me." + TEACHER,
                "tags": TAG,
                "parameters": [name],
                "responses": {
                    "200": _json({"type": "object"}, "name, bugs, revealed: true"),
                    "403": FORBIDDEN,
                    "404": _error("The trainee has no bugs"),
                    "503": NOT_SAVED,
                },
            }
        },
        "/lab/findings": {
            "post": {
                "summary": "Report a bug: the steps are replayed on a clean twin and on one "
                "with your bugs." + ANY_USER,
                "description": f"At most {MAX_STEPS} steps, {MAX_CONNS} connections, "
                f"{MAX_FINDING_BYTES // 1024} KiB; {REPLAY_SECONDS:g} s of replay; {rate} "
                f"per user; {MAX_FINDINGS_EACH} findings per trainee. Replays run one at a "
                f"time; with {MAX_WAITING} waiting, or when replays took half of the last "
                f"{BUDGET_WINDOW:g} s, the next gets 503. Each reply is kept up to "
                f"{MAX_REPLY_CHARS // 1024} KiB of JSON.",
                "tags": TAG,
                "requestBody": _body(evidence),
                "responses": {
                    "201": _json(FINDING, "The verdict"),
                    "401": _error("No token (QAKIT_AUTH=on)"),
                    "409": _error(f"You have {MAX_FINDINGS_EACH} findings already"),
                    "413": _error(f"Body over {MAX_FINDING_BYTES // 1024} KiB"),
                    "422": _json(INVALID, "Bad steps, or the replay took too long"),
                    "429": _error("Too many findings (Retry-After)"),
                    "503": _error("Other findings are being replayed (Retry-After)"),
                },
            },
            "get": {
                "summary": "Every finding of the class." + TEACHER,
                "description": "Without their `clean` and `buggy` replies; with `?trainee=NAME`, "
                "NAME's findings whole.",
                "tags": TAG,
                "parameters": [
                    {
                        "name": "trainee",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "one trainee's findings, with their replies",
                    }
                ],
                "responses": {"200": _json(FINDINGS, "Every finding"), "403": FORBIDDEN},
            },
            "delete": {
                "summary": "Clear every finding (a new class)." + TEACHER,
                "tags": TAG,
                "responses": {"200": _json(FINDINGS, "None left"), "403": FORBIDDEN},
            },
        },
        "/lab/findings/mine": {
            "get": {
                "summary": "Your findings and verdicts (what /me shows); never the name of a "
                "bug you have not found." + ANY_USER,
                "tags": TAG,
                "responses": {"200": _json(mine, "Yours")},
            }
        },
        "/lab/findings.csv": {
            "get": {
                "summary": "Every finding as CSV, for grading." + TEACHER,
                "tags": TAG,
                "responses": {
                    "200": {
                        "description": "id, at, trainee, status, bug, step, target, "
                        "expected, actual",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "403": FORBIDDEN,
                },
            }
        },
        "/lab/classroom": {
            "get": {
                "summary": "The board's data (/classroom): people, connections, bugs, "
                "findings, progress." + TEACHER,
                "tags": TAG,
                "responses": {
                    "200": _json({"type": "object"}, "auth, stand_bugs, tables, people"),
                    "403": FORBIDDEN,
                },
            }
        },
    }
