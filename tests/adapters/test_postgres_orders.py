"""RESET_ORDERS_ON_START on a real PostgreSQL: the original stand's compose sets it so that ids
start at 1, as in the guides; without it the orders of the last run are kept."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import trio

from ..support.helpers import running_server

TIMEOUT = 30


async def create(database_url: str, customer: str, **settings: Any) -> int:
    async with (running_server(database_url=database_url, **settings) as server,
                httpx.AsyncClient(base_url=server.http) as http):
        response = await http.post("/orders", json={"customer": customer})
        assert response.status_code == 200, response.text
        order_id: int = response.json()["id"]
        return order_id


async def test_reset_orders_on_start_starts_ids_at_one_again(
    database_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(TIMEOUT):
        assert [await create(database_url, name) for name in ("a", "b")] == [1, 2]
        assert await create(database_url, "kept") == 3  # another start, no reset: kept
        with caplog.at_level(logging.WARNING):
            assert await create(database_url, "fresh", reset_orders_on_start=True) == 1
        warning = next(r for r in caplog.records if "RESET_ORDERS_ON_START" in r.getMessage())
        assert warning.levelno == logging.WARNING
        async with (running_server(database_url=database_url) as server,
                    httpx.AsyncClient(base_url=server.http) as http):
            assert (await http.get("/orders")).json() == [
                {"id": 1, "customer": "fresh", "status": "created"}]
