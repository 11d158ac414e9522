"""HTTP error bodies as the original QA Kit stand's REST API (FastAPI) wrote them, so that a
trainee's checks written against it pass here too. Pure: builds dicts, no I/O.

    422  {"detail": [{"type", "loc", "msg", "input"(, "ctx")}]}   one item per problem
    404  {"detail": "Not Found"}            (no such route)  {"detail": "Order not found"}
    405  {"detail": "Method Not Allowed"}   with an Allow header
    any other status: {"detail": <the HTTP reason phrase>}
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


class HttpError(Exception):
    """An HTTP answer other than 200: a status, a JSON body and maybe headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("detail"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def problem(
    kind: str, loc: list[str | int], msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        item["ctx"] = ctx
    return item


def invalid(*problems: dict[str, Any]) -> HttpError:
    """422 Unprocessable Entity, FastAPI's validation error body."""
    return HttpError(422, {"detail": list(problems)})


def missing(loc: list[str | int], value: Any) -> dict[str, Any]:
    return problem("missing", loc, "Field required", value)


def not_a_string(loc: list[str | int], value: Any) -> dict[str, Any]:
    return problem("string_type", loc, "Input should be a valid string", value)


def not_an_object(value: Any) -> dict[str, Any]:
    return problem(
        "model_attributes_type",
        ["body"],
        "Input should be a valid dictionary or object to extract fields from",
        value,
    )


def not_an_integer(loc: list[str | int], value: str) -> dict[str, Any]:
    return problem(
        "int_parsing",
        loc,
        "Input should be a valid integer, unable to parse string as an integer",
        value,
    )


def not_json(text: str, why: str) -> dict[str, Any]:
    """The body does not parse: where and why, as json.loads says it (our stricter rule's
    reason when json.loads would have taken it)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return problem(
            "json_invalid", ["body", error.pos], "JSON decode error", {}, {"error": error.msg}
        )
    except (ValueError, RecursionError):
        pass
    return problem("json_invalid", ["body", 0], "JSON decode error", {}, {"error": why})


def refused_value(loc: list[str | int], value: Any, why: str) -> dict[str, Any]:
    """Our own rules (not the original's): a value of the right type that is still refused."""
    return problem("value_error", loc, f"Value error, {why}", value, {"error": {}})


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def plain(status: int, headers: dict[str, str] | None = None) -> HttpError:
    """{"detail": "Not Found"} and the like."""
    return HttpError(status, {"detail": phrase(status)}, headers)
