"""The package's layers, checked from the source (ast): which layer may import what, and how
long a module may grow. The layers, bottom up (qakit_trio/*/__init__.py says what each holds):

    errors                        pure, imports nothing
    wire, lab                     pure wire formats; the lab's bug catalogue: errors only, no
                                  trio/quart/hypercorn
    domain                        the orders domain and store interface: no adapter, no web
    transport                     the only place for hypercorn's and quart's internals
    ws, adapters                  connections and fan-out; PostgreSQL and Kafka
    sessions, web                 what messages mean; routes
    config, logs, log_fields, supervisor, services, app, server, cli, asgi   (the top: wiring,
                                  launching)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qakit_trio"
MAX_LINES = 350

# layer -> project packages/modules it must not import
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"*"},
    "wire": {"*"} - {"errors"},
    "lab": {"*"} - {"errors"},
    "domain": {"adapters", "transport", "ws", "web", "sessions", "services", "app", "server"},
    "transport": {"ws", "sessions", "web", "adapters", "domain", "services", "app", "server"},
    "ws": {"sessions", "web", "adapters", "domain", "services", "app", "server"},
    "adapters": {"ws", "sessions", "web", "transport", "services", "app", "server"},
    "sessions": {"web", "app", "server"},
    "web": {"adapters", "app", "server"},
}
THIRD_PARTY_PURE = {
    "trio",
    "trio_asyncio",
    "quart",
    "quart_trio",
    "hypercorn",
    "wsproto",
    "h11",
    "h2",
    "psycopg",
    "psycopg_pool",
    "aiokafka",
    "werkzeug",
}
# hypercorn and the wire libraries beneath it, and quart's internals: the transport layer only
# (and the launcher, which starts hypercorn through its public API)
INTERNALS = (
    "hypercorn",
    "wsproto",
    "h11",
    "h2",
    "quart.asgi",
    "quart_trio.asgi",
    "quart_trio.wrappers",
)
INTERNALS_ALLOWED = {"transport", "server"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports_of(path: Path) -> list[str]:
    """Every module `path` imports, as absolute dotted names."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:
                raise AssertionError(f"{path.name}: use absolute imports (from qakit_trio...)")
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def forbidden_import(layer: str, name: str) -> bool:
    """Whether a module of `layer` may not import the module (or name) `name`."""
    parts = name.split(".")
    if parts[0] == "qakit_trio":
        target = parts[1] if len(parts) > 1 else ""
        if target in (layer, "__version__", ""):
            return False
        rules = FORBIDDEN.get(layer, set())
        return target in rules or ("*" in rules and target != "errors") or layer == "errors"
    if layer in ("errors", "wire", "lab") and parts[0] in THIRD_PARTY_PURE:
        return True
    return name.startswith(INTERNALS) and layer not in INTERNALS_ALLOWED


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_layer_may(path: Path) -> None:
    layer = layer_of(path)
    problems = [name for name in imports_of(path) if forbidden_import(layer, name)]
    assert not problems, f"{path.relative_to(PACKAGE)} ({layer}) must not import {problems}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself: a wire module importing trio, or a domain module importing an
    adapter, is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import trio\nfrom qakit_trio.adapters.kafka import KafkaPublisher\n")
    assert imports_of(bad) == [
        "trio",
        "qakit_trio.adapters.kafka",
        "qakit_trio.adapters.kafka.KafkaPublisher",
    ]
    assert forbidden_import("wire", "trio")
    assert forbidden_import("wire", "qakit_trio.ws.hub")
    assert not forbidden_import("wire", "qakit_trio.errors")
    assert forbidden_import("domain", "qakit_trio.adapters.kafka")
    assert forbidden_import("ws", "hypercorn.typing")
    assert not forbidden_import("transport", "hypercorn.typing")
    assert forbidden_import("errors", "qakit_trio.wire.protocol")
