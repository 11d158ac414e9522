"""Compact JSON text (`separators=(",", ":")`, non-ASCII kept), encoded by one C encoder made
once, not once per call.

`json.JSONEncoder.encode` builds a new C encoder (`c_make_encoder`) on every call: about 0.7 µs of
each frame and of each log line's JSON field (issue 30's profile of the W2 echo benchmark: four
encodes per request). The encoder made here is called directly. It keeps no state between calls:
it is made without the circular-reference markers, so a cycle raises RecursionError (as nesting
too deep does with the stdlib's) instead of ValueError; both are errors either way, and neither
ever reaches a frame (frames are built from parsed JSON, which has no cycles).
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import JSONEncoder, c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

Encode = Callable[[object], str]


def compact_encoder(default: Callable[[Any], Any] | None = None) -> Encode:
    """`JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=default).encode`, the
    same text, with its C encoder made once (the stdlib's pure-Python one if C is missing)."""
    stdlib = JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=default)
    if c_make_encoder is None:  # (CPython always has it)
        return stdlib.encode
    make = c_make_encoder(
        None,  # no markers: nothing kept between calls (see the module docstring)
        stdlib.default,
        encode_basestring,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as the stdlib's default
    )

    def encode(value: object) -> str:
        return "".join(make(value, 0))

    return encode
