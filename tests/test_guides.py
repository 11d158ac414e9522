"""Done when: a trainee's test suite written from the two QA Kit guides passes unchanged
against a plain `qakit-trio` (no arguments, so the guides' own URLs: localhost:8000 and 8002),
and, with QAKIT_PROFILE=qa_kit, against one that expects the original's frame order. Run in a
private network namespace (support/netns_stand.py) so the real ports are free."""

from __future__ import annotations

import pytest

from .test_binds import stand_in_netns

pytestmark = pytest.mark.system  # the stand in a network namespace, a trainee's suite as a process

CHECKS = {
    "legacy_guide_walkthrough",
    "legacy_errors",
    "rest_orders_api",
    "ws_guide_actions",
    "ws_broadcasts_and_rest",
}


@pytest.mark.parametrize(
    ("profile", "client"),
    [
        ("qakit", ["-m", "tests.support.guide_trainee"]),
        ("qa_kit", ["-m", "tests.support.guide_trainee", "--original-order"]),
    ],
)
async def test_a_trainees_suite_from_the_guides_passes_against_a_plain_launch(
    profile: str, client: list[str]
) -> None:
    report = await stand_in_netns([], [], env={"QAKIT_PROFILE": profile}, client=client)
    assert report["client"]["failed"] == {}
    assert set(report["client"]["passed"]) == CHECKS
