"""Deterministic mode (QAKIT_DETERMINISTIC=SEED): two stands with the same seed, driven by
the same script, send byte-identical frames; run on the pytest-trio kit."""

from __future__ import annotations

from typing import Any

import pytest

from qakit_trio.testing import open_stand
from qakit_trio.wire import stamps

SCRIPT: list[dict[str, Any]] = [
    {"action": "echo", "payload": {"text": "hi"}, "request_id": "r1"},
    {"action": "triplet_demo"},
    {"action": "create_order", "payload": {"customer": "Yulia"}, "request_id": "c"},
    {"action": "change_status", "payload": {"id": 1, "status": "paid"}},
    {"action": "get_order", "payload": {"id": 1}},
    {"action": "list_orders", "payload": {}},
    {"action": "broadcast", "payload": {"message": "hi all"}},
]


async def run_script(settings: dict[str, str]) -> list[str | bytes]:
    """Every frame and body the script gets back, as text."""
    seen: list[str | bytes] = []
    async with open_stand(settings) as stand:
        status, body = await stand.request("POST", "/orders", json={"customer": "Olga"})
        seen.append(f"{status} {body}")
        async with stand.connect("/ws?channel=room") as ws:
            seen.append(await ws.receive())  # hello
            for request in SCRIPT:
                await ws.send_json(request)
                while True:
                    frame = await ws.receive()
                    seen.append(frame)
                    if '"type":"event"' in str(frame):
                        break
    stamps.set_deterministic(None)  # (process-wide: back to the wall clock for the others)
    return seen


async def test_the_same_seed_sends_byte_identical_frames() -> None:
    first = await run_script({"QAKIT_DETERMINISTIC": "42"})
    assert first == await run_script({"QAKIT_DETERMINISTIC": "42"})
    assert '"ts":"2026-01-01T00:00:00.' in str(first[1])  # the fixed epoch, 1 ms per frame
    assert first != await run_script({"QAKIT_DETERMINISTIC": "43"})  # other ids
    assert first != await run_script({})  # the wall clock and random ids


def test_the_seed_is_a_whole_number() -> None:
    from qakit_trio.config import load_settings
    from qakit_trio.errors import ConfigError

    assert load_settings({"QAKIT_DETERMINISTIC": "7"}).deterministic == 7
    with pytest.raises(ConfigError, match="QAKIT_DETERMINISTIC: 'x' is not a whole number"):
        load_settings({"QAKIT_DETERMINISTIC": "x"})
