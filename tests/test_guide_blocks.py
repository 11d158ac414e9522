"""The trainee guides (docs/guide/ru, docs/guide/en) cannot rot: every runnable block is run, in
file order, against a live stand with Kafka (one stand per language, so both start from an
empty store). Blocks (docs/guide/README.md, tests/support/guides.py):

    ```bash run            exits 0          ```bash run kafka      the same, Kafka's records first
    ```json ws PATH        each line sent on one connection to PATH; every reply matches the
                           AsyncAPI document (conftest.py), none is an error unless `errors`
    ```json reply          the exact text of one frame the `json ws` block before it received
    ```ini FILE            saved as FILE           ```python pytest FILE   saved; pytest passes

Only the stand's address is put in place (the guides say 127.0.0.1:8002 and :8000). Kafka is
what the guides say it is: the stand gets the guide's own KAFKA_BOOTSTRAP_SERVERS
(localhost:29092, compose.yaml's port on the host) and its default topics, and the kcat lines
run unchanged, against a test broker started on 29092 (a busy 29092 fails the test, naming the
port). `bash venv` blocks (exercise 5 from a fresh venv) run in test_guide_venv.py; the
`bash debian-postgres` recipe runs here against a cluster of the test's own."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from qakit_trio.adapters.kafka import KafkaPublisher

from .support import kafka_broker, pg
from .support.guides import GUIDE, LANGUAGES, ORDER, Block, all_blocks, blocks, put_in_place
from .support.helpers import Server, running_server
from .support.timeouts import INSTALL_TIMEOUT, LOAD_TIMEOUT

pytestmark = pytest.mark.system  # the guides' blocks against a live stand, Kafka, PostgreSQL

KAFKA_HOST_PORT = 29092  # compose.yaml publishes Kafka to the host here (test_guide_names.py)
RUN = [("bash", "run"), ("json", "ws"), ("json", "reply"), ("ini",), ("python", "pytest")]


def runnable(language: str) -> list[Block]:
    return [block for block in all_blocks(language) if any(block.marked(*kind) for kind in RUN)]


def test_both_languages_have_every_section_and_the_same_runnable_blocks() -> None:
    for language in LANGUAGES:
        assert sorted(p.stem for p in (GUIDE / language).glob("*.md")) == sorted(ORDER)
    ru, en = runnable("ru"), runnable("en")
    assert [(b.kind, b.flags) for b in ru] == [(b.kind, b.flags) for b in en]
    assert len(ru) >= 17
    # files and frames are the same text in both languages (commands and requests may differ)
    assert [b.text for b in ru if b.kind in ("ini", "python") or b.marked("json", "reply")] == [
        b.text for b in en if b.kind in ("ini", "python") or b.marked("json", "reply")
    ]


def kafka_start_line(language: str) -> str:
    """The address the guide starts the stand with: `KAFKA_BOOTSTRAP_SERVERS=X qakit-trio`."""
    found: set[str] = {
        match
        for block in blocks(GUIDE / language / "kafka-and-logs.md")
        for match in re.findall(
            r"^KAFKA_BOOTSTRAP_SERVERS=(\S+) qakit-trio$", block.text, re.MULTILINE
        )
    }
    assert len(found) == 1, found
    return found.pop()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Kafka's own socket
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def broker_on_the_guides_port() -> Iterator[None]:
    """A test broker where the guides' Kafka lines point: compose's host port, 29092."""
    if not port_is_free(KAFKA_HOST_PORT):
        pytest.fail(
            f"port {KAFKA_HOST_PORT} is taken: the guides' Kafka lines "
            f"(KAFKA_BOOTSTRAP_SERVERS=localhost:{KAFKA_HOST_PORT}, kcat -b "
            f"localhost:{KAFKA_HOST_PORT}) run against a test broker on that port. Stop "
            "what listens there (a compose stand's Kafka: `docker compose stop kafka`) "
            "and run again.",
            pytrace=False,
        )
    broker = kafka_broker.Broker(port=KAFKA_HOST_PORT)
    try:
        broker.start()
        yield
    finally:
        broker.remove()


async def answers(ws: WebSocketConnection, path: str) -> list[str]:
    """The raw frames answering one message (read until the protocol's last one)."""

    async def frame() -> tuple[str, dict[str, Any]]:
        text = await ws.get_message()
        assert isinstance(text, str)
        return text, json.loads(text)

    raw, first = await frame()
    frames, last = [raw], first
    if path.startswith("/ws/orders"):
        if first["type"] == "result" and first["action"] != "get_order":
            frames.append((await frame())[0])  # the order event, to every client
        return frames
    while last["type"] not in ("event", "error"):
        raw, last = await frame()
        frames.append(raw)
    return frames


async def run_ws(block: Block, server: Server) -> list[str]:
    """Send the block's lines; the raw text of every frame that answered them."""
    path = block.flags[1]
    received = []
    async with open_websocket_url(f"{server.ws}{path}") as ws:
        if path.startswith("/ws?") or path == "/ws":
            assert json.loads(await ws.get_message())["type"] == "system"
        for line in block.text.splitlines():
            await ws.send_message(line)
            frames = await answers(ws, path)
            received += frames
            if "errors" not in block.flags:
                errors = [f for f in frames if json.loads(f)["type"] == "error"]
                assert errors == [], (block.where, frames)
    return received


async def run_bash(block: Block, text: str, env: dict[str, str]) -> None:
    done = await trio.run_process(
        ["bash", "-e", "-c", text], capture_stdout=True, capture_stderr=True, check=False, env=env
    )
    assert done.returncode == 0, (
        block.where,
        done.stdout.decode()[-2000:],
        done.stderr.decode()[-2000:],
    )


async def run_pytest(block: Block, text: str, folder: Path, env: dict[str, str]) -> None:
    test = folder / block.flags[1]
    test.write_text(text)
    done = await trio.run_process(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name],
        cwd=folder,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, (block.where, done.stdout.decode()[-3000:])


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_runnable_block_of_the_guide_works(
    language: str, broker_on_the_guides_port: None, tmp_path: Path
) -> None:
    env = {**os.environ, "PATH": f"{Path(kafka_broker.kcat()).parent}:{os.environ['PATH']}"}
    received: list[str] = []
    bootstrap = kafka_start_line(language)  # the guide's own: localhost:29092
    with trio.fail_after(INSTALL_TIMEOUT):
        async with running_server(kafka_bootstrap=bootstrap, kafka_timeout=3.0) as server:
            kafka = server.app.services.kafka
            assert isinstance(kafka, KafkaPublisher)
            for block in runnable(language):
                text = put_in_place(block.text, urlsplit(server.http).netloc)
                if block.marked("json", "ws"):
                    received = await run_ws(block, server)
                elif block.marked("json", "reply"):
                    assert text.strip() in received, (block.where, received)
                elif block.kind == "ini":
                    (tmp_path / block.flags[0]).write_text(text)
                elif block.kind == "bash":
                    if "kafka" in block.flags:  # what came before is in Kafka now
                        delivered = False
                        with trio.move_on_after(60):
                            delivered = await kafka.deliver(())
                        assert delivered, (
                            f"{block.where}: nothing delivered to Kafka at the guide's {bootstrap}",
                            kafka.health(),
                        )
                    await run_bash(block, text, env)
                else:
                    await run_pytest(block, text, tmp_path, env)


# --- PostgreSQL without compose: the Debian recipe (start.md) ------------------------------

# Debian's pg_hba.conf for the recipe's two doors: the postgres OS user over the socket (peer
# there; trust here, where only `runuser -u postgres` uses the socket), everyone else over TCP
# with a password (scram-sha-256), as the stand connects with the guides' DATABASE_URL.
PG_HBA = """local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


@pytest.fixture
def recipe_cluster() -> Iterator[pg.Cluster]:
    """A PostgreSQL cluster of the test's own, on a free port: Debian's server binaries (the
    `postgresql` package the recipe installs), its pg_hba.conf as Debian's."""
    cluster = pg.Cluster().init()
    (cluster.data / "pg_hba.conf").write_text(PG_HBA)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def database_urls() -> set[str]:
    return {
        url
        for language in LANGUAGES
        for path in (GUIDE / language).glob("*.md")
        for url in re.findall(r"postgresql://[^\s`'\"]+", path.read_text())
    }


def customers(url: str) -> list[str]:
    """The customers of the orders table, read by whoever `url` logs in as (blocking)."""
    with psycopg.connect(url, connect_timeout=10) as connection:
        return [row[0] for row in connection.execute("SELECT customer FROM orders ORDER BY id")]


async def test_the_debian_postgresql_recipe_makes_the_guides_database(
    recipe_cluster: pg.Cluster,
) -> None:
    """The recipe runs as printed but for two things: `sudo -u postgres` is `runuser -u
    postgres --` (we are root; sudo may be missing), and its psql/createdb reach the test's
    cluster through PGHOST/PGPORT instead of Debian's default socket and port 5432 (only the
    port changes). `sudo apt install postgresql` is not run: the package is installed (the
    cluster's binaries come from it). Then the stand runs with the guides' DATABASE_URL, its
    port adapted the same way, and stores an order as `qa`, who logs in with its password."""
    recipe = {
        language: [
            b for b in blocks(GUIDE / language / "start.md") if b.marked("bash", "debian-postgres")
        ]
        for language in LANGUAGES
    }
    assert len(recipe["ru"]) == 1
    assert [b.text for b in recipe["ru"]] == [b.text for b in recipe["en"]]
    first, *lines = recipe["ru"][0].text.splitlines()
    assert first == "sudo apt install postgresql"
    installed = await trio.run_process(
        ["dpkg-query", "-W", "-f", "${Status}", "postgresql"], capture_stdout=True, check=False
    )
    assert installed.stdout.decode() == "install ok installed"
    assert all(line.startswith("sudo -u postgres ") for line in lines), lines
    script = "\n".join(
        line.replace("sudo -u postgres ", "runuser -u postgres -- ", 1) for line in lines
    )
    env = {**os.environ, "PGHOST": str(recipe_cluster.base), "PGPORT": str(recipe_cluster.port)}
    with trio.fail_after(LOAD_TIMEOUT):
        done = await trio.run_process(
            ["bash", "-e", "-c", script],
            cwd="/",
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        urls = database_urls()
        assert urls == {"postgresql://qa:qa@localhost:5432/qa_kit"}, urls
        url = urls.pop().replace(":5432/", f":{recipe_cluster.port}/")
        async with (
            running_server(database_url=url) as server,
            httpx.AsyncClient(base_url=server.http) as http,
        ):
            created = await http.post("/orders", json={"customer": "Юлия"})
            assert created.status_code == 200, created.text
            health = (await http.get("/health")).json()
        assert health["database"]["state"] == "up", health
        assert await trio.to_thread.run_sync(customers, url) == ["Юлия"]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            await trio.to_thread.run_sync(customers, url.replace("qa:qa@", "qa:wrong@"))
