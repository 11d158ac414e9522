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
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, cast

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


_ENCODE = compact_encoder(default=str)  # the encoder every formatter makes (`_encode`)


def _placed(key: str, value: object) -> str:
    """One field as a JSON member, placed by log_fields.place (its one type, or `_text`)."""
    name, placed = place(key, value, _ENCODE)
    return f"{_quote(name)}:{_ENCODE(placed)}"


def tail_renderer(keys: tuple[str, ...]) -> Callable[..., str]:
    """A function of (preset, *values) -> the JSON members of `keys`' fields, each after a
    comma, what JsonFormatter.members writes of dict(zip(keys, values)) (a None value:
    absent), preset first: generated once per logs.Line, so each field is one conditional
    expression with its key already encoded (issue 30: 2.5 against 4.1 µs a `frame out` line
    through a loop over the keys)."""
    names = [f"v{i}" for i in range(len(keys))]
    parts = []
    for key, v in zip(keys, names, strict=True):
        slow = f"'' if {v} is None else ',' + placed({key!r}, {v})"
        spec = _PREFIXES.get(key)
        if spec is None:
            parts.append(slow)
            continue
        prefix, kind = spec
        comma_prefix = repr("," + prefix)
        if kind is str:
            fast = f"{comma_prefix} + quote({v})"
        elif kind is int:
            fast = f"{comma_prefix} + int.__repr__({v})"
        else:
            fast = f"{comma_prefix} + ('true' if {v} else 'false')"
        parts.append(f"({fast}) if {v}.__class__ is {kind.__name__} else {slow}")
    code = (
        f"def render(preset, {', '.join(names)}):\n    return ''.join((preset, {', '.join(parts)}))"
    )
    scope: dict[str, Any] = {"quote": _quote, "placed": _placed}
    # (the code holds our own keys and prefixes, as Python literals: repr)
    exec(compile(code, f"<log line {' '.join(keys)}>", "exec"), scope)
    return cast(Callable[..., str], scope["render"])


class Fields(dict[str, Any]):
    """Log fields that every line about one thing carries (a connection's `conn`, `channel`,
    `user`), their JSON made once, at its first line: `logs.info(log, msg, fields, **more)`
    (logs.py). Any change makes it again."""

    __slots__ = ("_by", "_json")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._json = ""
        self._by: JsonFormatter | None = None  # the formatter that made _json

    def json_by(self, formatter: JsonFormatter) -> str:
        if self._by is not formatter:
            self._json, self._by = formatter.members(self), formatter
        return self._json

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._by = None

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._by = None

    def __ior__(self, other: Any) -> Fields:  # type: ignore[override,misc]
        self.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._by = None

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._by = None
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._by = None
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._by = None
        return super().popitem()

    def clear(self) -> None:
        super().clear()
        self._by = None


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
        self,
        created: float,
        level: str,
        logger: str,
        msg: str,
        fields: dict[str, object] | None,
        about: dict[str, Any] | None = None,
    ) -> str:
        """The line as JSON; the part after `@timestamp` is encoded once per (level, logger,
        msg): a few hundred distinct lines, each written thousands of times. `about`: fields
        written before `fields` (a key in both: `fields`' value), encoded once when they are
        `Fields`. Never raises on the content of the fields (see module docstring)."""
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
        if about and (
            type(about) is not Fields or (fields and not about.keys().isdisjoint(fields))
        ):
            fields, about = {**about, **(fields or {})}, None  # one dict: the later key wins
        tail = self.members(fields) if fields else ""
        if isinstance(about, Fields) and about:  # (else None, by now)
            preset = about.json_by(self)
            if len(preset) + len(tail) >= MAX_FIELDS_CHARS:  # cut as one set of fields
                tail = self._capped({**about, **(fields or {})})
            else:
                tail = f"{preset},{tail}" if tail else preset
        tail = redacted(tail)  # QAKIT_AUTH=on: no secret, wherever it came from, is written
        ts = iso_utc(created)
        return f'{{"@timestamp":"{ts}",{head}{"," if tail else ""}{tail}}}'

    def render_tail(self, created: float, logger: str, msg: str, tail: str) -> str | None:
        """An INFO line whose fields are already JSON members (a logs.Line's `tail`); None
        when render must write it: the first line of its kind (render encodes its head and
        keeps it), or fields too long (render cuts them)."""
        head = self._heads.get(("INFO", logger, msg))
        if head is None or len(tail) > MAX_FIELDS_CHARS:
            return None
        tail = redacted(tail)  # QAKIT_AUTH=on: no secret, wherever it came from, is written
        return f'{{"@timestamp":"{iso_utc(created)}",{head}{"," if tail else ""}{tail}}}'

    def members(self, fields: dict[str, object]) -> str:
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
