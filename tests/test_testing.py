"""The pytest-trio kit itself (qakit_trio/testing.py): settings checked like the environment,
frames both ways, closes seen from both sides, all on the virtual clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from qakit_trio.errors import ConfigError
from qakit_trio.testing import StandClosed, open_stand


async def test_settings_are_checked_like_the_environment() -> None:
    with pytest.raises(ConfigError, match="QAKIT_PINGINTERVAL"):
        async with open_stand({"QAKIT_PINGINTERVAL": "5"}):
            pass
    async with open_stand({"WS_DEFAULT_CHANNEL": "lobby"}) as stand, stand.connect() as ws:
        assert (await ws.receive_json())["channel"] == "lobby"


async def test_frames_both_ways_and_closes_from_both_sides(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stand({"QAKIT_MAX_MESSAGE_SIZE": "64"}) as stand:
        async with stand.connect("/ws?channel=room") as ws:
            await ws.receive_json()
            await ws.send_bytes(b"\x00")
            assert (await ws.receive_json())["error"] == "invalid_message"
            await ws.send_text("x" * 65)  # too big: the stand closes with 1009
            with pytest.raises(StandClosed) as closed:
                await ws.receive()
            assert closed.value.code == 1009
        async with stand.connect("/ws?channel=room") as ws:
            await ws.receive_json()
            assert stand.app.services.hub.stats() == {"room": 1}
            await ws.close(4000)
            with pytest.raises(StandClosed) as echoed:  # the stand answers the client's close
                await ws.receive()
            assert echoed.value.code == 4000
            assert stand.app.services.hub.stats() == {}  # it left the hub at once


async def test_the_qakit_stand_fixture_is_registered(qakit_stand: object) -> None:
    status, body = await qakit_stand.request("GET", "/health")  # type: ignore[attr-defined]
    assert (status, body["status"]) == (200, "ok")
