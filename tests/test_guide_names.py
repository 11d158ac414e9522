"""Every port, URL path, environment variable, repository file and WebSocket action the trainee
guides name (docs/guide/README.md and both languages) is one the stand has: the stand's two
ports (config's default binds, 8002 and 8000) and compose.yaml's published host ports (Kafka
29092, PostgreSQL 5432, the UIs); the app's routes (its url_map); config.KNOWN_VARIABLES (or
a shell variable the guide itself exports); files on disk; the /ws and /ws/orders action
tables. Kafka addresses must be compose's Kafka host port, and DATABASE_URL compose's
PostgreSQL. A guide that says `kcat -b localhost:9092` (compose publishes 29092) fails here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect, WebsocketMismatch

from qakit_trio.app import create_app
from qakit_trio.config import KNOWN_VARIABLES, Settings
from qakit_trio.wire import legacy

from .support.guides import FENCE, GUIDE, LANGUAGES, ROOT, blocks, name

LOCAL = r"(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])"
HOST_PORT = re.compile(rf"(?<![\w.-]){LOCAL}:(\d+)")
URL = re.compile(r"\b(wss?|https?)://([\w.-]+|\[[\w:]+\])(?::(\d+))?(/[^\s`)\"'<>|]*)?")
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
EXPORTED = re.compile(r"\bexport ([A-Z][A-Z0-9_]*)=")
REPO_PATH = re.compile(
    r"(?<![\w./~-])((?:docs|examples|postman|tests|qakit_trio|compose|bench)"
    r"/[\w./-]*|compose\.yaml|pyproject\.toml|Containerfile)"
)
POSTMAN_FILE = re.compile(r"(?<![\w/-])([\w-]+\.postman_\w+\.json)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`(?:(GET|POST|PUT|PATCH|DELETE) )?(/[^`\s?#]*)[^`]*`")
ACTION = re.compile(r"""["']?action["']?\s*:\s*["'](\w+)["']""")
KAFKA_ADDRESS = re.compile(r"(?:-b |KAFKA_BOOTSTRAP_SERVERS=)([\w.\[\]:-]+)")
DATABASE_URL = re.compile(r"postgresql://([^:@\s]+):([^@\s]+)@([\w.-]+):(\d+)/(\w+)")


Named = list[tuple[str, Any]]  # (file:line, what a guide names there)


def pages() -> list[Path]:
    return [GUIDE / "README.md"] + [
        path for language in LANGUAGES for path in sorted((GUIDE / language).glob("*.md"))
    ]


def lines(path: Path) -> Iterator[tuple[str, str]]:
    """(file:line, the line) of a page."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        yield f"{name(path)}:{number}", line


def prose(path: Path) -> Iterator[tuple[str, str]]:
    """The lines outside fenced blocks."""
    text = path.read_text()
    fenced: set[int] = set()
    for match in FENCE.finditer(text):
        fenced |= set(
            range(text.count("\n", 0, match.start()) + 1, text.count("\n", 0, match.end()) + 2)
        )
    for number, (where, line) in enumerate(lines(path), 1):
        if number not in fenced:
            yield where, line


@cache
def app() -> Any:
    return create_app(Settings())


@cache
def app_with_auth() -> Any:
    """The stand with QAKIT_AUTH=on: its /ws has `refresh` too (the guides' token section)."""
    return create_app(
        Settings(auth=True, teacher_token="teacher-token-0123456789", class_code="lesson-7")
    )


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def published(service: str | None = None) -> set[int]:
    """The host ports compose.yaml publishes (of one service, or of all)."""
    return {
        int(str(port).split(":")[-2])
        for name, spec in compose()["services"].items()
        if service in (None, name)
        for port in spec.get("ports", [])
    }


def stand_ports() -> set[int]:
    return {int(bind.rsplit(":", 1)[1]) for bind in Settings().binds}


def route_exists(path: str, websocket: bool | None) -> bool:
    """Whether the stand has `path`, with QAKIT_AUTH off or on (/auth/token: on only)."""
    for stand in (app(), app_with_auth()):
        adapter = stand.url_map.bind("127.0.0.1")
        for ws in [websocket] if websocket is not None else [False, True]:
            try:
                adapter.match(path, websocket=ws)
            except (MethodNotAllowed, RequestRedirect):
                return True  # the path is there (another method; or a redirect to it)
            except (NotFound, WebsocketMismatch):  # none, or one for the other kind (ws/http)
                continue
            return True
    return False


# --- each check: what the pages name, and what of it the stand does not have --------------


def wrong_ports(pages: list[Path]) -> tuple[Named, Named]:
    allowed = stand_ports() | published()
    named = [
        (where, match)
        for path in pages
        for where, line in lines(path)
        for match in HOST_PORT.finditer(line)
        if not line[: match.start()].endswith(("--bind ", "QAKIT_BIND="))
    ]
    return named, [(where, match[0]) for where, match in named if int(match[1]) not in allowed]


def wrong_kafka(pages: list[Path]) -> tuple[Named, Named]:
    kafka = published("kafka")
    named = [
        (where, address)
        for path in pages
        for where, line in lines(path)
        for address in KAFKA_ADDRESS.findall(line)
    ]
    return named, [
        (where, address)
        for where, address in named
        if not re.fullmatch(rf"{LOCAL}:(\d+)", address)
        or int(address.rsplit(":", 1)[1]) not in kafka
    ]


def wrong_databases(pages: list[Path]) -> tuple[Named, Named]:
    env = compose()["services"]["postgres"]["environment"]
    expected = (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        "localhost",
        str(min(published("postgres"))),
        env["POSTGRES_DB"],
    )
    named = [
        (where, match)
        for path in pages
        for where, line in lines(path)
        for match in DATABASE_URL.findall(line)
    ]
    return named, [(where, match) for where, match in named if match != expected]


def wrong_routes(pages: list[Path]) -> tuple[Named, Named]:
    named: Named = []  # (where, (path, websocket: True, False, or None for either))
    for path in pages:
        for where, line in lines(path):
            for scheme, host, port, route in URL.findall(line):
                if scheme.startswith("ws") and not route:
                    continue  # ws://HOST:PORT alone: the stand's address (qakit-trio replay --url)
                if re.fullmatch(LOCAL, host) and port and int(port) in stand_ports():
                    named.append(
                        (where, (re.split(r"[?#]", route)[0] or "/", scheme.startswith("ws")))
                    )
        for where, line in prose(path):
            named += [(where, (match[2], None)) for match in CODE_PATH.finditer(line)]
        for block in blocks(path):
            if block.marked("json", "ws"):
                named.append((block.where, (block.flags[1].split("?")[0], True)))
    return named, [
        (where, route) for where, (route, websocket) in named if not route_exists(route, websocket)
    ]


def wrong_variables(pages: list[Path]) -> tuple[Named, Named]:
    """A variable must be a setting of the stand, or one the pages export themselves (not
    QAKIT_/KAFKA_: the stand refuses QAKIT_ names it does not know)."""
    exported = {
        name
        for path in pages
        for _, line in lines(path)
        for name in EXPORTED.findall(line)
        if not name.startswith(("QAKIT_", "KAFKA_"))
    }
    named = [
        (where, name)
        for path in pages
        for where, line in lines(path)
        for name in VARIABLE.findall(line)
    ]
    return named, [
        (where, name)
        for where, name in named
        if name not in KNOWN_VARIABLES and name not in exported
    ]


def wrong_files(pages: list[Path]) -> tuple[Named, Named]:
    named: Named = []
    for page in pages:
        for where, line in lines(page):
            named += [(where, ROOT / name.rstrip(".")) for name in REPO_PATH.findall(line)]
            named += [(where, ROOT / "postman" / name) for name in POSTMAN_FILE.findall(line)]
            named += [
                (where, page.parent / target.split("#")[0])
                for target in LINK.findall(line)
                if not re.match(r"[a-z]+:|#", target)
            ]
    return named, [(where, str(path)) for where, path in named if not path.exists()]


def wrong_actions(pages: list[Path]) -> tuple[Named, Named]:
    """/ws/orders blocks send the legacy table's actions, other `json ws` blocks /ws's (blocks
    marked `errors` send unknown ones on purpose); elsewhere either table's."""
    ws_actions = (
        app().services.metrics["envelope"].actions
        | app_with_auth().services.metrics["envelope"].actions
    )
    anywhere = ws_actions | legacy.ACTIONS
    named: Named = []  # (where, (action, the table it must be in))
    for path in pages:
        for block in blocks(path):
            table = anywhere
            if block.marked("json", "ws"):
                if "errors" in block.flags:
                    continue
                table = legacy.ACTIONS if block.flags[1].startswith("/ws/orders") else ws_actions
            named += [(block.where, (action, table)) for action in ACTION.findall(block.text)]
        named += [
            (where, (action, anywhere))
            for where, line in prose(path)
            for action in ACTION.findall(line)
        ]
    return named, [(where, action) for where, (action, table) in named if action not in table]


# --- the guides -----------------------------------------------------------------------------


def test_the_stand_and_compose_have_the_ports_this_test_knows() -> None:
    assert stand_ports() == {8002, 8000}
    assert published("kafka") == {29092}
    assert {8002, 8000, 5432} <= published()


@pytest.mark.parametrize(
    ("check", "at_least"),
    [
        (wrong_ports, 60),
        (wrong_kafka, 6),
        (wrong_databases, 4),
        (wrong_routes, 100),
        (wrong_variables, 10),
        (wrong_files, 30),
        (wrong_actions, 20),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_the_guides_name_only_what_the_stand_has(
    check: Callable[[list[Path]], tuple[Named, Named]], at_least: int
) -> None:
    named, wrong = check(pages())
    assert len(named) >= at_least  # the check sees what it checks
    assert wrong == [], f"{check.__name__}: named by the guides, not in the stand"


# --- and each check can fail ----------------------------------------------------------------

PLANTED = """# a guide that names what the stand does not have

`kcat -b localhost:9092`, `KAFKA_BOOTSTRAP_SERVERS=localhost:9092 qakit-trio`
`DATABASE_URL=postgresql://qa:qa@localhost:5433/qa_kit`
http://127.0.0.1:8002/nowhere and `/ws/nowhere`; `QAKIT_NO_SUCH_SETTING=1`; `export QAKIT_MINE=1`
see docs/no-such-page.md, [the page](no-such-page.md) and `nothing.postman_collection.json`

```json ws /ws/orders
{"action": "echo"}
```
"""


@pytest.mark.parametrize(
    "check",
    [
        wrong_ports,
        wrong_kafka,
        wrong_databases,
        wrong_routes,
        wrong_variables,
        wrong_files,
        wrong_actions,
    ],
    ids=lambda check: check.__name__,
)
def test_each_check_finds_a_planted_mistake(
    check: Callable[[list[Path]], tuple[Named, Named]], tmp_path: Path
) -> None:
    page = tmp_path / "planted.md"
    page.write_text(PLANTED)
    assert check([page])[1] != []
