"""The task tree: what trio.lowlevel says, labelled, with large fan-outs grouped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio

from qakit_trio.web import task_tree

CONCURRENCY = Path(__file__).resolve().parents[2] / "docs" / "concurrency.md"


def busy(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A task's nurseries that hold tasks (pytest-trio gives each test an empty one too)."""
    return [nursery for nursery in node["nurseries"] if nursery["tasks"]]


def find(node: dict[str, Any], name_part: str) -> dict[str, Any] | None:
    if name_part in node.get("name", ""):
        return node
    children = node.get("tasks", []) if "group" in node else [
        child for nursery in node["nurseries"] for child in nursery["tasks"]]
    for child in children:
        found = find(child, name_part)
        if found is not None:
            return found
    return None


async def parked(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def test_the_tree_holds_this_test_and_the_tasks_of_its_nursery() -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            await nursery.start(parked)
        tree = task_tree.snapshot()
        me = find(tree["root"], "test_the_tree_holds_this_test")
        assert me is not None
        assert [len(n["tasks"]) for n in busy(me)] == [3]
        assert {t["kind"] for t in busy(me)[0]["tasks"]} == {"other"}
        assert tree["root"]["kind"] == "root"
        assert tree["tasks"] == sum(tree["by_kind"].values()) >= 5
        nursery.cancel_scope.cancel()


async def test_a_large_fan_out_is_one_group_until_expanded() -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(30):
            await nursery.start(parked)
        me = find(task_tree.snapshot(limit=5)["root"], "test_a_large_fan_out")
        assert me is not None
        [group] = busy(me)[0]["tasks"]
        assert (group["group"], group["count"], group["shown"], len(group["tasks"])) == (
            "other", 30, 5, 5)
        expanded = find(task_tree.snapshot(limit=5, expand=["other"])["root"],
                        "test_a_large_fan_out")
        assert expanded is not None
        assert len(busy(expanded)[0]["tasks"]) == 30
        nursery.cancel_scope.cancel()


async def test_a_supervised_service_is_labelled_by_its_name() -> None:
    from qakit_trio.supervisor import Supervisor

    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.supervise, "the answer", parked)
        tree = task_tree.snapshot()
        me = find(tree["root"], "test_a_supervised_service")
        assert me is not None
        [service] = busy(me)[0]["tasks"]
        assert (service["kind"], service["label"]) == ("service", "service: the answer")
        nursery.cancel_scope.cancel()


def test_every_kind_links_to_its_entry_in_the_concurrency_guide() -> None:
    anchors = set(re.findall(r'<a id="task-([a-z\-]+)"></a>', CONCURRENCY.read_text()))
    kinds = task_tree.ALL_KINDS
    assert kinds <= anchors, f"no entry in docs/concurrency.md for {sorted(kinds - anchors)}"
