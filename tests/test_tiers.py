"""The suite's two tiers and what runs twice (tests/conftest.py): `-m "not system"` leaves out
every test that installs, downloads or starts a heavy part, a test that asks for PostgreSQL or
Kafka is marked so by itself, an unmarked test that starts one anyway fails, and the modules
listed to run on both paths or in both profiles are named by their path, exist, and start
servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from . import conftest
from .support import pg, progress


def test_every_module_listed_to_run_twice_exists_and_starts_servers() -> None:
    for name in sorted(conftest.BOTH_PATHS | conftest.BOTH_PROFILES):
        module = conftest.TESTS / name
        assert module.is_file(), f"conftest.py lists {name}, which is not there (renamed?)"
        source = module.read_text()
        assert "running_server(" in source or "server_process(" in source, name


@dataclass
class Callspec:
    params: dict[str, Any]


@dataclass
class Item:
    """What pytest_collection_modifyitems reads of a collected test, and the marks it adds."""

    fixturenames: list[str]
    callspec: Callspec | None = None
    marks: list[str] = field(default_factory=list)

    def add_marker(self, mark: pytest.MarkDecorator) -> None:
        self.marks.append(mark.name)


def test_a_test_that_asks_for_a_service_is_a_system_test() -> None:
    items = {
        "pure": Item(["tmp_path"]),
        "database": Item(["database_url", "postgres_server"]),
        "own cluster": Item(["own_cluster"]),
        "kafka": Item(["kafka_settings", "kafka_bootstrap"]),
        "opensearch": Item(["opensearch_url"]),
        "memory store": Item(["store_settings"], Callspec({"store_settings": "memory"})),
        "postgres store": Item(["store_settings"], Callspec({"store_settings": "postgres"})),
    }
    conftest.pytest_collection_modifyitems(list(items.values()))  # type: ignore[arg-type]
    assert {name: item.marks for name, item in items.items()} == {
        "pure": [],
        "database": ["system"],
        "own cluster": ["system"],
        "kafka": ["system"],
        "opensearch": ["system"],
        "memory store": [],
        "postgres store": ["system"],
    }


def test_an_unmarked_test_that_starts_a_heavy_part_fails() -> None:
    """This test is not marked `system`, so conftest.fast_tier_guard is on."""
    with pytest.raises(pytest.fail.Exception, match=r"demo jars \(1 MB\): only a test marked"):
        progress.announce("downloading the demo jars (1 MB)", "/tmp/never")
    with pytest.raises(pytest.fail.Exception, match="a PostgreSQL server: only a test marked"):
        pg.Cluster()
    assert [step for step in progress.STEPS if "demo" in step.what] == []  # nothing recorded


@pytest.mark.system
def test_a_system_test_may() -> None:
    """The guard is off here: what it replaces is the real thing."""
    assert progress.announce.__qualname__ == "announce"
    assert pg.Cluster.__init__.__qualname__ == "Cluster.__init__"


def test_the_second_path_and_profile_are_in_the_system_tier(request: pytest.FixtureRequest) -> None:
    """Of this run's tests, each on the plain path or in the qa_kit profile by conftest's
    parametrization is a system test: the fast tier runs each test once."""
    second = [
        item
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and (
            item.callspec.params.get("server_path") == "plain"
            or (
                item.callspec.params.get("stand_profile") == "qa_kit"
                and item.path in {conftest.TESTS / name for name in conftest.BOTH_PROFILES}
            )
        )
    ]
    assert [item.nodeid for item in second if item.get_closest_marker("system") is None] == []
