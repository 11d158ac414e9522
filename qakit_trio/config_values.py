"""How each setting's value is read from its environment variable: one parser per kind of
value, strict (a bad value is a ValueError saying what is wrong; config.py names the variable),
and `PARSERS`, the parser of every Settings field. Pure."""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from qakit_trio.auth.limits import parse_rate_limit
from qakit_trio.lab import bugs
from qakit_trio.wire import protocol
from qakit_trio.wire.origins import parse_hosts

PROFILES = ("qakit", "qa_kit")  # our documented contract; the original stand's behaviour

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


def _between(minimum: int, maximum: int) -> Callable[[str], int]:
    whole = _whole(minimum)

    def parse(value: str) -> int:
        number = whole(value)
        if number > maximum:
            raise ValueError(f"{number} is above the maximum of {maximum}")
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


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError(f"must be on or off, got {value!r}")
    return value == "on"


def _secret(shortest: int) -> Callable[[str], str]:
    def parse(value: str) -> str:  # the value itself is never put in a message
        if len(value) < shortest:
            raise ValueError(f"must be at least {shortest} characters long")
        return value

    return parse


_INSTANCE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def default_instance_id() -> str:
    """`<hostname>-<6 hex>`: new at every start (QAKIT_INSTANCE_ID names it for good)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:50] or "qakit"
    return f"{host}-{secrets.token_hex(3)}"


def _instance_id(value: str) -> str:
    if not _INSTANCE.match(value):
        raise ValueError(f"{value!r} is not 1-64 of A-Z a-z 0-9 . _ -")
    return value


def _heartbeat(value: str) -> float:
    """Seconds between heartbeats: 0.1 to 60 (faster floods the bus; slower, a dead instance
    is noticed after minutes)."""
    seconds = _seconds(allow_zero=False)(value)
    if not 0.1 <= seconds <= 60:
        raise ValueError(f"{seconds} is not between 0.1 and 60 seconds")
    return seconds


def _cluster(value: str) -> bool:
    if value not in ("off", "kafka"):
        raise ValueError(f"must be off or kafka, got {value!r}")
    return value == "kafka"


def _log_level(value: str) -> str:
    if value.upper() not in _LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(_LOG_LEVELS)}")
    return value.upper()


PARSERS: dict[str, Callable[[str], object]] = {
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
    "history_size": _between(1, 1_000),  # a recovery is queued in one step (channel_actions)
    "history_ttl": _seconds(allow_zero=False),
    "history_bytes": _whole(1024),
    "history_total_bytes": _whole(64 * 1024),
    "max_subscriptions": _between(1, 1_000),
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
    "auth": _on_off,
    "teacher_token": _secret(16),
    "class_code": _secret(4),
    "jwt_secret": _secret(32),  # HS256: at least its 256 bits (RFC 7518 3.2)
    "token_ttl": _seconds(allow_zero=False),
    "rate_limit": parse_rate_limit,
    "cluster": _cluster,
    "instance_id": _instance_id,
    "cluster_topic": _topic,
    "cluster_heartbeat": _heartbeat,
    "reuse_port": _flag,
}
