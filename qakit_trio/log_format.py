"""The JSON line of one log record, in the Elastic Common Schema (logs.py writes them).

`JsonFormatter.render` is on the hot path: every request writes five lines (`frame in`, three
`frame out`, `event`). The part after `@timestamp` is encoded once per (level, logger, message),
and the fields by a renderer compiled once per *shape* (the line's keys, in order): straight-line
code that writes each declared field whose value is exactly of its type (str, int, bool) with its
key already encoded and its value by the C string encoder, and hands anything else to `_slow`
(`log_fields.place`: the field's one type, or `_text`). Issue 30 measured the loop it replaces at
about 45 % of a line's cost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
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
# Shapes compiled per formatter. The stand's own lines have a few dozen; a caller whose keys
# vary without end gets the generic renderer past this (a few KiB of code each: bounded).
MAX_SHAPES = 512

Slow = Callable[[str, object], str]
Render = Callable[[Iterable[object], Slow], str]


def _compile(shape: tuple[str, ...]) -> Render:
    """The renderer of one shape: `,"k":v` for each field, in order (the caller drops the first
    comma). Generated source, like `collections.namedtuple`'s: one comparison per field."""
    names = [f"v{i}" for i in range(len(shape))]
    unpack = ", ".join(names) + ("," if len(names) == 1 else "")
    lines = ["def render(values, slow):", f"    {unpack} = values"]
    parts = []
    constants: dict[str, object] = {"q": _quote, "int_repr": int.__repr__}
    for i, key in enumerate(shape):
        v, k = names[i], f"k{i}"
        constants[k] = key
        spec = _PREFIXES.get(key)
        if spec is None:
            parts.append(f"slow({k}, {v})")
            continue
        prefix, kind = spec
        p = f"p{i}"
        constants[p] = "," + prefix
        if kind is str:
            parts.append(f"({p} + q({v}) if {v}.__class__ is str else slow({k}, {v}))")
        elif kind is int:
            parts.append(f"({p} + int_repr({v}) if {v}.__class__ is int else slow({k}, {v}))")
        else:
            parts.append(
                f"({p} + ('true' if {v} else 'false') if {v}.__class__ is bool else slow({k}, {v}))"
            )
    lines.append("    return " + (" + ".join(parts) if parts else "''"))
    namespace = dict(constants)
    exec("\n".join(lines), namespace)  # the code names locals by index only: no key in it
    render: Render = namespace["render"]  # type: ignore[assignment]
    return render


class JsonFormatter(logging.Formatter):
    """One ECS line per record: {"@timestamp", "log.level", "message", "log.logger",
    "ecs.version", "service.name", "service.version", **fields placed by log_fields.py}."""

    def __init__(self) -> None:
        super().__init__()
        self._encode = compact_encoder(default=str)
        self._heads: dict[tuple[str, str, str], str] = {}  # the JSON after @timestamp
        self._shapes: dict[tuple[str, ...], Render] = {}  # a line's keys -> its renderer
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
        """The fields as JSON members, each under its ECS name with its one type, written by the
        renderer compiled for this line's shape (its keys, in order: `_shape`). A line has a few
        dozen shapes, each written thousands of times (W2 benchmark: five lines per request)."""
        shape = tuple(fields)
        render = self._shapes.get(shape)
        if render is None and len(self._shapes) < MAX_SHAPES:
            render = self._shapes[shape] = _compile(shape)
        if render is not None:
            tail = render(fields.values(), self._slow)
        else:  # a caller whose keys vary without end: every field the slow way
            tail = "".join([self._slow(key, value) for key, value in fields.items()])
        if len(tail) <= MAX_FIELDS_CHARS + 1:  # (the leading comma is not the fields')
            return tail[1:]
        return self._capped(fields)

    def _slow(self, key: str, value: object) -> str:
        """One field the compiled renderer did not write directly: `,"name":json` ('' for None)."""
        if value is None:
            return ""  # absent, not null: one type per field
        name, placed = place(key, value, self._encode)
        return f",{_quote(name)}:{self._encode(placed)}"

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
