"""How a trainee tests the stand with the pytest-trio kit (docs/testing.md): the whole stand
in-process, on trio's virtual clock. These run in the project's CI."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from qakit_trio.testing import Stand, StandClosed, open_stand


async def test_one_request_three_replies_correlated_by_request_id(qakit_stand: Stand) -> None:
    async with qakit_stand.connect("/ws?channel=room") as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "system"
        await ws.send_json({"action": "echo", "payload": {"text": "hi"}, "request_id": "r1"})
        frames = [await ws.receive_json() for _ in range(3)]
    assert [f["type"] for f in frames] == ["ack", "echo", "event"]
    assert {f["request_id"] for f in frames} == {"r1"}


async def test_an_order_made_over_rest_is_read_over_the_websocket(qakit_stand: Stand) -> None:
    status, order = await qakit_stand.request("POST", "/orders", json={"customer": "Yulia"})
    assert (status, order) == (200, {"id": 1, "customer": "Yulia", "status": "created"})
    async with qakit_stand.connect("/ws") as ws:
        await ws.receive_json()  # hello
        await ws.send_json({"action": "get_order", "payload": {"id": 1}, "request_id": "g"})
        ack, data, event = [await ws.receive_json() for _ in range(3)]
    assert ack["type"] == "ack"
    assert data["data"]["customer"] == "Yulia"
    assert event["name"] == "order.viewed"


async def test_a_stale_stats_bug_found_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The lab's stale_stats bug: /stats lags up to 5 s. On the virtual clock the wait that
    shows it costs no wall time."""
    async with open_stand({"QAKIT_BUGS": "stale_stats"}) as stand:
        assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0
        async with stand.connect("/ws") as ws:
            await ws.receive_json()
            assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 0  # stale!
            started = trio.current_time()
            await trio.sleep(5)
            assert (await stand.request("GET", "/stats"))[1]["total_connections"] == 1
            assert trio.current_time() - started == 5


async def test_invalid_json_gets_an_error_and_a_bad_channel_is_refused(qakit_stand: Stand) -> None:
    async with qakit_stand.connect("/ws") as ws:
        await ws.receive_json()
        await ws.send_text("{oops")
        assert (await ws.receive_json())["error"] == "invalid_json"
    with pytest.raises(StandClosed) as refused:  # refused before the upgrade
        async with qakit_stand.connect("/ws?channel=two%20words") as ws:
            await ws.receive()
    assert refused.value.status == 400


async def test_a_reply_sixty_seconds_late_takes_no_wall_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The `fault` field: the echo's data and event come 60 s after the ack (virtual time)."""
    async with open_stand() as stand, stand.connect("/ws") as ws:
        await ws.receive_json()  # hello
        started = trio.current_time()
        await ws.send_json({"action": "echo", "request_id": "slow", "fault": {"delay_ms": 60000}})
        frames = [await ws.receive_json() for _ in range(3)]
        assert [f["type"] for f in frames] == ["ack", "echo", "event"]
        assert trio.current_time() - started >= 60
