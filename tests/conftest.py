"""Fixtures for the real services the suite needs: a PostgreSQL server
(tests/support/pg.py) and an Apache Kafka broker (tests/support/kafka_broker.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from trio_websocket import WebSocketConnection

from qakit_trio.testing import StandClient

from .support import contract, helpers, kafka_broker, opensearch_node, pg, progress

# End-to-end modules that run on both paths: our hypercorn extension and plain ASGI
# (QAKIT_FAST_PATH=0). The protocol contract is the same on both (transport/base.py).
# A test of what only the fast path can do (marked `fast_path_only`, with the reason) runs on
# it alone; what the plain path cannot do is listed in transport/asgi.py (PlainTransport).
BOTH_PATHS = {
    "test_ws_endpoint",
    "test_legacy",
    "test_cors",
    "test_echo",
    "test_rest",
    "test_rest_orders",
    "test_consistency",
    "test_connection",
    "test_order_actions",
    "test_kafka_events",
    "test_fuzz",
    "test_hardening",
    "test_keepalive",
    "test_transport",
    "test_server",
    "test_qa_kit",
    "test_faults",
    "test_inspector",
    "test_origins",
    "test_descriptors",
    "test_quiet_logs",
    "test_handshake",
    "test_flow_control",
    "test_ts_order",
}


# Modules whose contract is the same in both profiles (QAKIT_PROFILE: qakit, qa_kit) run in
# both: REST, CORS, the echo endpoint, the legacy protocol, the pages, and the fuzz run of
# every door (bad input never takes the stand down, in either). /ws, which differs, has its own
# golden transcripts per profile (sessions/test_qa_kit.py and the rest of the suite).
BOTH_PROFILES = {
    "test_legacy",
    "test_rest_orders",
    "test_cors",
    "test_echo",
    "test_fuzz",
    "test_pages",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_PROFILES:
        metafunc.parametrize("stand_profile", ["qakit", "qa_kit"], indirect=True)
    if module in BOTH_PATHS:
        only_fast = metafunc.definition.get_closest_marker("fast_path_only") is not None
        metafunc.parametrize(
            "server_path", ["fast"] if only_fast else ["fast", "plain"], indirect=True
        )


@pytest.fixture(autouse=True)
def server_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The path this test's in-process servers take (see BOTH_PATHS)."""
    path = getattr(request, "param", "fast")
    helpers.PATH["fast"] = path == "fast"
    try:
        yield path
    finally:
        helpers.PATH["fast"] = True


@pytest.fixture(autouse=True)
def stand_profile(request: pytest.FixtureRequest) -> Iterator[str]:
    """The profile this test's in-process servers take (see BOTH_PROFILES)."""
    profile = getattr(request, "param", "qakit")
    helpers.PROFILE["name"] = profile
    try:
        yield profile
    finally:
        helpers.PROFILE["name"] = "qakit"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the whole session: TEST_DATABASE_URL, or our own."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    cluster = pg.Cluster().init()
    try:
        cluster.start()
        yield cluster.url()
    finally:
        cluster.remove()


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test (order ids start at 1)."""
    url = pg.create_database(postgres_server)
    try:
        yield url
    finally:
        pg.drop_database(postgres_server, url)


@pytest.fixture
def own_cluster() -> Iterator[pg.Cluster]:
    """A PostgreSQL server of one test's own, which it may stop, start or freeze."""
    cluster = pg.Cluster().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(params=["memory", "postgres"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides for each order store: run the test once per store."""
    if request.param == "memory":
        return {"database_url": None}
    return {"database_url": request.getfixturevalue("database_url")}


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka broker for the whole session: TEST_KAFKA_BOOTSTRAP, or our own (KRaft, one node)."""
    given = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker = kafka_broker.Broker()
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        broker.remove()


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """An OpenSearch node for the whole session: TEST_OPENSEARCH_URL, or our own (one node)."""
    given = os.environ.get("TEST_OPENSEARCH_URL")
    if given:
        yield given
        return
    node = opensearch_node.Node()
    try:
        node.start()
        yield node.url
    finally:
        node.remove()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> dict[str, Any]:
    """Settings overrides that publish to Kafka, on topics of this test's own."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "kafka_bootstrap": kafka_bootstrap,
        "kafka_ws_topic": f"ws_events_{suffix}",
        "kafka_order_topic": f"order_events_{suffix}",
        "kafka_timeout": 3.0,
    }


@pytest.fixture(autouse=True)
def frame_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame a test receives (with trio-websocket, or the in-memory kit's StandClient) is
    checked against the AsyncAPI document (support/contract.py), unless the test breaks the
    contract on purpose."""
    if request.node.get_closest_marker("breaks_contract") is None:
        receive = WebSocketConnection.get_message

        async def checked(self: WebSocketConnection) -> str | bytes:
            message = await receive(self)
            contract.check(self.path or "", message)
            return message

        monkeypatch.setattr(WebSocketConnection, "get_message", checked)
        receive_in_memory = StandClient.receive

        async def checked_in_memory(self: StandClient) -> str | bytes:
            message = await receive_in_memory(self)
            contract.check(str(self._scope["path"]), message)
            return message

        monkeypatch.setattr(StandClient, "receive", checked_in_memory)
    return


def pytest_configure(config: pytest.Config) -> None:
    progress.attach(config)  # slow steps say what they do, under capture too


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if progress.STEPS:
        terminalreporter.write_line(progress.summary())
    if contract.SEEN:
        terminalreporter.write_line(
            f"AsyncAPI contract: {sum(contract.SEEN.values())} frames received by the tests "
            f"matched {len(contract.SEEN)} of the document's messages: "
            + ", ".join(f"{name} {count}" for name, count in sorted(contract.SEEN.items()))
        )
