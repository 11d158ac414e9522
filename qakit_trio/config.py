"""Settings, read once at start-up from the environment, strictly.

`load_settings(os.environ)` is called exactly once (by the CLI or by `qakit_trio.asgi`) and the
resulting frozen `Settings` is passed explicitly to whatever needs it. A value that does not
parse, is out of range, or a `QAKIT_*` variable we do not know (a typo would otherwise be
silently ignored) raises `ConfigError`, whose message names the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qakit_trio.errors import ConfigError
from qakit_trio.lab import bugs
from qakit_trio.wire import protocol
from qakit_trio.wire.origins import parse_hosts


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """One server's outbox limits (see the module docstring)."""

    max_frames: int = 256  # QAKIT_OUTBOX_SIZE
    max_bytes: int = 1024 * 1024  # QAKIT_OUTBOX_BYTES


# Both URLs of the QA Kit guides: /ws on 8002 (the current protocol), /ws/orders on 8000 (the
# legacy one, next to the REST orders API). Every route is served on both.
DEFAULT_BINDS = ("127.0.0.1:8002", "127.0.0.1:8000")
# The original stand's CORS_ALLOW_ORIGINS default: its portal (8090) and playground (8091).
DEFAULT_CORS_ORIGINS = (
    "http://localhost:8090",
    "http://localhost:8091",
    "http://127.0.0.1:8090",
    "http://127.0.0.1:8091",
)
PROFILES = ("qakit", "qa_kit")  # our documented contract; the original stand's behaviour


@dataclass(frozen=True)
class Settings:
    default_channel: str = "general"
    binds: tuple[str, ...] = DEFAULT_BINDS
    binds_given: bool = False  # QAKIT_BIND or --bind: a busy port is then an error
    profile: str = "qakit"  # QAKIT_PROFILE: "qa_kit" behaves like the original stand
    cors_allow_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS  # "*" allows any
    ws_allowed_origins: tuple[str, ...] | None = None  # more origins that may open a WebSocket
    allowed_hosts: tuple[str, ...] | None = None  # None: the default list (wire/origins.py)
    reset_orders_on_start: bool = False  # RESET_ORDERS_ON_START=true: ids start at 1 again
    log_payload_max: int = 2048  # bytes of a frame's text in its log line; 0: no payloads
    bugs: tuple[str, ...] = ()  # QAKIT_BUGS: the lab's defects on at start (lab/bugs.py)
    deterministic: int | None = None  # QAKIT_DETERMINISTIC=SEED: repeatable ids and times
    lab_pages: bool = True  # QAKIT_LAB_PAGES=0: no inspector, task tree, /debug/* (pages.py)
    max_inspectors: int = 8  # /ws/_inspect open at once; the next is closed 1013 (inspector.py)
    max_message_size: int = 1024 * 1024
    outbox_size: int = 256
    outbox_bytes: int = 1024 * 1024  # like Centrifugo's client queue (outbox.py)
    slow_consumer_timeout: float = 10.0  # no write progress this long: evicted (hub.py)
    ping_interval: float = 20.0
    close_timeout: float = 2.0
    shutdown_timeout: float = 5.0
    log_level: str = "INFO"
    fast_path: bool = True  # our hypercorn extension (transport/); False: plain ASGI
    database_url: str | None = None  # None: orders live in memory
    orders_channel: str = "orders"
    db_timeout: float = 5.0
    db_pool_size: int = 4
    kafka_bootstrap: str | None = None  # None: nothing is published to Kafka
    kafka_ws_topic: str = "ws_events"
    kafka_order_topic: str = "order_events"
    kafka_timeout: float = 5.0  # one attempt to reach Kafka (connect, or send and be acked)
    kafka_buffer: int = 10_000  # events waiting for Kafka, at most
    kafka_flush_timeout: float = 3.0  # at shutdown, how long to try to deliver what waits
    kafka_spool_dir: str | None = None  # None: no disk spool (kafka_spool.py)
    kafka_spool_bytes: int = 64 * 1024 * 1024  # unsent bytes the spool may hold

    @cached_property
    def outbox_limits(self) -> OutboxLimits:
        """One object for every connection's outbox meter."""
        return OutboxLimits(self.outbox_size, self.outbox_bytes)


# environment variable -> Settings field (docs/settings.md's table lists the same names)
KNOWN_VARIABLES: dict[str, str] = {
    "WS_DEFAULT_CHANNEL": "default_channel",
    "QAKIT_BIND": "binds",
    "QAKIT_PROFILE": "profile",
    "CORS_ALLOW_ORIGINS": "cors_allow_origins",
    "QAKIT_WS_ALLOWED_ORIGINS": "ws_allowed_origins",
    "QAKIT_ALLOWED_HOSTS": "allowed_hosts",
    "RESET_ORDERS_ON_START": "reset_orders_on_start",
    "QAKIT_LOG_PAYLOAD_MAX": "log_payload_max",
    "QAKIT_BUGS": "bugs",
    "QAKIT_DETERMINISTIC": "deterministic",
    "QAKIT_LAB_PAGES": "lab_pages",
    "QAKIT_MAX_INSPECTORS": "max_inspectors",
    "QAKIT_MAX_MESSAGE_SIZE": "max_message_size",
    "QAKIT_OUTBOX_SIZE": "outbox_size",
    "QAKIT_OUTBOX_BYTES": "outbox_bytes",
    "QAKIT_SLOW_CONSUMER_TIMEOUT": "slow_consumer_timeout",
    "QAKIT_PING_INTERVAL": "ping_interval",
    "QAKIT_CLOSE_TIMEOUT": "close_timeout",
    "QAKIT_SHUTDOWN_TIMEOUT": "shutdown_timeout",
    "QAKIT_LOG_LEVEL": "log_level",
    "QAKIT_FAST_PATH": "fast_path",
    "DATABASE_URL": "database_url",
    "QAKIT_ORDERS_CHANNEL": "orders_channel",
    "QAKIT_DB_TIMEOUT": "db_timeout",
    "QAKIT_DB_POOL_SIZE": "db_pool_size",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka_bootstrap",
    "KAFKA_WS_TOPIC": "kafka_ws_topic",
    "KAFKA_ORDER_TOPIC": "kafka_order_topic",
    "QAKIT_KAFKA_TIMEOUT": "kafka_timeout",
    "QAKIT_KAFKA_BUFFER": "kafka_buffer",
    "QAKIT_KAFKA_FLUSH_TIMEOUT": "kafka_flush_timeout",
    "QAKIT_KAFKA_SPOOL_DIR": "kafka_spool_dir",
    "QAKIT_KAFKA_SPOOL_BYTES": "kafka_spool_bytes",
}

# The process is stopped this long after QAKIT_SHUTDOWN_TIMEOUT at the latest (server.py's
# BACKSTOP_MARGIN): the whole shutdown, Kafka's flush included, must fit before then.
SHUTDOWN_MARGIN = 2.0

_BIND = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_bind(value: str) -> str:
    """Check one `HOST:PORT` (IPv6 hosts in brackets) and return it unchanged."""
    match = _BIND.match(value)
    if match is None or not 0 <= int(match["port"]) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8002)")
    return value


def _binds(value: str) -> tuple[str, ...]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("needs at least one HOST:PORT")
    return tuple(parse_bind(part) for part in parts)


def _origins(value: str) -> tuple[str, ...]:
    """A comma list of origins (`scheme://host[:port]`), or `*` for any."""
    parts = tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
    if not parts:
        raise ValueError("needs at least one origin (or *)")
    for part in parts:
        scheme, _, rest = part.partition("://")
        if part != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
            raise ValueError(f"{part!r} is not an origin like http://localhost:8090 (or *)")
    return parts


def _seed(value: str) -> int | None:
    """An integer seed; empty: off."""
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number (a seed)") from None


def _profile(value: str) -> str:
    if value not in PROFILES:
        raise ValueError(f"{value!r} is not one of {', '.join(PROFILES)}")
    return value


def _true_false(value: str) -> bool:
    """The original stand's spelling (`true`/`false`, any case), and 1/0."""
    if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"{value!r} is not true or false")
    return value.lower() in ("true", "1")


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{value!r} is not 0 or 1")
    return value == "1"


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise ValueError(f"{number} is below the minimum of {minimum}")
        return number

    return parse


def _seconds(*, allow_zero: bool) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number of seconds") from None
        if not number < float("inf") or number < 0 or (number == 0 and not allow_zero):
            raise ValueError(
                f"{value!r} must be a {'non-negative' if allow_zero else 'positive'} "
                "finite number of seconds"
            )
        return number

    return parse


def _channel(value: str) -> str:
    problem = protocol.channel_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def normalise_database_url(url: str) -> str:
    """A PostgreSQL URL for psycopg. The original stand's SQLAlchemy form
    (`postgresql+psycopg2://qa:qa@postgres:5432/qa_kit`) is accepted: the `+driver` goes."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres") or not parts.netloc:
        raise ValueError(f"{url!r} is not a postgresql:// URL")
    return urlunsplit(parts._replace(scheme="postgresql"))


def _database_url(value: str) -> str | None:
    return normalise_database_url(value) if value else None


def _kafka_bootstrap(value: str) -> str | None:
    """`host:port[,host:port...]`; empty means no Kafka."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    for part in parts:
        parse_bind(part)
    return ",".join(parts) or None


def _spool_dir(value: str) -> str | None:
    """A directory we can create files in, or can create (checked now, so that a typo fails
    start-up here rather than in the Kafka adapter); empty means no spool."""
    if not value:
        return None
    path = Path(value).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{existing} is not writable")
    return str(path)


_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _topic(value: str) -> str:
    if not _TOPIC.match(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)")
    return value


def _log_level(value: str) -> str:
    if value.upper() not in _LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(_LOG_LEVELS)}")
    return value.upper()


_PARSERS: dict[str, Callable[[str], object]] = {
    "default_channel": _channel,
    "binds": _binds,
    "profile": _profile,
    "cors_allow_origins": _origins,
    "ws_allowed_origins": _origins,
    "allowed_hosts": parse_hosts,
    "reset_orders_on_start": _true_false,
    "log_payload_max": _whole(0),
    "bugs": bugs.parse_names,
    "deterministic": _seed,
    "lab_pages": _flag,
    "max_inspectors": _whole(1),
    "max_message_size": _whole(1),
    "outbox_size": _whole(4),
    "outbox_bytes": _whole(1024),
    "slow_consumer_timeout": _seconds(allow_zero=False),
    "ping_interval": _seconds(allow_zero=True),
    "close_timeout": _seconds(allow_zero=False),
    "shutdown_timeout": _seconds(allow_zero=False),
    "log_level": _log_level,
    "fast_path": _flag,
    "database_url": _database_url,
    "orders_channel": _channel,
    "db_timeout": _seconds(allow_zero=False),
    "db_pool_size": _whole(1),
    "kafka_bootstrap": _kafka_bootstrap,
    "kafka_ws_topic": _topic,
    "kafka_order_topic": _topic,
    "kafka_timeout": _seconds(allow_zero=False),
    "kafka_buffer": _whole(1),
    "kafka_flush_timeout": _seconds(allow_zero=True),
    "kafka_spool_dir": _spool_dir,
    "kafka_spool_bytes": _whole(64 * 1024),
}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from `environ`; raise `ConfigError` naming the first bad variable."""
    unknown = sorted(
        name for name in environ if name.startswith("QAKIT_") and name not in KNOWN_VARIABLES
    )
    if unknown:
        known = ", ".join(name for name in KNOWN_VARIABLES if name.startswith("QAKIT_"))
        raise ConfigError(f"unknown setting {unknown[0]} (known QAKIT_ settings: {known})")
    values: dict[str, Any] = {}
    for name, field in KNOWN_VARIABLES.items():
        raw = environ.get(name)
        if raw is None:
            continue
        try:
            values[field] = _PARSERS[field](raw.strip())
        except ValueError as error:
            raise ConfigError(f"{name}: {error}") from None
    settings = replace(Settings(), **values, binds_given="binds" in values)
    if settings.close_timeout >= settings.shutdown_timeout:
        raise ConfigError(
            f"QAKIT_CLOSE_TIMEOUT ({settings.close_timeout}) must be shorter than "
            f"QAKIT_SHUTDOWN_TIMEOUT ({settings.shutdown_timeout}): a closing handshake has to "
            "fit inside the shutdown"
        )
    if settings.kafka_bootstrap is not None:
        if settings.kafka_flush_timeout + 1.0 >= settings.shutdown_timeout:
            raise ConfigError(
                f"QAKIT_KAFKA_FLUSH_TIMEOUT ({settings.kafka_flush_timeout}) plus 1 s to close "
                f"the producer must be shorter than QAKIT_SHUTDOWN_TIMEOUT "
                f"({settings.shutdown_timeout}): the flush has to fit inside the shutdown"
            )
        budget = settings.shutdown_timeout + SHUTDOWN_MARGIN
        if settings.close_timeout + settings.kafka_flush_timeout + 1.0 >= budget:
            raise ConfigError(
                f"QAKIT_CLOSE_TIMEOUT ({settings.close_timeout}) plus "
                f"QAKIT_KAFKA_FLUSH_TIMEOUT ({settings.kafka_flush_timeout}) plus 1 s to close "
                f"the producer must be shorter than QAKIT_SHUTDOWN_TIMEOUT + {SHUTDOWN_MARGIN} s "
                f"({budget}): the shutdown runs them one after the other (clients closed, then "
                f"Kafka flushed), and the process is stopped at QAKIT_SHUTDOWN_TIMEOUT + "
                f"{SHUTDOWN_MARGIN} s"
            )
    return settings
