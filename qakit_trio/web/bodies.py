"""Reading a JSON request body, as every REST route here does it: FastAPI's rules (the original
stand's), then the rule of every door (protocol.decode_json: UTF-8, no lone surrogates, bounded
nesting). Every refusal is FastAPI's 422 body (http_errors.py)."""

from __future__ import annotations

from email.message import Message
from typing import Any, cast

from quart import request

from qakit_trio.web import http_errors
from qakit_trio.wire import protocol


def _is_json(content_type: str | None) -> bool:
    """FastAPI reads the body as JSON with no Content-Type or a JSON one (`*/json`, `*+json`);
    any other type leaves it as bytes, which no JSON model accepts."""
    if not content_type:
        return True
    header = Message()
    header["content-type"] = content_type
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def json_object() -> dict[str, Any]:
    """The request's body, a JSON object; HttpError 422 when it is missing (or JSON null), not
    sent as JSON, not UTF-8, not JSON, or not an object."""
    raw = cast(bytes, await request.get_data(as_text=False))
    if not raw:
        raise http_errors.invalid(http_errors.missing(["body"], None))
    if not _is_json(request.headers.get("Content-Type")):
        raise http_errors.invalid(http_errors.not_an_object(raw.decode("utf-8", "replace")))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise http_errors.invalid(http_errors.problem(
            "json_invalid", ["body", error.start], "JSON decode error", {},
            {"error": f"the body is not UTF-8 text: {error.reason}"})) from None
    try:
        body = protocol.decode_json(text)
    except protocol.ProtocolError as error:
        raise http_errors.invalid(http_errors.not_json(text, error.message)) from None
    if body is None:
        raise http_errors.invalid(http_errors.missing(["body"], None))
    if not isinstance(body, dict):
        raise http_errors.invalid(http_errors.not_an_object(body))
    return body
