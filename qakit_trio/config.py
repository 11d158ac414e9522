"""Settings, read once at start-up from the environment, strictly.

`load_settings(os.environ)` is called exactly once (by the CLI or by `qakit_trio.asgi`) and the
resulting frozen `Settings` is passed explicitly to whatever needs it. A value that does not
parse, is out of range, or a `QAKIT_*` variable we do not know (a typo would otherwise be
silently ignored) raises `ConfigError`, whose message names the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from qakit_trio.auth.limits import RateLimit
from qakit_trio.config_values import PARSERS, default_instance_id
from qakit_trio.errors import ConfigError

# How much larger the room of a client's own replies is than the hub's (ws/outbox.py).
OWN_ROOM_FRAMES = 32


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
DEFAULT_RATE_LIMIT = RateLimit(20.0, 40)  # QAKIT_RATE_LIMIT's value with auth on


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
    # channel history (ws/history.py) and subscriptions (ws/channel_ops.py)
    history_size: int = 100  # publications kept per channel
    history_ttl: float = 300.0  # seconds a publication is kept
    history_bytes: int = 256 * 1024  # kept per channel, at most
    history_total_bytes: int = 64 * 1024 * 1024  # kept over all channels, at most
    max_subscriptions: int = 32  # channels one connection may hold
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
    # identities (auth/): off by default, as the original stand; on: tokens, roles, limits
    auth: bool = False  # QAKIT_AUTH=on
    teacher_token: str | None = field(default=None, repr=False)  # a secret: never shown
    class_code: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)  # None: a random one per process
    token_ttl: float = 3600.0
    rate_limit: RateLimit | None = None  # on with auth on (20/s,40) unless said otherwise
    # the cluster (cluster/): several instances sharing channels through a Kafka bus
    cluster: bool = False  # QAKIT_CLUSTER=kafka (needs KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)
    instance_id: str = field(default_factory=default_instance_id, compare=False)  # (random)
    cluster_topic: str = "qakit_bus"  # the bus topic (one partition: one order for all)
    cluster_heartbeat: float = 1.0  # seconds between heartbeats; 3 missed: the instance is dead
    reuse_port: bool = False  # QAKIT_REUSE_PORT=1: bind with SO_REUSEPORT (set by --workers)

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
    "QAKIT_HISTORY_SIZE": "history_size",
    "QAKIT_HISTORY_TTL": "history_ttl",
    "QAKIT_HISTORY_BYTES": "history_bytes",
    "QAKIT_HISTORY_TOTAL_BYTES": "history_total_bytes",
    "QAKIT_MAX_SUBSCRIPTIONS": "max_subscriptions",
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
    "QAKIT_AUTH": "auth",
    "QAKIT_TEACHER_TOKEN": "teacher_token",
    "QAKIT_CLASS_CODE": "class_code",
    "QAKIT_JWT_SECRET": "jwt_secret",
    "QAKIT_TOKEN_TTL": "token_ttl",
    "QAKIT_RATE_LIMIT": "rate_limit",
    "QAKIT_CLUSTER": "cluster",
    "QAKIT_INSTANCE_ID": "instance_id",
    "QAKIT_CLUSTER_TOPIC": "cluster_topic",
    "QAKIT_CLUSTER_HEARTBEAT": "cluster_heartbeat",
    "QAKIT_REUSE_PORT": "reuse_port",
}

# The process is stopped this long after QAKIT_SHUTDOWN_TIMEOUT at the latest (server.py's
# BACKSTOP_MARGIN): the whole shutdown, Kafka's flush included, must fit before then.
SHUTDOWN_MARGIN = 2.0


def _auth_checked(settings: Settings, given: set[str]) -> Settings:
    """With QAKIT_AUTH=on: the teacher's token and the class code are required, and the rate
    limit is on unless QAKIT_RATE_LIMIT says otherwise."""
    if not settings.auth:
        return settings
    missing = [
        name
        for name, value in (
            ("QAKIT_TEACHER_TOKEN", settings.teacher_token),
            ("QAKIT_CLASS_CODE", settings.class_code),
        )
        if value is None
    ]
    if missing:
        raise ConfigError(f"QAKIT_AUTH=on needs {' and '.join(missing)}")
    if "rate_limit" in given:
        return settings
    return replace(settings, rate_limit=DEFAULT_RATE_LIMIT)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from `environ`; raise `ConfigError` naming the first bad variable."""
    unknown = sorted(
        name for name in environ if name.startswith("QAKIT_") and name not in KNOWN_VARIABLES
    )
    if unknown:
        known = ", ".join(name for name in KNOWN_VARIABLES if name.startswith("QAKIT_"))
        raise ConfigError(f"unknown setting {unknown[0]} (known QAKIT_ settings: {known})")
    values: dict[str, Any] = {}
    for name, key in KNOWN_VARIABLES.items():
        raw = environ.get(name)
        if raw is None:
            continue
        try:
            values[key] = PARSERS[key](raw.strip())
        except ValueError as error:
            raise ConfigError(f"{name}: {error}") from None
    settings = _auth_checked(
        replace(Settings(), **values, binds_given="binds" in values), set(values)
    )
    if settings.close_timeout >= settings.shutdown_timeout:
        raise ConfigError(
            f"QAKIT_CLOSE_TIMEOUT ({settings.close_timeout}) must be shorter than "
            f"QAKIT_SHUTDOWN_TIMEOUT ({settings.shutdown_timeout}): a closing handshake has to "
            "fit inside the shutdown"
        )
    own_room = settings.outbox_size * OWN_ROOM_FRAMES
    if settings.history_size > own_room:
        raise ConfigError(
            f"QAKIT_HISTORY_SIZE ({settings.history_size}) must fit the room of a client's own "
            f"frames, QAKIT_OUTBOX_SIZE x {OWN_ROOM_FRAMES} ({own_room}): a recovery is queued "
            "at once; raise QAKIT_OUTBOX_SIZE or lower QAKIT_HISTORY_SIZE"
        )
    if settings.cluster:
        missing = [
            name
            for name, value in (
                ("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap),
                ("DATABASE_URL", settings.database_url),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"QAKIT_CLUSTER=kafka needs {' and '.join(missing)}: the instances share "
                "channels through Kafka and orders, the lab and the classroom through PostgreSQL"
            )
        if settings.cluster_topic in (settings.kafka_ws_topic, settings.kafka_order_topic):
            raise ConfigError(
                f"QAKIT_CLUSTER_TOPIC ({settings.cluster_topic}) must not be the topic of "
                "KAFKA_WS_TOPIC or KAFKA_ORDER_TOPIC: the bus's records are not events"
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
