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
        subtype == "json" or subtype.endswith("+json")
    )


async def _read(max_bytes: int | None) -> bytes:
    """The whole body; with `max_bytes`, HttpError 413 as soon as it is longer (by its
    Content-Length before reading anything, else as its chunks arrive)."""
    if max_bytes is None:
        return cast(bytes, await request.get_data(as_text=False))
    too_large = http_errors.HttpError(
        413,
        {
            "detail": f"the body is larger than {max_bytes} "
            f"bytes, the limit of {request.method} {request.path}"
        },
    )
    if (request.content_length or 0) > max_bytes:
        raise too_large
    raw = bytearray()
    async for chunk in request.body:
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    return bytes(raw)


async def json_object(max_bytes: int | None = None) -> dict[str, Any]:
    """The request's body, a JSON object; HttpError 422 when it is missing (or JSON null), not
    sent as JSON, not UTF-8, not JSON, or not an object; 413 when longer than `max_bytes`."""
    raw = await _read(max_bytes)
    if not raw:
        raise http_errors.invalid(http_errors.missing(["body"], None))
    if not _is_json(request.headers.get("Content-Type")):
        raise http_errors.invalid(http_errors.not_an_object(raw.decode("utf-8", "replace")))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise http_errors.invalid(
            http_errors.problem(
                "json_invalid",
                ["body", error.start],
                "JSON decode error",
                {},
                {"error": f"the body is not UTF-8 text: {error.reason}"},
            )
        ) from None
    try:
        body = protocol.decode_json(text)
    except protocol.ProtocolError as error:
        raise http_errors.invalid(http_errors.not_json(text, error.message)) from None
    if body is None:
        raise http_errors.invalid(http_errors.missing(["body"], None))
    if not isinstance(body, dict):
        raise http_errors.invalid(http_errors.not_an_object(body))
    return body
