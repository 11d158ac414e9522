"""The `qakit_stand` pytest fixture (registered as a pytest plugin by the package's entry
point): the whole stand in-process, default settings, for tests run by pytest-trio.

    async def test_health(qakit_stand):
        assert (await qakit_stand.request("GET", "/health"))[0] == 200

For other settings, use `qakit_trio.testing.open_stand({...})` in the test itself.

pytest imports this module at every start, in any project of an environment where the package
is installed; so it imports the stand (quart, hypercorn, the app: about 0.6 s) only when a test
asks for the fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from qakit_trio.testing import Stand


@pytest.fixture
async def qakit_stand() -> AsyncIterator[Stand]:
    from qakit_trio.testing import open_stand

    async with open_stand() as stand:
        yield stand
