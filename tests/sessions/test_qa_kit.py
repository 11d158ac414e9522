"""/ws in the qa_kit profile: the original stand's frames for the guide's scenarios, byte for
byte apart from the time (read from services/websocket-service/app/main.py of
github.com/yugoru/qa_kit; its frames were Starlette's send_json: compact JSON, UTF-8)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

TS = re.compile(r'"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"')
CREATED_AT = re.compile(r'"created_at":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00"')


def shown(text: str) -> str:
    """The frame with its times replaced (they are checked for the original's format)."""
    return CREATED_AT.sub('"created_at":"T"', TS.sub('"ts":"TS"', text))


async def exchange(ws: WebSocketConnection, sent: str, count: int) -> list[str]:
    await ws.send_message(sent)
    return [shown(str(await ws.get_message())) for _ in range(count)]


GOLDEN: list[tuple[str, list[str]]] = [
    (
        '{"action":"echo","request_id":"r1","payload":{"text":"привет"}}',
        [
            '{"type":"ack","request_id":"r1","ts":"TS"}',
            '{"type":"echo","request_id":"r1","data":{"text":"привет"},"ts":"TS"}',
            '{"type":"event","name":"ws.echo","request_id":"r1","ts":"TS","extra":{"text":"привет"}}',
        ],
    ),
    (
        '{"action":"echo"}',
        [
            '{"type":"ack","request_id":"no-id","ts":"TS"}',
            '{"type":"echo","request_id":"no-id","data":{},"ts":"TS"}',
            '{"type":"event","name":"ws.echo","request_id":"no-id","ts":"TS","extra":{}}',
        ],
    ),
    (
        '{"action":"echo","request_id":0,"payload":"text"}',
        [
            '{"type":"ack","request_id":"no-id","ts":"TS"}',
            '{"type":"echo","request_id":"no-id","data":"text","ts":"TS"}',
            '{"type":"event","name":"ws.echo","request_id":"no-id","ts":"TS","extra":"text"}',
        ],
    ),
    (
        '{"action":"triplet_demo","request_id":{"n":7}}',
        [
            '{"type":"ack","request_id":{"n":7},"ts":"TS"}',
            '{"type":"step","request_id":{"n":7},"step":1,"message":"first response","ts":"TS"}',
            '{"type":"step","request_id":{"n":7},"step":2,"message":"second response","ts":"TS"}',
            '{"type":"event","name":"ws.triplet_demo","request_id":{"n":7},"ts":"TS","extra":{}}',
        ],
    ),
    (
        '{"action":"broadcast","request_id":"b1","payload":{"message":"hi all"}}',
        [
            '{"type":"ack","request_id":"b1","ts":"TS"}',
            '{"type":"message","channel":"general","message":"hi all","ts":"TS"}',
        ],
    ),
    (
        '{"action":"get_order","request_id":"g1","payload":{"id":1}}',
        [
            '{"type":"ack","request_id":"g1","ts":"TS"}',
            '{"type":"order","request_id":"g1","data":{"id":1,"customer":"Юлия","status":"created",'
            '"created_at":"T"},"ts":"TS"}',
            '{"type":"event","name":"order.viewed","request_id":"g1","ts":"TS","extra":{"id":1}}',
        ],
    ),
    (
        '{"action":"get_order","request_id":"g2","payload":{"id":99}}',
        [
            '{"type":"ack","request_id":"g2","ts":"TS"}',
            '{"type":"order","request_id":"g2","data":null,"ts":"TS"}',
            '{"type":"event","name":"order.viewed","request_id":"g2","ts":"TS","extra":{"id":99}}',
        ],
    ),
    (
        '{"action":"list_orders","request_id":"l1"}',
        [
            '{"type":"ack","request_id":"l1","ts":"TS"}',
            '{"type":"orders","request_id":"l1","data":[{"id":2,"customer":"Olga","status":"paid"},'
            '{"id":1,"customer":"Юлия","status":"created"}],"ts":"TS"}',
            '{"type":"event","name":"order.listed","request_id":"l1","ts":"TS","extra":{}}',
        ],
    ),
    (
        '{"action":"fly","request_id":"u1"}',
        [
            '{"type":"ack","request_id":"u1","ts":"TS"}',
            '{"type":"error","request_id":"u1","message":"unknown action: fly","ts":"TS"}',
        ],
    ),
    (
        '{"request_id":"u2"}',
        [
            '{"type":"ack","request_id":"u2","ts":"TS"}',
            '{"type":"error","request_id":"u2","message":"unknown action: None","ts":"TS"}',
        ],
    ),
    (
        '{"action":"create_order","request_id":"u3","payload":{"customer":"x"}}',
        [
            '{"type":"ack","request_id":"u3","ts":"TS"}',
            '{"type":"error","request_id":"u3","message":"unknown action: create_order","ts":"TS"}',
        ],
    ),
]


async def test_the_original_stands_frames(store_settings: dict[str, Any]) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(**store_settings, profile="qa_kit") as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            await http.post("/orders", json={"customer": "Юлия"})
            await http.post("/orders", json={"customer": "Olga"})
            await http.post("/orders/2/pay")
            async with open_websocket_url(f"{server.ws}/ws") as ws:
                assert shown(str(await ws.get_message())) == (
                    '{"type":"system","message":"connected to \'general\'","ts":"TS"}'
                )
                for sent, expected in GOLDEN:
                    assert await exchange(ws, sent, len(expected)) == expected, sent


async def test_bad_input_gets_an_error_frame_in_the_originals_shape_never_a_close() -> None:
    """Where the original dropped the connection, an error frame (and nothing is lost)."""
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(profile="qa_kit") as server,
            open_websocket_url(f"{server.ws}/ws?channel=room") as ws,
        ):
            hello = json.loads(await ws.get_message())
            assert hello["message"] == "connected to 'room'"
            assert set(hello) == {"type", "message", "ts"}
            for sent, message in [
                (
                    "{oops",
                    "invalid JSON: not valid JSON: Expecting property "
                    "name enclosed in double quotes: line 1 column 2 "
                    "(char 1)",
                ),
                ("[1]", "a request must be a JSON object"),
            ]:
                assert await exchange(ws, sent, 1) == [
                    f'{{"type":"error","request_id":"no-id","message":"{message}","ts":"TS"}}'
                ]
            assert await exchange(
                ws, '{"action":"broadcast","request_id":"b","payload":"x"}', 2
            ) == [
                '{"type":"ack","request_id":"b","ts":"TS"}',
                '{"type":"error","request_id":"b","message":"payload must be a JSON object",'
                '"ts":"TS"}',
            ]
            assert (await exchange(ws, '{"action":"echo","request_id":"e"}', 3))[1] == (
                '{"type":"echo","request_id":"e","data":{},"ts":"TS"}'
            )


async def test_a_broadcast_reaches_the_channel_and_health_is_the_originals() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(profile="qa_kit") as server,
            httpx.AsyncClient(base_url=server.http) as http,
            open_websocket_url(f"{server.ws}/ws?channel=room") as sender,
            open_websocket_url(f"{server.ws}/ws?channel=room") as other,
            open_websocket_url(f"{server.ws}/ws?channel=elsewhere") as elsewhere,
        ):
            for ws in (sender, other, elsewhere):
                await ws.get_message()  # hello
            await exchange(sender, '{"action":"broadcast","payload":{"message":"hi"}}', 2)
            assert shown(str(await other.get_message())) == (
                '{"type":"message","channel":"room","message":"hi","ts":"TS"}'
            )
            health = await http.get("/health")
            assert health.text == '{"status":"ok","service":"qa-websocket"}'
            assert (await http.get("/stats")).json() == {
                "channels": {"room": 2, "elsewhere": 1},
                "total_connections": 3,
            }
            # the other channel's next frame is its own ack: the broadcast (queued for every
            # member before the sender even got its copy) did not reach it
            await elsewhere.send_message('{"action":"echo","request_id":"mine"}')
            assert json.loads(await elsewhere.get_message())["type"] == "ack"


# Every input of the envelope suite's error table (web/test_ws_endpoint.py, the qakit profile),
# and what the qa_kit profile answers to it: the original's reading of each.
QA_KIT_ANSWERS: dict[str | bytes, list[str]] = {
    "{wrong-json}": [
        '{"type":"error","request_id":"no-id","message":"invalid JSON: not valid '
        "JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
        '(char 1)","ts":"TS"}'
    ],
    "[1, 2]": [
        '{"type":"error","request_id":"no-id","message":"a request must be a JSON '
        'object","ts":"TS"}'
    ],
    '"just a string"': [
        '{"type":"error","request_id":"no-id","message":"a request must be a '
        'JSON object","ts":"TS"}'
    ],
    '{"action": 5, "request_id": "e1"}': [
        '{"type":"ack","request_id":"e1","ts":"TS"}',
        '{"type":"error","request_id":"e1","message":"unknown action: 5","ts":"TS"}',
    ],
    '{"action": "echo", "payload": [1], "request_id": "e2"}': [
        '{"type":"ack","request_id":"e2","ts":"TS"}',
        '{"type":"echo","request_id":"e2","data":[1],"ts":"TS"}',
        '{"type":"event","name":"ws.echo","request_id":"e2","ts":"TS","extra":[1]}',
    ],
    '{"payload": {}, "request_id": "e3"}': [
        '{"type":"ack","request_id":"e3","ts":"TS"}',
        '{"type":"error","request_id":"e3","message":"unknown action: None","ts":"TS"}',
    ],
    '{"action": "foo_bar", "request_id": "e4"}': [
        '{"type":"ack","request_id":"e4","ts":"TS"}',
        '{"type":"error","request_id":"e4","message":"unknown action: foo_bar","ts":"TS"}',
    ],
    '{"action": "broadcast", "payload": {}, "request_id": "e5"}': [
        '{"type":"ack","request_id":"e5","ts":"TS"}',
        '{"type":"message","channel":"general","message":"","ts":"TS"}',
    ],
    '{"action": "broadcast", "payload": {"message": 7}, "request_id": "e6"}': [
        '{"type":"ack","request_id":"e6","ts":"TS"}',
        '{"type":"message","channel":"general","message":7,"ts":"TS"}',
    ],
    b'{"action": "echo"}': [
        '{"type":"error","request_id":"no-id","message":"binary frames are '
        'not supported: send JSON as a text frame","ts":"TS"}'
    ],
    '{"action": "echo", "request_id": {"nested": 1}}': [
        '{"type":"ack","request_id":{"nested":1},"ts":"TS"}',
        '{"type":"echo","request_id":{"nested":1},"data":{},"ts":"TS"}',
        '{"type":"event","name":"ws.echo","request_id":{"nested":1},"ts":"TS","extra":{}}',
    ],
}


def test_every_error_case_of_the_envelope_suite_has_a_qa_kit_answer() -> None:
    from ..web.test_ws_endpoint import ERROR_CASES

    assert {text for text, *_ in ERROR_CASES} <= set(QA_KIT_ANSWERS)


@pytest.mark.parametrize(
    ("sent", "expected"), QA_KIT_ANSWERS.items(), ids=[str(key)[:30] for key in QA_KIT_ANSWERS]
)
async def test_the_envelope_suites_error_inputs_in_the_qa_kit_profile(
    sent: str | bytes, expected: list[str]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(profile="qa_kit") as server,
            open_websocket_url(f"{server.ws}/ws") as ws,
        ):
            await ws.get_message()  # hello
            await ws.send_message(sent)
            assert [shown(str(await ws.get_message())) for _ in expected] == expected
            assert (await exchange(ws, '{"action":"echo","request_id":"next"}', 3))[0] == (
                '{"type":"ack","request_id":"next","ts":"TS"}'
            )  # still open, nothing else
