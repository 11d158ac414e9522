"""The task tree: what trio.lowlevel says, labelled, with large fan-outs grouped; what reading
it costs the stand (bounded: cached, one build at a time, paced)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from qakit_trio.testing import open_stand
from qakit_trio.web import task_tree

CONCURRENCY = Path(__file__).resolve().parents[2] / "docs" / "concurrency.md"


def busy(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A task's nurseries that hold tasks (pytest-trio gives each test an empty one too)."""
    return [nursery for nursery in node["nurseries"] if nursery["tasks"]]


def find(node: dict[str, Any], name_part: str) -> dict[str, Any] | None:
    if name_part in node.get("name", ""):
        return node
    children = (
        node.get("tasks", [])
        if "group" in node
        else [child for nursery in node["nurseries"] for child in nursery["tasks"]]
    )
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
        tree = await task_tree.snapshot()
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
        me = find((await task_tree.snapshot(limit=5))["root"], "test_a_large_fan_out")
        assert me is not None
        [group] = busy(me)[0]["tasks"]
        assert (group["group"], group["count"], group["shown"], len(group["tasks"])) == (
            "other",
            30,
            5,
            5,
        )
        expanded = find(
            (await task_tree.snapshot(limit=5, expand=["other"]))["root"], "test_a_large_fan_out"
        )
        assert expanded is not None
        assert len(busy(expanded)[0]["tasks"]) == 30
        nursery.cancel_scope.cancel()


async def test_a_supervised_service_is_labelled_by_its_name() -> None:
    from qakit_trio.supervisor import Supervisor

    supervisor = Supervisor()
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.supervise, "the answer", parked)
        tree = await task_tree.snapshot()
        me = find(tree["root"], "test_a_supervised_service")
        assert me is not None
        [service] = busy(me)[0]["tasks"]
        assert (service["kind"], service["label"]) == ("service", "service: the answer")
        nursery.cancel_scope.cancel()


def test_every_kind_links_to_its_entry_in_the_concurrency_guide() -> None:
    anchors = set(re.findall(r'<a id="task-([a-z\-]+)"></a>', CONCURRENCY.read_text()))
    kinds = task_tree.ALL_KINDS
    assert kinds <= anchors, f"no entry in docs/concurrency.md for {sorted(kinds - anchors)}"


async def test_an_expanded_kind_lists_at_most_max_limit() -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(task_tree.MAX_LIMIT + 20):
            await nursery.start(parked)
        me = find(
            (await task_tree.snapshot(limit=5, expand=["other"]))["root"], "test_an_expanded_kind"
        )
        assert me is not None
        [group] = busy(me)[0]["tasks"]
        assert (group["count"], group["shown"], len(group["tasks"])) == (
            task_tree.MAX_LIMIT + 20,
            task_tree.MAX_LIMIT,
            task_tree.MAX_LIMIT,
        )
        nursery.cancel_scope.cancel()


def costly_labels(
    monkeypatch: pytest.MonkeyPatch, clock: trio.testing.MockClock | None
) -> list[int]:
    """Count the tasks labelled (the tree's main work), each made to cost 1 ms of `clock`."""
    real = task_tree._kind
    labelled = [0]

    def costly(task: trio.lowlevel.Task) -> tuple[str, str]:
        labelled[0] += 1
        if clock is not None:
            clock.jump(0.001)
        return real(task)

    monkeypatch.setattr(task_tree, "_kind", costly)
    return labelled


async def test_reading_the_tree_gives_the_loop_back_often_and_takes_at_most_a_tenth(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """1000 tasks whose labels cost 1 ms each (of the virtual clock): one GET /debug/tasks
    used to hold the event loop for the whole second; a bystander must now get it back at
    least every 100 labels (0.1 s), and the read be stretched to a tenth of the loop."""
    labelled = costly_labels(monkeypatch, autojump_clock)
    woke: list[float] = []

    async def bystander() -> None:
        while True:
            woke.append(trio.current_time())
            await trio.sleep(0.001)

    async with open_stand() as stand, trio.open_nursery() as nursery:
        for _ in range(1000):
            await nursery.start(parked)
        nursery.start_soon(bystander)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        status, tree = await stand.request("GET", "/debug/tasks")
        took = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert status == 200
    assert tree["tasks"] > 1000
    held = max(later - earlier for earlier, later in itertools.pairwise(woke))
    assert held <= 0.1 + 0.01  # STEP labels of 1 ms, and the bystander's own sleep
    assert took >= labelled[0] * 0.001 * 10 * 0.9  # the work is at most a tenth of the time


async def test_readers_in_a_loop_build_the_tree_once_a_second(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    labelled = costly_labels(monkeypatch, None)
    async with open_stand() as stand:
        answers: list[Any] = []

        async def read() -> None:
            answers.append(await stand.request("GET", "/debug/tasks?limit=20"))

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(read)
        one_tree = labelled[0]
        for _ in range(4):
            await read()
        assert labelled[0] == one_tree  # eight reads within the second: one tree
        assert all(answer == answers[0] for answer in answers)
        await trio.sleep(1)
        await read()
        assert labelled[0] > one_tree  # a second later: a new one


async def test_readers_in_a_loop_get_at_most_ten_answers_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Even from the cache an answer is work to send (300 KiB with 2000 connections): four
    readers in a loop are answered in turn, at most ten times a second in all."""
    async with open_stand() as stand:
        start = trio.current_time()

        async def reader() -> None:
            for _ in range(10):
                assert (await stand.request("GET", "/debug/tasks"))[0] == 200

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(reader)
        assert trio.current_time() - start >= (40 - 1) / 10


async def test_answers_are_cached_a_second_by_their_parameters_and_built_one_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tree = task_tree.TaskTree()
    answers: list[str] = []

    async def read(limit: int, expand: tuple[str, ...] = ()) -> None:
        answer = await tree.read(limit, expand)
        assert answer is not None  # a few readers: never told busy
        answers.append(answer)

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(read, 20)
    assert tree.builds == 1
    assert len(set(answers)) == 1
    assert json.loads(answers[0])["root"]["kind"] == "root"
    await read(20)
    await read(5)  # other parameters: their own answer
    await read(20, ("connection",))
    assert tree.builds == 3
    await trio.sleep(task_tree.CACHE_SECONDS)
    await read(20)
    assert tree.builds == 4


async def test_readers_past_the_waiting_bound_are_told_busy_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """However many ask at once, at most MAX_WAITING wait for their turn (each holding a
    connection); the next one gets None (the route's 503 busy) without waiting."""
    tree = task_tree.TaskTree()
    answers: list[str | None] = []

    async def read() -> None:
        answers.append(await tree.read(20, ()))

    async with trio.open_nursery() as nursery, tree._turn:  # someone is being answered
        for _ in range(task_tree.MAX_WAITING):
            nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        assert await tree.read(20, ()) is None
        assert trio.current_time() == start
    assert len(answers) == task_tree.MAX_WAITING
    assert all(json.loads(answer)["root"] for answer in answers if answer is not None)
    assert None not in answers
