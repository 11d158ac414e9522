"""Where each field of a log line goes in the Elastic Common Schema (ECS 8.17), with its one type.

Elasticsearch maps a field by the first value it sees: a field that is an integer on one line
and a string on the next is rejected or mapped wrongly. So every field a line can carry is
declared here once, with its ECS name and its one JSON type, and `place` makes every value fit:

- fields ECS defines keep their ECS names (`event.id`, `error.message`, `url.path`, ...);
- our own fields live under `qakit.` (`conn` is written as `qakit.connection_id`);
- `str` fields are always strings: a `request_id` the client sent as the number 5 is written
  as "5" (its JSON text), and a field nobody declared is written as `qakit.<name>`, a string;
- `JSON` fields (what a client chose the shape of: an event's `extra`, a lab listing) are
  written as their JSON text, one string: their inner keys never become fields;
- a number that is not a number (a bug) goes to `<name>_text` as a string, never as the wrong
  type in the right field.

Names never nest inside each other (no `qakit.frame` next to `qakit.frame.type`): the suite
checks that, checks every ECS name against ECS 8.17's own field list, and collects every line
of a whole session to find any field with two types (tests/test_log_fields.py).

Pure: no trio, no logging. The formatter (logs.py) calls it once per field.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import unquote_plus

ECS_VERSION: Final = "8.17.0"
SERVICE_NAME: Final = "qa-websocket"  # the original stand's name: the guides' Kibana queries


class JSON:
    """The type of a field written as the JSON text of its value (never matches a value)."""


class Texts:
    """The type of a field written as a list of strings (never matches a value: each item is
    made a string)."""


MAX_FIELD_CHARS = 1024  # a logged string (or encoded value) longer than this is cut
MAX_ITEMS = 32  # a list field keeps this many items at most

# our name -> (the name on the line, the one type of its value)
FIELDS: Final[dict[str, tuple[str, type]]] = {
    # a connection and its frames
    "conn": ("qakit.connection_id", str),
    "channel": ("qakit.channel", str),
    "request_id": ("qakit.request_id", str),
    "action": ("qakit.action", str),
    "type": ("qakit.frame.type", str),
    "kind": ("qakit.frame.kind", str),
    "size": ("qakit.frame.size", int),
    "payload": ("qakit.frame.payload", str),
    "truncated": ("qakit.frame.truncated", bool),
    "error_code": ("qakit.error_code", str),
    "close_code": ("qakit.close.code", int),
    "close_reason": ("qakit.close.reason", str),
    "source": ("qakit.source", str),
    "delivered": ("qakit.delivered", int),
    "user": ("user.name", str),  # QAKIT_AUTH=on: who sent it (auth/)
    "role": ("user.roles", str),
    # events (pipeline/events.py)
    "event_id": ("event.id", str),
    "event_action": ("event.action", str),
    "extra": ("qakit.extra", JSON),
    "order_id": ("qakit.order_id", int),
    # failures
    "error": ("error.message", str),
    "error_type": ("error.type", str),
    "error_stack_trace": ("error.stack_trace", str),
    # HTTP access lines (access_log.py)
    "http_method": ("http.request.method", str),
    "http_version": ("http.version", str),
    "url_path": ("url.path", str),
    "url_query": ("url.query", str),
    "status": ("http.response.status_code", int),
    "client": ("client.address", str),
    "user_agent": ("user_agent.original", str),
    "duration_ns": ("event.duration", int),
    # channels: recovery (sessions/channel_actions.py), the teacher's blip (web/lab.py)
    "subscribed_to": ("qakit.channel_subscribed", str),
    "since": ("qakit.recovery.since", int),
    "offset": ("qakit.offset", int),
    "replayed": ("qakit.recovery.replayed", int),
    "closed": ("qakit.closed", int),
    "history_reset": ("qakit.history_reset", int),
    # slow consumers, keepalive, the hub
    "why": ("qakit.why", str),
    "queued_bytes": ("qakit.queued.bytes", int),
    "queued_frames": ("qakit.queued.frames", int),
    "stalled_s": ("qakit.stalled_s", float),
    "connections": ("qakit.connections", int),
    "inspectors": ("qakit.inspectors", int),
    "dropped": ("qakit.dropped", int),
    # services, adapters, supervision
    "service": ("qakit.service", str),
    "restarts": ("qakit.restarts", int),
    "pause_s": ("qakit.pause_s", float),
    "store": ("qakit.store", str),
    "kafka": ("qakit.kafka", str),
    "topic": ("qakit.kafka_topic", str),
    "buffer": ("qakit.kafka_buffer", int),
    "spool": ("qakit.spool_bytes", int),
    "spooled": ("qakit.spooled", int),
    "left": ("qakit.left", int),
    "rows": ("qakit.rows", int),
    "bugs": ("qakit.bugs", Texts),
    "fault_rules": ("qakit.fault_rules", JSON),
    "seed": ("qakit.seed", int),
    # the classroom (classroom/): its tables, a finding's verdict
    "trainees": ("qakit.classroom.trainees", int),
    "findings": ("qakit.classroom.findings", int),
    "finding_id": ("qakit.classroom.finding_id", int),
    "bug": ("qakit.classroom.bug", str),
    "verdict": ("qakit.classroom.verdict", str),
    "retry_s": ("qakit.retry_s", float),
    # the cluster (cluster/) and --workers (workers.py)
    "instance": ("qakit.cluster.instance", str),
    "position": ("qakit.cluster.bus_position", int),
    "read": ("qakit.cluster.bus_read", int),
    "pid": ("qakit.worker.pid", int),
    "parent_pid": ("qakit.worker.parent_pid", int),
    "exit_code": ("qakit.worker.exit_code", int),
    "signal": ("qakit.signal", str),
    "bind": ("qakit.bind", str),
    # the "ready" line: where the stand listens
    "portal": ("qakit.urls.portal", Texts),
    "ws": ("qakit.urls.ws", Texts),
    "ws_orders": ("qakit.urls.ws_orders", Texts),
    "docs": ("qakit.urls.docs", Texts),
    "health": ("qakit.urls.health", Texts),
}

NAMES: Final = frozenset(name for name, _ in FIELDS.values())

# The keys every line starts with (logs.py writes them): no field may take their names.
HEAD: Final = (
    "@timestamp",
    "log.level",
    "message",
    "log.logger",
    "ecs.version",
    "service.name",
    "service.version",
    "service.node.name",
)

Encode = Callable[[object], str]


def safe_repr(value: object) -> str:
    try:
        return reprlib.repr(value)  # depth- and size-limited: safe on cycles and deep nesting
    except Exception:
        return f"<a {type(value).__name__} that cannot be shown>"


def cut(text: str) -> str:
    if len(text) <= MAX_FIELD_CHARS:
        return text
    return f"{text[:MAX_FIELD_CHARS]}... ({len(text)} characters, cut)"


def as_text(value: object, encode: Encode) -> str:
    """A value as one string: itself if it is one, else its JSON text (its repr if JSON
    cannot encode it: a cycle, nesting too deep)."""
    return value if isinstance(value, str) else json_text(value, encode)


def json_text(value: object, encode: Encode) -> str:
    """A value's JSON text (a string's too: quoted); its repr if JSON cannot encode it."""
    try:
        return encode(value)
    except (ValueError, TypeError, RecursionError):
        return safe_repr(value)


def place(key: str, value: object, encode: Encode) -> tuple[str, object]:
    """The name and value of one field on the line, of the field's one type. The formatter's
    own fast path has already taken values that are exactly of the declared type."""
    spec = FIELDS.get(key)
    if spec is None:
        name = f"qakit.{key}"
        return f"{name}_text" if name in NAMES else name, as_text(value, encode)
    name, kind = spec
    if kind is str:
        return name, as_text(value, encode)
    if kind is JSON:
        return name, json_text(value, encode)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return name, int(value)  # an IntEnum (a close code): the number
    if (
        kind is float
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and (math.isfinite(value))
    ):
        return name, float(value)  # (NaN and infinity are not JSON: as text, below)
    if kind is bool and isinstance(value, bool):
        return name, value
    if kind is Texts and isinstance(value, list | tuple | set | frozenset):
        return name, [as_text(item, encode) for item in value]
    return f"{name}_text", as_text(value, encode)


def capped(value: object) -> object:
    """One placed value cut to MAX_FIELD_CHARS, keeping its type (a list stays a list)."""
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, list):
        return [cut(str(item)) for item in value[:MAX_ITEMS]]
    return value


_NO_PAYLOAD: dict[str, object] = {}


def payload_fields(text: str | bytes, limit: int) -> dict[str, object]:
    """A frame's text for its log line, as one JSON *string* field (its inner keys never become
    fields of the line), cut at `limit` bytes of UTF-8; `truncated` says whether it was.
    `limit` 0: no payloads in the logs (QAKIT_LOG_PAYLOAD_MAX)."""
    payload, truncated = payload_values(text, limit)
    return _NO_PAYLOAD if payload is None else {"payload": payload, "truncated": truncated}


def payload_values(text: str | bytes, limit: int) -> tuple[str, bool] | tuple[None, None]:
    """payload_fields' `payload` and `truncated`, in that order (logs.Line); both None when
    `limit` is 0 (the fields are then absent)."""
    if not limit:
        return None, None
    if isinstance(text, bytes):  # a binary frame, shown as text where it can be
        text = text.decode("utf-8", "replace")
    text = redacted(text)
    if len(text) * 4 <= limit:  # a character is at most 4 bytes: fits without encoding
        return text, False
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", "ignore"), True


# With QAKIT_AUTH=on (sessions/identity.py calls `hide`), no secret is written anywhere a trainee
# or a log reader could copy it from (log lines, the inspector, Kafka records): a token (a JWT:
# three base64url parts, the first always "eyJ"), the teacher's token and the class code. Off,
# nothing is touched. Process-wide, like the clock protocol.set_deterministic chooses.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
HIDDEN = "***"
SECRET_PARAMETERS = frozenset({"token", "class_code"})  # query parameters shown as ***
_hiding: dict[str, frozenset[str]] = {}  # "literals" -> the secrets, once `hide` was called


def hide(literals: Iterable[str]) -> None:
    """From now on, `redacted` hides tokens and these `literals` (QAKIT_AUTH=on)."""
    _hiding["literals"] = _hiding.get("literals", frozenset()) | {s for s in literals if s}


def redacted(text: str) -> str:
    """`text` with every secret in it replaced by *** (unchanged while nothing is hidden)."""
    literals = _hiding.get("literals")
    if literals is None:
        return text
    if "eyJ" in text:
        text = _JWT.sub(HIDDEN, text)
    for literal in literals:
        if literal in text:
            text = text.replace(literal, HIDDEN)
    return text


def redacted_query(query: str) -> str:
    """A query string with its secret parameters (`token`, `class_code`, however encoded)
    shown as ***, and any other secret in it hidden (the access log)."""
    if "literals" not in _hiding or not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, _value = part.partition("=")
        parts.append(
            f"{name}={HIDDEN}" if sep and unquote_plus(name) in SECRET_PARAMETERS else part
        )
    return redacted("&".join(parts))
