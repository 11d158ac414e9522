"""What the whole suite shares: its two tiers (the `system` marker), the end-to-end modules
that run on both server paths and in both profiles, and fixtures for the real services it needs:
a PostgreSQL server (tests/support/pg.py) and an Apache Kafka broker
(tests/support/kafka_broker.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from trio_websocket import WebSocketConnection

from qakit_trio.testing import StandClient

from .support import contract, helpers, kafka_broker, opensearch_node, pg, progress

TESTS = Path(__file__).parent


def _one_ssl_context(init: Callable[..., None]) -> Callable[..., None]:
    """httpx builds a new SSL context from certifi's bundle for every client (≈ 65 ms; the
    suite creates hundreds); its clients speak plain HTTP to 127.0.0.1, so they share one."""
    shared = httpx.create_ssl_context()

    def __init__(self: object, verify: Any = True, *args: Any, **kwargs: Any) -> None:
        init(self, shared if verify is True else verify, *args, **kwargs)

    return __init__


for _transport in (httpx.HTTPTransport, httpx.AsyncHTTPTransport):
    _transport.__init__ = _one_ssl_context(_transport.__init__)  # type: ignore[method-assign]


# Two tiers (README, "Run the tests"): `python -m pytest -m "not system"` leaves out the tests
# marked `system`, which install, download or start heavy parts: a JVM (Kafka, OpenSearch),
# PostgreSQL, a browser, the image, npm, a venv, ruff and mypy; load, flood and soak runs; the
# stand started as a process of its own. A module of them says `pytestmark = pytest.mark.system`,
# a test `@pytest.mark.system  # why`; a test that asks for one of these fixtures (or the
# PostgreSQL side of `store_settings`) is marked here, so that nobody can forget it, and
# `fast_tier_guard` fails a test that starts one anyway without the marker.
SYSTEM_FIXTURES = {
    "postgres_server",
    "database_url",
    "own_cluster",
    "kafka_bootstrap",
    "kafka_settings",
    "opensearch_url",
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("store_settings") == "postgres"
        if on_postgres or SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


@pytest.fixture(autouse=True)
def fast_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test without the `system` marker fails if it installs, downloads or starts a heavy
    part: each of those is announced (support/progress.py), and a PostgreSQL server of the
    suite's own is a pg.Cluster (not announced: it starts quickly, yet it is a server)."""
    if request.node.get_closest_marker("system") is not None:
        return

    def refuse(what: str) -> NoReturn:
        pytest.fail(
            f"{request.node.nodeid}: {what}: only a test marked `system` may (tests/conftest.py)",
            pytrace=False,
        )

    monkeypatch.setattr(progress, "announce", lambda what, where=None: refuse(what))
    monkeypatch.setattr(pg.Cluster, "__init__", lambda self: refuse("a PostgreSQL server"))


# End-to-end modules that run on both paths: our hypercorn extension and plain ASGI
# (QAKIT_FAST_PATH=0). The protocol contract is the same on both (transport/base.py).
# A test of what only the fast path can do (marked `fast_path_only`, with the reason) runs on
# it alone; what the plain path cannot do is listed in transport/asgi.py (PlainTransport).
# Paths under tests/, not file names: a module of the same name elsewhere (wire/test_legacy.py,
# which starts no server) runs once, and so does a module whose servers are all fast-path only
# (ws/test_keepalive.py). tests/test_tiers.py checks that each one exists and starts servers.
BOTH_PATHS = {
    "test_consistency.py",
    "test_descriptors.py",
    "test_fuzz.py",
    "test_hardening.py",
    "test_quiet_logs.py",
    "test_server.py",
    "sessions/test_channel_actions.py",
    "sessions/test_faults.py",
    "sessions/test_kafka_events.py",
    "sessions/test_legacy.py",
    "sessions/test_order_actions.py",
    "sessions/test_qa_kit.py",
    "sessions/test_ts_order.py",
    "transport/test_handshake.py",
    "web/test_cors.py",
    "web/test_identities.py",
    "web/test_inspector.py",
    "web/test_origins.py",
    "web/test_rest.py",
    "web/test_rest_orders.py",
    "web/test_ws_endpoint.py",
    "ws/test_connection.py",
    "ws/test_echo.py",
    "ws/test_flow_control.py",
}


# Modules whose contract is the same in both profiles (QAKIT_PROFILE: qakit, qa_kit) run in
# both: REST, CORS, the echo endpoint, the legacy protocol, the pages, and the fuzz run of
# every door (bad input never takes the stand down, in either). /ws, which differs, has its own
# golden transcripts per profile (sessions/test_qa_kit.py and the rest of the suite).
BOTH_PROFILES = {
    "test_fuzz.py",
    "sessions/test_legacy.py",
    "web/test_cors.py",
    "web/test_pages.py",
    "web/test_rest_orders.py",
    "ws/test_echo.py",
}


# The second path and the second profile are part of the full run (the `system` tier below):
# the fast tier runs each of these tests once, on the fast path in the qakit profile. (The plain
# path still runs there under the in-memory kit, qakit_trio/testing.py, and the qa_kit profile
# in sessions/test_qa_kit.py.)
SECOND = pytest.mark.system


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.definition.path
    if module in {TESTS / name for name in BOTH_PROFILES}:
        profiles = ["qakit", pytest.param("qa_kit", marks=SECOND)]
        metafunc.parametrize("stand_profile", profiles, indirect=True)
    if module in {TESTS / name for name in BOTH_PATHS}:
        only_fast = metafunc.definition.get_closest_marker("fast_path_only") is not None
        paths = ["fast"] if only_fast else ["fast", pytest.param("plain", marks=SECOND)]
        metafunc.parametrize("server_path", paths, indirect=True)


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
