from __future__ import annotations

from pathlib import Path

import pytest

from qakit_trio.config import Settings, load_settings
from qakit_trio.errors import ConfigError


def test_defaults_without_environment() -> None:
    assert load_settings({}) == Settings()
    assert Settings().default_channel == "general"
    assert Settings().binds == ("127.0.0.1:8002", "127.0.0.1:8000")  # both guides' URLs
    assert Settings().binds_given is False
    assert Settings().max_message_size == 1024 * 1024


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql+psycopg2://qa:qa@postgres:5432/qa_kit",
            "postgresql://qa:qa@postgres:5432/qa_kit",
        ),
        ("postgres://qa@localhost/qa", "postgresql://qa@localhost/qa"),
        (
            "postgresql://qa@localhost:5433/qa?sslmode=disable",
            "postgresql://qa@localhost:5433/qa?sslmode=disable",
        ),
    ],
)
def test_database_url_forms(given: str, used: str) -> None:
    assert load_settings({"DATABASE_URL": given}).database_url == used


def test_kafka_settings() -> None:
    settings = load_settings(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092, localhost:29092",
            "KAFKA_WS_TOPIC": "qa.ws_events",
            "QAKIT_KAFKA_BUFFER": "5",
        }
    )
    assert (
        settings.kafka_bootstrap,
        settings.kafka_ws_topic,
        settings.kafka_order_topic,
        settings.kafka_buffer,
    ) == ("kafka:9092,localhost:29092", "qa.ws_events", "order_events", 5)
    assert load_settings({"KAFKA_BOOTSTRAP_SERVERS": ""}).kafka_bootstrap is None


def test_kafka_spool_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {"QAKIT_KAFKA_SPOOL_DIR": f"{tmp_path}/not/yet", "QAKIT_KAFKA_SPOOL_BYTES": "1048576"}
    )
    assert (settings.kafka_spool_dir, settings.kafka_spool_bytes) == (
        f"{tmp_path}/not/yet",
        1048576,
    )
    assert load_settings({"QAKIT_KAFKA_SPOOL_DIR": ""}).kafka_spool_dir is None
    with pytest.raises(ConfigError, match="QAKIT_KAFKA_SPOOL_BYTES"):
        load_settings({"QAKIT_KAFKA_SPOOL_BYTES": "100"})
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"QAKIT_KAFKA_SPOOL_DIR: .*file is not a directory"):
        load_settings({"QAKIT_KAFKA_SPOOL_DIR": f"{tmp_path}/file/spool"})


def test_the_kafka_flush_must_fit_in_the_shutdown() -> None:
    with pytest.raises(ConfigError, match="QAKIT_KAFKA_FLUSH_TIMEOUT"):
        load_settings(
            {
                "QAKIT_KAFKA_FLUSH_TIMEOUT": "4.5",
                "QAKIT_SHUTDOWN_TIMEOUT": "5",
                "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            }
        )
    assert load_settings({"QAKIT_KAFKA_FLUSH_TIMEOUT": "0"}).kafka_flush_timeout == 0


def test_empty_database_url_means_memory() -> None:
    assert load_settings({"DATABASE_URL": ""}).database_url is None


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "WS_DEFAULT_CHANNEL": "lobby",
            "QAKIT_BIND": "0.0.0.0:8002, [::1]:8000",
            "QAKIT_MAX_MESSAGE_SIZE": "2048",
            "QAKIT_OUTBOX_SIZE": "16",
            "QAKIT_PING_INTERVAL": "0.5",
            "QAKIT_CLOSE_TIMEOUT": "1",
            "QAKIT_SHUTDOWN_TIMEOUT": "3",
            "QAKIT_LOG_LEVEL": "debug",
            "PATH": "/bin",
        }
    )
    assert settings == Settings(
        default_channel="lobby",
        binds=("0.0.0.0:8002", "[::1]:8000"),
        binds_given=True,
        max_message_size=2048,
        outbox_size=16,
        ping_interval=0.5,
        close_timeout=1.0,
        shutdown_timeout=3.0,
        log_level="DEBUG",
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"QAKIT_OUTBOX_SIZE": "many"}, "QAKIT_OUTBOX_SIZE"),
        ({"QAKIT_OUTBOX_SIZE": "1"}, "QAKIT_OUTBOX_SIZE"),
        ({"QAKIT_MAX_MESSAGE_SIZE": "0"}, "QAKIT_MAX_MESSAGE_SIZE"),
        ({"QAKIT_PING_INTERVAL": "-1"}, "QAKIT_PING_INTERVAL"),
        ({"QAKIT_PING_INTERVAL": "inf"}, "QAKIT_PING_INTERVAL"),
        ({"QAKIT_CLOSE_TIMEOUT": "0"}, "QAKIT_CLOSE_TIMEOUT"),
        ({"QAKIT_BIND": "localhost"}, "QAKIT_BIND"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"KAFKA_WS_TOPIC": "ws events"}, "KAFKA_WS_TOPIC"),
        ({"KAFKA_ORDER_TOPIC": ""}, "KAFKA_ORDER_TOPIC"),
        ({"QAKIT_KAFKA_TIMEOUT": "0"}, "QAKIT_KAFKA_TIMEOUT"),
        ({"QAKIT_KAFKA_BUFFER": "0"}, "QAKIT_KAFKA_BUFFER"),
        ({"QAKIT_BIND": "host:99999"}, "QAKIT_BIND"),
        ({"QAKIT_LOG_LEVEL": "LOUD"}, "QAKIT_LOG_LEVEL"),
        ({"WS_DEFAULT_CHANNEL": "two words"}, "WS_DEFAULT_CHANNEL"),
        ({"QAKIT_OUTBX_SIZE": "8"}, "QAKIT_OUTBX_SIZE"),
        ({"QAKIT_CLOSE_TIMEOUT": "9"}, "QAKIT_CLOSE_TIMEOUT"),
        ({"DATABASE_URL": "mysql://qa@db/qa"}, "DATABASE_URL"),
        ({"DATABASE_URL": "qa_kit"}, "DATABASE_URL"),
        ({"QAKIT_DB_TIMEOUT": "0"}, "QAKIT_DB_TIMEOUT"),
        ({"QAKIT_DB_POOL_SIZE": "0"}, "QAKIT_DB_POOL_SIZE"),
        ({"QAKIT_ORDERS_CHANNEL": "a b"}, "QAKIT_ORDERS_CHANNEL"),
        ({"QAKIT_PROFILE": "original"}, "QAKIT_PROFILE"),
        ({"CORS_ALLOW_ORIGINS": "localhost:8090"}, "CORS_ALLOW_ORIGINS"),
        ({"CORS_ALLOW_ORIGINS": " , "}, "CORS_ALLOW_ORIGINS"),
        ({"QAKIT_WS_ALLOWED_ORIGINS": "http://a/b"}, "QAKIT_WS_ALLOWED_ORIGINS"),
        ({"RESET_ORDERS_ON_START": "yes"}, "RESET_ORDERS_ON_START"),
        ({"QAKIT_LOG_PAYLOAD_MAX": "-1"}, "QAKIT_LOG_PAYLOAD_MAX"),
    ],
)
def test_bad_values_fail_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ)


def test_fast_path_is_a_strict_flag() -> None:
    assert Settings().fast_path is True
    assert load_settings({"QAKIT_FAST_PATH": "0"}).fast_path is False
    with pytest.raises(ConfigError, match="QAKIT_FAST_PATH: 'yes' is not 0 or 1"):
        load_settings({"QAKIT_FAST_PATH": "yes"})


def test_the_original_stands_settings() -> None:
    settings = load_settings(
        {
            "QAKIT_PROFILE": "qa_kit",
            "RESET_ORDERS_ON_START": "True",
            "CORS_ALLOW_ORIGINS": "http://localhost:3000, https://example.org/",
            "QAKIT_WS_ALLOWED_ORIGINS": "*",
            "QAKIT_LOG_PAYLOAD_MAX": "0",
        }
    )
    assert (
        settings.profile,
        settings.reset_orders_on_start,
        settings.cors_allow_origins,
        settings.ws_allowed_origins,
        settings.log_payload_max,
    ) == ("qa_kit", True, ("http://localhost:3000", "https://example.org"), ("*",), 0)
    assert Settings().cors_allow_origins == (
        "http://localhost:8090",
        "http://localhost:8091",
        "http://127.0.0.1:8090",
        "http://127.0.0.1:8091",
    )
    assert (
        Settings().profile,
        Settings().reset_orders_on_start,
        Settings().log_payload_max,
        Settings().ws_allowed_origins,
    ) == ("qakit", False, 2048, None)
    assert load_settings({"RESET_ORDERS_ON_START": "false"}).reset_orders_on_start is False


def test_allowed_hosts() -> None:
    """QAKIT_ALLOWED_HOSTS: unset, the default list (wire/origins.py); names and addresses
    without ports, read strictly; `*` turns the check off."""
    assert Settings().allowed_hosts is None
    assert load_settings(
        {"QAKIT_ALLOWED_HOSTS": "Stand.Example., ::1, 10.0.0.5"}
    ).allowed_hosts == ("stand.example", "[::1]", "10.0.0.5")
    assert load_settings({"QAKIT_ALLOWED_HOSTS": "*"}).allowed_hosts == ("*",)
    for bad, why in (
        ("localhost:8002", "without its port"),
        ("http://stand", "not a host name"),
        ("", "at least one"),
        ("stand example", "not a host name"),
    ):
        with pytest.raises(ConfigError, match=f"QAKIT_ALLOWED_HOSTS: .*{why}"):
            load_settings({"QAKIT_ALLOWED_HOSTS": bad})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"QAKIT_CLUSTER": "yes"}, "QAKIT_CLUSTER: must be off or kafka"),
        ({"QAKIT_CLUSTER": "kafka"}, "needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL"),
        (
            {"QAKIT_CLUSTER": "kafka", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"},
            "needs DATABASE_URL",
        ),
        (
            {
                "QAKIT_CLUSTER": "kafka",
                "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
                "DATABASE_URL": "postgresql://db/x",
                "QAKIT_CLUSTER_TOPIC": "ws_events",
            },
            "must not be the topic of",
        ),
        ({"QAKIT_CLUSTER_HEARTBEAT": "0.01"}, "not between 0.1 and 60"),
        ({"QAKIT_INSTANCE_ID": "a b"}, "QAKIT_INSTANCE_ID"),
        ({"QAKIT_REUSE_PORT": "yes"}, "QAKIT_REUSE_PORT"),
    ],
)
def test_cluster_settings_are_checked_at_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_a_cluster_instance_has_a_name_of_its_own() -> None:
    settings = load_settings(
        {
            "QAKIT_CLUSTER": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "DATABASE_URL": "postgresql://db/x",
            "QAKIT_INSTANCE_ID": "qakit-1",
        }
    )
    assert (settings.cluster, settings.instance_id, settings.cluster_topic) == (
        True,
        "qakit-1",
        "qakit_bus",
    )
    assert load_settings({}).instance_id != load_settings({}).instance_id  # generated
