"""The teacher's board (GET /lab/classroom, the /classroom page) says where each trainee is: a
row's `instance` is the instance of their least idle connection (this one's for its own, the
cluster's other live instances' from `remote_members()`), else where they were last seen; the
cluster here is a fake of that interface (cluster/cluster.py)."""

from __future__ import annotations

import pytest
import trio

from qakit_trio.cluster.members import RemoteMember
from qakit_trio.testing import open_stand

from ..support.class_auth import AUTH, TEACHER, bearer, token_for
from ..support.timeouts import TIMEOUT


class FakeCluster:
    """The one call the board makes of the cluster (services.cluster)."""

    def __init__(self, members: list[RemoteMember]) -> None:
        self.members = members

    def remote_members(self) -> list[RemoteMember]:
        return self.members


def remote(instance: str, user: str | None, idle_s: float) -> RemoteMember:
    return RemoteMember(instance, f"{instance}-{user}", user, ("room",), idle_s, "/ws")


async def test_every_row_says_its_instance_and_remote_trainees_are_on_the_board(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand({**AUTH, "QAKIT_INSTANCE_ID": "qakit-a"}) as stand:
            services = stand.app.services
            ivan = await token_for(stand, "ivan")
            await token_for(stand, "oleg")  # signed in here, not connected anywhere
            fake = FakeCluster(
                [
                    remote("qakit-b", "maria", 2.0),  # only on another instance
                    remote("qakit-c", "ivan", 3600.0),  # idle there, busy here
                    remote("qakit-b", "teacher", 1.0),  # the teacher is no row
                    remote("qakit-c", None, 0.5),  # anonymous: no row
                ]
            )
            monkeypatch.setattr(services, "cluster", fake)
            async with stand.connect("/ws", bearer(ivan)) as ws:
                await ws.receive_json()
                status, board = await stand.request(
                    "GET", "/lab/classroom", headers=bearer(TEACHER)
                )
                assert status == 200
                assert board["instance"] == "qakit-a"
                rows = {row["name"]: row for row in board["people"]}
                assert sorted(rows) == ["ivan", "maria", "oleg"]
                where = {name: (r["instance"], r["instances"]) for name, r in rows.items()}
                assert where == {
                    "ivan": ("qakit-a", ["qakit-a", "qakit-c"]),
                    "maria": ("qakit-b", ["qakit-b"]),
                    "oleg": ("qakit-a", []),  # seen here last
                }
                assert (rows["ivan"]["connections"], rows["maria"]["connections"]) == (2, 1)
                assert rows["maria"]["idle_s"] == 2.0

            fake.members = [remote("qakit-c", "ivan", 1.0)]  # ivan moved (a reconnect)
            status, board = await stand.request("GET", "/lab/classroom", headers=bearer(TEACHER))
            rows = {row["name"]: row for row in board["people"]}
            assert (rows["ivan"]["instance"], rows["ivan"]["instances"]) == ("qakit-c", ["qakit-c"])
            assert "maria" not in rows  # gone from the cluster, never seen here


async def test_without_a_cluster_every_row_is_this_instances() -> None:
    with trio.fail_after(TIMEOUT):
        async with open_stand({**AUTH, "QAKIT_INSTANCE_ID": "solo"}) as stand:
            await token_for(stand, "ivan")
            await stand.request(
                "PUT",
                "/lab/assignments",
                {"assignments": {"ivan": ["stale_stats"]}},
                headers=bearer(TEACHER),
            )
            status, board = await stand.request("GET", "/lab/classroom", headers=bearer(TEACHER))
            assert status == 200
            assert board["instance"] == "solo"
            assert [(r["name"], r["instance"], r["instances"]) for r in board["people"]] == [
                ("ivan", "solo", [])
            ]
