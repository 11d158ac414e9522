"""Every error this project raises on purpose, in one tree. Pure: imports nothing.

    QakitError                    the base: `code` (stable, machine-readable) and `details`
    ├── ProtocolError             a client's message breaks the wire contract; its code is
    │                             the ErrorCode it was raised with (invalid_json, ...)
    ├── OrderError                the order domain refuses a request
    │   ├── OrderNotFound             not_found           (details: id)
    │   └── InvalidTransition         invalid_transition  (the state machine says no)
    ├── StoreError                the order store could not do its job (not the request's fault)
    │   ├── StoreUnavailable          db_unavailable      (down, too slow, or outcome unknown)
    │   └── StoreFailed               db_error            (the database refused)
    ├── KafkaUnavailable          kafka_unavailable: Kafka unreachable or no acknowledgement in
    │                             time; the adapter retries, it never reaches a client
    ├── BusUnavailable            bus_unavailable: the cluster's Kafka bus did not carry a
    │                             publication in time (QAKIT_CLUSTER=kafka; cluster/)
    ├── SpoolError                spool_error: the Kafka spool directory cannot be used
    ├── ConfigError               config_error: a setting in the environment is wrong
    └── Disconnected              disconnected: the client's side of a WebSocket is closed
                                  (details: its close code and reason)

Foreign errors (psycopg, aiokafka, OSError) are translated into these where they are met:
adapters/postgres.py, kafka.py, kafka_spool.py. A client's close (the ASGI disconnect message)
becomes `Disconnected` in transport/asgi.py (transport/memory.py in memory); wsproto's protocol
violations become close codes in transport/hyper_ext.py, never exceptions. Each door turns an
error into its own reply by the error's `code`, in one table: `/ws` (envelope.py: an error frame
with that code), `/ws/orders` (legacy.py: the original stand's texts), REST (web/rest_door.py,
`http_answer`: an HTTP status). Two door-local exceptions carry a reply that is already
decided and never leave their door: `legacy.LegacyError` and `http_errors.HttpError`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """Stable error codes of error frames (docs/protocol.md has the same table)."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_ACTION = "unknown_action"
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    INVALID_TRANSITION = "invalid_transition"
    DB_UNAVAILABLE = "db_unavailable"
    DB_ERROR = "db_error"
    INTERNAL_ERROR = "internal_error"
    TOO_MANY_DELAYED = "too_many_delayed"  # a trainee's delayed replies: ws/delayed.py
    RATE_LIMITED = "rate_limited"  # QAKIT_RATE_LIMIT: auth/limits.py
    FORBIDDEN = "forbidden"  # QAKIT_AUTH=on: what this user's role may not do (auth/users.py)
    ALREADY_SUBSCRIBED = "already_subscribed"  # subscriptions: sessions/channel_actions.py
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"  # QAKIT_MAX_SUBSCRIPTIONS
    BUS_UNAVAILABLE = "bus_unavailable"  # QAKIT_CLUSTER=kafka: the bus is down (cluster/)


class QakitError(Exception):
    """The base of every error this project raises on purpose."""

    code: ClassVar[str] = "error"

    @property
    def details(self) -> dict[str, Any]:
        """Fields an error reply may carry besides the code and the message."""
        return {}


class ProtocolError(QakitError):
    """A request the server cannot act on; becomes one error frame, the connection stays open."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance: the ErrorCode it was raised with
        self.message = message
        self._details = details

    @property
    def details(self) -> dict[str, Any]:
        return self._details


class RateLimited(QakitError):
    """Over QAKIT_RATE_LIMIT: refused without an ack; `retry_after_ms` says when to try again."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: float) -> None:
        self.retry_after_ms = max(1, int(retry_after * 1000 + 0.999))
        super().__init__(f"too many requests: try again in {self.retry_after_ms} ms")

    @property
    def details(self) -> dict[str, Any]:
        return {"retry_after_ms": self.retry_after_ms}


class OrderError(QakitError):
    """A request about orders that cannot be done (the base of the domain's errors)."""


class OrderNotFound(OrderError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id

    @property
    def details(self) -> dict[str, Any]:
        return {"id": self.order_id}


class InvalidTransition(OrderError):
    code = ErrorCode.INVALID_TRANSITION

    def __init__(self, old: str, new: str) -> None:
        super().__init__(f"Cannot change status from '{old}' to '{new}'")
        self.old = old
        self.new = new


class StoreError(QakitError):
    """The order store could not do what was asked (not the request's fault)."""


class StoreUnavailable(StoreError):
    """The database is down, unreachable or too slow right now; retrying later may work."""

    code = ErrorCode.DB_UNAVAILABLE


class StoreFailed(StoreError):
    """The database answered with an error (e.g. a table that does not fit)."""

    code = ErrorCode.DB_ERROR


class KafkaUnavailable(QakitError):
    """Kafka could not be reached, or did not acknowledge in time (the adapter retries)."""

    code = "kafka_unavailable"


class BusUnavailable(QakitError):
    """The cluster bus could not take a publication, or did not bring it back in time."""

    code = ErrorCode.BUS_UNAVAILABLE


class SpoolError(QakitError):
    """The spool directory cannot be used (the message says why)."""

    code = "spool_error"


class ConfigError(QakitError):
    """A setting in the environment is wrong; the message names the variable."""

    code = "config_error"


class Disconnected(QakitError):
    """The client's side of the WebSocket is closed (its close code, or 1006 if none)."""

    code = "disconnected"

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(f"client closed ({code} {reason})".strip())
        self.close_code = code
        self.reason = reason

    @property
    def details(self) -> dict[str, Any]:
        return {"close_code": self.close_code, "reason": self.reason}
