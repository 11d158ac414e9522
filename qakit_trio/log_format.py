"""The JSON line of one log record, in the Elastic Common Schema (logs.py writes them).

`JsonFormatter.render` is on the hot path: every request writes five lines (`frame in`, three
`frame out`, `event`). The part after `@timestamp` is encoded once per (level, logger, message),
and each declared field whose value is exactly of its type (str, int, bool) with its key already
encoded and its value by the C string encoder; anything else goes through `log_fields.place`
(the field's one type, or `_text`). (Issue 30 tried renderers generated per key order: no gain
measurable against this loop, so the loop stayed.)
"""

from __future__ import annotations

import json
import logging
from json.encoder import encode_basestring

from qakit_trio import __version__
from qakit_trio.log_fields import ECS_VERSION, FIELDS, SERVICE_NAME, capped, place, redacted
from qakit_trio.wire.compact_json import compact_encoder
from qakit_trio.wire.stamps import iso_utc

ACCESS_LOGGER = "hypercorn.access"  # its lines differ every time: their heads are not kept
# our field name -> ('"its ECS name":', the one type the fast path writes directly)
_PREFIXES = {
    key: (f"{json.dumps(name)}:", kind)
    for key, (name, kind) in FIELDS.items()
    if kind in (str, int, bool)
}
_quote = encode_basestring  # a str as a JSON string (C); non-ASCII kept, as ensure_ascii=False
MAX_FIELDS_CHARS = 8 * 1024  # fields longer than this, encoded, are rebuilt with values cut


class JsonFormatter(logging.Formatter):
    """One ECS line per record: {"@timestamp", "log.level", "message", "log.logger",
    "ecs.version", "service.name", "service.version", **fields placed by log_fields.py}."""

    def __init__(self) -> None:
        super().__init__()
        self._encode = compact_encoder(default=str)
        self._heads: dict[tuple[str, str, str], str] = {}  # the JSON after @timestamp
        self.name_node(None)

    def name_node(self, node: str | None) -> None:
        """Every line from now on says `service.node.name` (the cluster's instance id)."""
        service: dict[str, str] = {
            "ecs.version": ECS_VERSION,
            "service.name": SERVICE_NAME,
            "service.version": __version__,
        }
        if node is not None:
            service["service.node.name"] = node
        self._service = self._encode(service)[1:-1]
        self._heads.clear()

    def render(
        self, created: float, level: str, logger: str, msg: str, fields: dict[str, object] | None
    ) -> str:
        """The line as JSON; the part after `@timestamp` is encoded once per (level, logger,
        msg): a few hundred distinct lines, each written thousands of times. Never raises on
        the content of `fields` (see module docstring)."""
        key = (level, logger, msg)
        head = self._heads.get(key)
        if head is None:
            head = (
                self._encode({"log.level": level.lower(), "message": msg, "log.logger": logger})[
                    1:-1
                ]
                + ","
                + self._service
            )
            if len(self._heads) < 1024 and logger != ACCESS_LOGGER:  # access lines all differ
                self._heads[key] = head
        tail = self._fields(fields) if fields else ""
        tail = redacted(tail)  # QAKIT_AUTH=on: no secret, wherever it came from, is written
        ts = iso_utc(created)
        return f'{{"@timestamp":"{ts}",{head}{"," if tail else ""}{tail}}}'

    def _fields(self, fields: dict[str, object]) -> str:
        """The fields as JSON members, each under its ECS name with its one type. The fast
        path writes a declared field whose value is exactly of its type (str, int, bool) with
        its key already encoded: cheaper than encoding a dict (W2 benchmark)."""
        parts = []
        prefixes = _PREFIXES
        for key, value in fields.items():
            spec = prefixes.get(key)
            if spec is not None:
                prefix, kind = spec
                if value.__class__ is kind:
                    if kind is str:
                        parts.append(prefix + _quote(value))  # type: ignore[arg-type]
                    elif kind is int:
                        parts.append(prefix + int.__repr__(value))
                    else:
                        parts.append(prefix + ("true" if value else "false"))
                    continue
            if value is None:
                continue  # absent, not null: one type per field
            name, placed = place(key, value, self._encode)
            parts.append(f"{_quote(name)}:{self._encode(placed)}")
        tail = ",".join(parts)
        if len(tail) <= MAX_FIELDS_CHARS:
            return tail
        return self._capped(fields)

    def _capped(self, fields: dict[str, object]) -> str:
        """The fields again, each value cut to MAX_FIELD_CHARS (log_fields.capped)."""
        placed: dict[str, object] = {}
        for key, value in fields.items():
            if value is not None:
                name, value = place(key, value, self._encode)
                placed[name] = capped(value)
        return self._encode(placed)[1:-1]

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, _ = record.exc_info
            fields = {
                **(fields or {}),
                "error_type": kind.__name__,
                "error": str(error),
                "error_stack_trace": self.formatException(record.exc_info),
            }
        return self.render(
            record.created, record.levelname, record.name, record.getMessage(), fields
        )
