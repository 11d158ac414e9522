"""The `qakit_stand` pytest fixture (registered as a pytest plugin by the package's entry
point): the whole stand in-process, default settings, for tests run by pytest-trio.

    async def test_health(qakit_stand):
        assert (await qakit_stand.request("GET", "/health"))[0] == 200

For other settings, use `qakit_trio.testing.open_stand({...})` in the test itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qakit_trio.testing import Stand, open_stand


@pytest.fixture
async def qakit_stand() -> AsyncIterator[Stand]:
    async with open_stand() as stand:
        yield stand
