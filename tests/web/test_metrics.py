"""`/metrics`: what a scripted session leaves in the counters, read by prometheus_client's
parser, and scraped by a real Prometheus (Debian's package, started by the test) whose HTTP API
then returns the same values."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from trio_websocket import open_websocket_url

from qakit_trio.ws.hub import DELIVERY_SAMPLE

from ..support.helpers import Server, connected, receive_json, request, running_server, send_json
from ..support.pg import free_port, installed
from ..support.timeouts import SERVICE_TIMEOUT, TIMEOUT


async def session(server: Server) -> None:
    """Requests of every outcome, on both protocols; two clients stay connected."""
    async with open_websocket_url(f"{server.ws}/ws/orders") as legacy:
        await send_json(legacy, {"action": "ping"})
        assert (await receive_json(legacy))["type"] == "pong"
        await send_json(legacy, {"action": "get_order", "order_id": 999})  # order not found
        assert (await receive_json(legacy))["type"] == "error"
        await send_json(legacy, {"action": ["a", "list"]})  # unknown_action
        assert (await receive_json(legacy))["type"] == "error"
    async with connected(server, "metrics") as (ws, _):
        for n in range(3):
            await request(ws, {"action": "echo", "request_id": f"e{n}"})
        await request(ws, {"action": "fly", "request_id": "x"}, until="error")
        await ws.send_message("not json")
        assert (await receive_json(ws))["error"] == "invalid_json"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


async def test_a_sessions_counters_in_the_text_format() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            await session(server)
            async with connected(server, "metrics"):
                answer = await http.get("/metrics")
                assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
                found = samples(answer.text)
    assert value(found, "qakit_connections", protocol="envelope", channel="metrics") == 1
    envelope = {"protocol": "envelope"}
    assert value(found, "qakit_requests_total", **envelope, action="echo", outcome="ok") == 3
    assert (
        value(found, "qakit_requests_total", **envelope, action="unknown", outcome="unknown_action")
        == 1
    )
    assert (
        value(found, "qakit_requests_total", **envelope, action="none", outcome="invalid_json") == 1
    )
    assert value(found, "qakit_request_duration_seconds_count", **envelope, action="echo") == 3
    assert (
        value(found, "qakit_request_duration_seconds_bucket", **envelope, action="echo", le="+Inf")
        == 3
    )
    legacy = {"protocol": "legacy"}
    assert value(found, "qakit_requests_total", **legacy, action="ping", outcome="ok") == 1
    assert value(found, "qakit_requests_total", **legacy, action="get_order", outcome="error") == 1
    assert value(found, "qakit_requests_total", **legacy, action="unknown", outcome="error") == 1
    assert value(found, "qakit_frames_received_total", protocol="envelope") == 5
    assert value(found, "qakit_frames_received_total", protocol="legacy") == 3
    # hellos, 3 x (ack, echo, event), ack and error of "fly", the invalid_json error
    assert value(found, "qakit_frames_sent_total", protocol="envelope") == 2 + 9 + 2 + 1
    assert value(found, "qakit_frames_sent_total", protocol="legacy") == 3
    assert value(found, "qakit_slow_consumer_evictions_total", protocol="envelope") == 0
    assert value(found, "qakit_database_up") == 1
    assert value(found, "qakit_adapter_state", adapter="kafka", state="disabled") == 1
    assert value(found, "process_resident_memory_bytes") > 0
    # acked: the three echoes and "fly" (invalid JSON gets no ack)
    assert value(found, "qakit_ack_latency_seconds_count") == 4
    assert value(found, "qakit_ack_latency_seconds_bucket", le="+Inf") == 4
    assert 0 < value(found, "qakit_ack_latency_seconds_sum") < 4 * TIMEOUT
    assert value(found, "qakit_outbox_frames", protocol="envelope") >= 0
    assert value(found, "qakit_outbox_frames_max", protocol="legacy") == 0


async def test_one_publication_in_64_is_timed_to_every_subscribers_socket() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            httpx.AsyncClient(base_url=server.http) as http,
            connected(server, "timed") as (sender, _),
            connected(server, "timed") as (reader, _),
        ):
            for n in range(DELIVERY_SAMPLE - 1):
                payload = {"message": f"m{n}"}
                await request(sender, {"action": "broadcast", "request_id": n, "payload": payload})
            before = samples((await http.get("/metrics")).text)
            assert value(before, "qakit_delivery_latency_seconds_count") == 0
            last = {"message": "timed"}
            await request(sender, {"action": "broadcast", "request_id": "t", "payload": last})
            for _ in range(DELIVERY_SAMPLE):  # the reader's copies, the timed one last
                frame = await receive_json(reader)
            assert frame["message"] == "timed"
            await request(reader, {"action": "echo", "request_id": "after"})  # all written
            found = samples((await http.get("/metrics")).text)
    assert value(found, "qakit_delivery_latency_seconds_count") == 1  # the reader's (the
    # sender's copy is its reply)
    assert value(found, "qakit_delivery_latency_seconds_bucket", le="+Inf") == 1
    assert not server.app.services.hub.samples  # written everywhere: no writer looks any more


async def test_the_qa_kit_profiles_requests_are_counted_too() -> None:
    """Its errors are sentences (some quote the client): counted as outcome "error"."""
    with trio.fail_after(TIMEOUT):
        async with (
            running_server(profile="qa_kit") as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            async with connected(server, "metrics") as (ws, _):
                await request(ws, {"action": "echo", "request_id": "e"})
                await request(ws, {"action": "fly", "request_id": "x"}, until="error")
                await ws.send_message("not json")
                assert (await receive_json(ws))["type"] == "error"
            found = samples((await http.get("/metrics")).text)
    envelope = {"protocol": "envelope"}
    assert value(found, "qakit_requests_total", **envelope, action="echo", outcome="ok") == 1
    assert value(found, "qakit_requests_total", **envelope, action="unknown", outcome="error") == 1
    assert value(found, "qakit_requests_total", **envelope, action="none", outcome="error") == 1


def test_many_channels_are_summed_into_other() -> None:
    from qakit_trio.config import Settings
    from qakit_trio.services import Services
    from qakit_trio.web.metrics import TOP_CHANNELS, Scrapes, StandCollector
    from qakit_trio.ws.outbox import Inlet, open_outbox

    async def check() -> None:
        services = Services(Settings())
        ends = []
        for n in range(TOP_CHANNELS + 5):
            send, receive = open_outbox(4)
            ends.append(receive)
            services.hub.join(
                f"c{n}", f"id{n}", Inlet(send, lambda data: 0), lambda code, reason: None
            )
        [connections] = [
            m
            for m in StandCollector(services, Scrapes()).collect()
            if m.name == "qakit_connections"
        ]
        assert len(connections.samples) == TOP_CHANNELS + 1
        assert {s.labels["channel"]: s.value for s in connections.samples}["other"] == 5
        for end in ends:
            end.close()

    trio.run(check)


@asynccontextmanager
async def prometheus(target: str, folder: Path) -> AsyncIterator[str]:
    """Debian's Prometheus scraping `target` every second; yields its base URL."""
    binary = installed("prometheus", "prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n"
        f"  - job_name: qakit\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = await trio.lowlevel.open_process(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://{address}"
    finally:
        process.terminate()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()


@pytest.mark.system  # Debian's prometheus (installed with apt-get if missing)
async def test_a_real_prometheus_scrapes_the_same_values(tmp_path: Path) -> None:
    with trio.fail_after(SERVICE_TIMEOUT):
        async with running_server() as server, httpx.AsyncClient() as http:
            scrapes = server.app.scrapes
            await session(server)
            async with prometheus(urlsplit(server.http).netloc, tmp_path) as base:
                # two scrapes after the session: the first one's samples are stored by then
                await scrapes.wait_beyond(scrapes.count + 1)

                async def query(expression: str) -> list[dict[str, Any]]:
                    answer = (
                        await http.get(f"{base}/api/v1/query", params={"query": expression})
                    ).json()
                    assert answer["status"] == "success", answer
                    result: list[dict[str, Any]] = answer["data"]["result"]
                    return result

                [echo] = await query('qakit_requests_total{action="echo",outcome="ok"}')
                assert echo["value"][1] == "3"
                [up] = await query('up{job="qakit"}')
                assert up["value"][1] == "1"
                [received] = await query('qakit_frames_received_total{protocol="envelope"}')
                assert received["value"][1] == "5"
                [count] = await query('qakit_request_duration_seconds_count{action="echo"}')
                assert count["value"][1] == "3"
                [acks] = await query("qakit_ack_latency_seconds_count")
                assert acks["value"][1] == "4"
                assert await query("qakit_delivery_latency_seconds_bucket")
                assert await query("qakit_outbox_frames")
                assert await query("process_cpu_seconds_total")
