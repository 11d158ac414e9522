"""The package's layers, checked from the source (ast): which unit may import what, that no two
units import each other (directly or round a loop), and how long a module may grow.

A unit is a folder of qakit_trio/ (a layer) or a top-level module; `lab/bugs.py`, the lab's pure
bug catalogue that config reads, is a unit of its own (`lab.bugs`): the rest of `lab/` wraps
requests and stores, above ws. Every unit has a rule in ALLOWED (a test checks that none is
missing), bottom up:

    errors, __init__                      pure, import nothing
    wire, lab.bugs                        pure (errors only; no trio/quart/hypercorn)
    log_fields, channels, request_metrics the small top-level helpers
    config, log_format, logs, supervisor  settings, JSON lines and logs, supervised tasks
    domain                                the orders domain and store interface
    transport                             the only place for hypercorn's and quart's internals
    ws, adapters                          connections and fan-out; PostgreSQL and Kafka
    cluster                               several instances through a Kafka bus (above ws)
    pipeline                              a request's stages, events
    lab                                   bugs and faults, as wrappers (outlets, stores)
    classroom                             assignments, findings, the roster (and their tables)
    sessions                              what messages mean (the doors)
    services                              builds what the sessions get
    web                                   routes
    binds                                 which addresses to serve on, ports shared (stdlib)
    app, server, asgi, cli, __main__, testing, pytest_plugin   building and launching
    workers                               `--workers N`: the parent of N stand processes
    replayer                              `qakit-trio replay` (a stand of its own with --seed)
    classroom.replay                      findings replayed on twins (the kit, transport/kit.py)
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qakit_trio"
WARN_LINES = 300  # past this, listed in the run's summary: time to split by concept
MAX_LINES = 400  # past this, a failure
SPLIT = (
    "lab.bugs",
    "classroom.replay",
)  # modules that are a unit of their own, not part of their folder's

# unit -> the units it may import (its own always). The version and the error tree are anyone's;
# the helpers are the small top-level modules every layer may use.
BASE = {"__init__", "errors"}
HELPERS = BASE | {"config", "log_fields", "log_format", "logs", "channels", "request_metrics"}
HELPERS |= {"supervisor"}
LAYERS = {"wire", "auth", "lab.bugs", "domain", "transport", "ws", "adapters", "pipeline", "lab"}
LAYERS |= {"classroom", "cluster"}
BELOW_THE_TOP = HELPERS | LAYERS | {"sessions", "services", "web"}
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "errors": set(),
    "wire": {"errors"},
    "lab.bugs": {"errors"},
    "log_fields": {"errors"},
    "channels": {"errors"},
    "request_metrics": {"errors"},
    "auth": {"errors"},  # users, tokens (PyJWT), rate limits: pure logic
    "config_values": {"errors", "wire", "lab.bugs", "auth"},
    "config": {"errors", "wire", "lab.bugs", "auth", "config_values"},
    "log_format": BASE | {"wire", "log_fields"},  # the JSON line (logs.py writes them)
    "logs": BASE | {"wire", "log_fields", "log_format"},
    "supervisor": BASE | {"log_fields", "logs"},
    # no lab: the store's bugs are wrappers around it (lab/)
    "domain": BASE | {"wire", "log_fields", "logs", "channels"},
    "transport": HELPERS | {"wire"},
    "ws": HELPERS | {"wire", "transport"},
    "adapters": HELPERS | {"wire", "lab.bugs", "domain"},
    # the bus (aiokafka, as the Kafka adapter) and the hubs it delivers to
    "cluster": HELPERS | {"wire", "lab.bugs", "ws", "adapters"},
    "pipeline": HELPERS | {"wire", "auth", "lab.bugs", "domain", "ws", "adapters", "cluster"},
    # not sessions, web, services, app, server, transport, adapters
    "lab": BASE
    | {"lab.bugs", "wire", "domain", "ws", "pipeline"}
    | {"channels", "request_metrics", "log_fields", "logs"},
    # the teacher's tables (PostgreSQL through the adapter); no trio-free promise, no doors
    "classroom": HELPERS | {"wire", "auth", "lab.bugs", "adapters"},
    # not services: sessions get what they use from it, built (issue 24)
    "sessions": HELPERS
    | {"wire", "auth", "lab.bugs", "lab", "domain", "ws", "adapters", "pipeline", "cluster"},
    "services": HELPERS | LAYERS | {"sessions"},
    "web": HELPERS | (LAYERS - {"adapters"}) | {"sessions", "services"},
    "app": BELOW_THE_TOP | {"classroom.replay"},
    "classroom.replay": BELOW_THE_TOP,  # (the twins are built by a function app.py gives)
    "binds": set(),  # sockets only (the stdlib)
    "server": BELOW_THE_TOP | {"app", "binds"},
    # the parent of --workers: it spawns `python -m qakit_trio` and imports no app or server
    "workers": HELPERS | {"binds"},
    "asgi": BELOW_THE_TOP | {"app", "server"},
    "cli": BELOW_THE_TOP | {"app", "server", "config_values", "replayer", "binds", "workers"},
    "replayer": BELOW_THE_TOP | {"app", "server"},  # wire/sessions.py's files, replayed
    "__main__": {"cli"},
    "testing": BELOW_THE_TOP | {"app", "server"},
    "pytest_plugin": BASE | {"testing"},
}
PURE = {"__init__", "errors", "wire", "lab.bugs"}  # and none of these either:
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
# framework internals -> the only units that may import them: hypercorn and the wire libraries
# beneath it, and quart's internals, are the transport layer's (and the launcher's, which starts
# hypercorn through its public API)
LAUNCH = {"transport", "server"}
INTERNALS: dict[str, set[str]] = {
    "hypercorn": LAUNCH,
    "wsproto": LAUNCH,
    "h11": LAUNCH,
    "h2": LAUNCH,
    "quart.asgi": LAUNCH,
    "quart_trio.asgi": LAUNCH,
    "quart_trio.wrappers": LAUNCH,
    # FastApiJson (app.py) subclasses it and calls its private _prepare_response_obj
    "quart.json.provider": {"app"},
}


def modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(package.rglob("*.py"))


def unit_of(path: Path, package: Path = PACKAGE) -> str:
    """The unit a module of the package belongs to: its folder, or itself at the top."""
    parts = path.relative_to(package).with_suffix("").parts
    return unit_named(".".join(parts))


def unit_named(dotted: str) -> str:
    """The unit of `dotted`, a module's name inside the package ("" for the package itself)."""
    if not dotted:
        return "__init__"
    for split in SPLIT:
        if dotted == split or dotted.startswith(f"{split}."):
            return split
    return dotted.split(".")[0]


def units(package: Path = PACKAGE) -> set[str]:
    return {unit_of(path, package) for path in modules(package)}


def _is_module(dotted: str, package: Path) -> bool:
    """Whether `dotted` (qakit_trio.x.y) names a module or package of `package`'s tree."""
    path = package.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, package: Path = PACKAGE) -> list[str]:
    """Every module `path` imports, as absolute dotted names (TYPE_CHECKING and function-level
    imports too). `from M import n`: M.n when that is one of the package's modules, else M;
    outside the package both M and M.n (a name or a submodule: the internals check needs it)."""
    root = package.name
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:
                raise AssertionError(f"{path.name}: use absolute imports (from {root}...)")
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            if node.module.split(".")[0] != root:
                found += [node.module, *names]
                continue
            for name in names:
                found.append(name if _is_module(name, package) else node.module)
    return list(dict.fromkeys(found))


def target_unit(name: str, root: str = PACKAGE.name) -> str | None:
    """The unit an imported module belongs to, or None outside the package."""
    parts = name.split(".")
    if parts[0] != root:
        return None
    return unit_named(".".join(parts[1:]))


def forbidden_import(unit: str, name: str) -> bool:
    """Whether a module of `unit` may not import the module (or name) `name`."""
    target = target_unit(name)
    if target is not None:
        return target != unit and target not in ALLOWED.get(unit, set())
    if unit in PURE and name.split(".")[0] in THIRD_PARTY_PURE:
        return True
    return any(
        (name == internal or name.startswith(f"{internal}.")) and unit not in allowed
        for internal, allowed in INTERNALS.items()
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_unit_may(path: Path) -> None:
    unit = unit_of(path)
    problems = [name for name in imports_of(path) if forbidden_import(unit, name)]
    assert not problems, f"{path.relative_to(PACKAGE)} ({unit}) must not import {problems}"


def test_every_module_and_folder_has_a_rule(tmp_path: Path) -> None:
    assert sorted(units() - ALLOWED.keys()) == [], "add a rule to ALLOWED"
    assert sorted(ALLOWED.keys() - units()) == [], "a rule for a unit that is gone"
    named = set().union(*ALLOWED.values())
    assert sorted(named - ALLOWED.keys()) == [], "ALLOWED names a unit that has no rule"
    # the check can fail: a new top-level module, a new folder
    package = _tree(
        tmp_path, {"errors.py": "", "wire/protocol.py": "", "helpers.py": "", "extra/x.py": ""}
    )
    assert sorted(units(package) - ALLOWED.keys()) == ["extra", "helpers"]
    assert forbidden_import("helpers", "qakit_trio.errors")  # no rule: may import nothing


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself: a wire module importing trio, a domain module importing an adapter
    or the lab, a session importing services, web importing an adapter, framework internals
    outside their units."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import trio\nfrom qakit_trio.adapters.kafka import KafkaPublisher\n"
        "from qakit_trio.lab import bugs\nfrom qakit_trio import __version__, logs\n"
    )
    assert imports_of(bad) == [
        "trio",
        "qakit_trio.adapters.kafka",
        "qakit_trio.lab.bugs",
        "qakit_trio",
        "qakit_trio.logs",
    ]
    assert [target_unit(name) for name in imports_of(bad)] == [
        None,
        "adapters",
        "lab.bugs",
        "__init__",
        "logs",
    ]
    assert forbidden_import("wire", "trio")
    assert forbidden_import("lab.bugs", "trio")
    assert not forbidden_import("lab", "trio")
    assert forbidden_import("wire", "qakit_trio.ws.hub")
    assert not forbidden_import("wire", "qakit_trio.errors")
    assert forbidden_import("errors", "qakit_trio.wire.protocol")
    assert forbidden_import("domain", "qakit_trio.adapters.kafka")
    assert forbidden_import("domain", "qakit_trio.lab.bugs")
    assert not forbidden_import("config", "qakit_trio.lab.bugs")
    assert forbidden_import("config", "qakit_trio.lab.outlets")
    assert forbidden_import("lab", "qakit_trio.adapters.kafka")
    assert not forbidden_import("lab", "qakit_trio.ws.connection")
    assert forbidden_import("sessions", "qakit_trio.services")
    assert forbidden_import("web", "qakit_trio.adapters.kafka")
    assert not forbidden_import("services", "qakit_trio.adapters.kafka")
    assert forbidden_import("ws", "hypercorn.typing")
    assert not forbidden_import("transport", "hypercorn.typing")
    assert forbidden_import("web", "quart.json.provider")
    assert not forbidden_import("app", "quart.json.provider")
    assert not forbidden_import("web", "quart.json")


def unit_graph(package: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """unit -> {another unit it imports: the modules (paths in the package) that do}, from the
    real imports of every module."""
    graph: dict[str, dict[str, list[str]]] = {unit: {} for unit in units(package)}
    for path in modules(package):
        unit = unit_of(path, package)
        for name in imports_of(path, package):
            target = target_unit(name, package.name)
            if target is not None and target != unit:
                found = graph[unit].setdefault(target, [])
                if str(path.relative_to(package)) not in found:
                    found.append(str(path.relative_to(package)))
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles between units: one per group of units that reach each other (a
    strongly connected component of more than one unit), as a path from its first unit back to
    it, e.g. ["services", "sessions", "services"]."""
    edges = {unit: sorted(set(targets)) for unit, targets in graph.items()}
    for targets in list(edges.values()):
        for target in targets:
            edges.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(unit: str) -> None:  # Tarjan's algorithm (the graph is a few dozen units)
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in edges[unit]:
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for unit in sorted(edges):
        if unit not in index:
            visit(unit)
    return sorted(_loop(group, edges) for group in groups)


def _loop(group: list[str], edges: Mapping[str, list[str]]) -> list[str]:
    """The shortest path from the group's first unit back to it, inside the group."""
    start = group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        unit = queue.pop(0)
        for target in edges[unit]:
            if target == start:
                return [*paths[unit], start]
            if target in group and target not in paths:
                paths[target] = [*paths[unit], target]
                queue.append(target)
    raise AssertionError(f"{group} is not a cycle")


def explain(loop: list[str], graph: Mapping[str, Mapping[str, list[str]]]) -> str:
    steps = [f"{a} -> {b} ({', '.join(graph[a][b])})" for a, b in itertools.pairwise(loop)]
    return " -> ".join(loop) + ": " + "; ".join(steps)


def test_no_import_cycle_between_units() -> None:
    graph = unit_graph()
    found = [explain(loop, graph) for loop in cycles(graph)]
    assert found == [], "\n".join(found)


def test_the_cycle_check_finds_a_planted_import(tmp_path: Path) -> None:
    package = _tree(
        tmp_path,
        {
            "errors.py": "",
            "wire/protocol.py": "from qakit_trio.errors import X\n",
            "ws/hub.py": "from qakit_trio.wire import protocol\n",
            "config.py": "import qakit_trio.wire.protocol\n",
        },
    )
    assert cycles(unit_graph(package)) == []
    (package / "wire" / "planted.py").write_text("def f():\n    from qakit_trio.ws.hub import H\n")
    graph = unit_graph(package)
    assert cycles(graph) == [["wire", "ws", "wire"]]
    assert explain(["wire", "ws", "wire"], graph) == (
        "wire -> ws -> wire: wire -> ws (wire/planted.py); ws -> wire (ws/hub.py)"
    )
    # and the real graph fed a planted edge: errors -> services closes a loop through errors
    real = {unit: set(targets) for unit, targets in unit_graph().items()}
    planted = {**real, "errors": real["errors"] | {"services"}}
    assert not any("errors" in loop for loop in cycles(real))
    assert any({"errors", "services"} <= set(loop) for loop in cycles(planted))
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []}) == [["a", "b", "c", "a"]]


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    """A package named qakit_trio under `root` holding `files` (path -> text)."""
    package = root / "qakit_trio"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != package:
            (path.parent / "__init__.py").touch()
        path.write_text(text)
    return package


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def over_the_limit(path: Path, package: Path = PACKAGE) -> str | None:
    lines = line_count(path)
    if lines <= MAX_LINES:
        return None
    return (
        f"{path.relative_to(package)} has {lines} lines (at most {MAX_LINES}): split it by concept"
    )


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_passes_the_hard_limit(path: Path) -> None:
    assert over_the_limit(path) is None


def long_modules(package: Path = PACKAGE) -> list[str]:
    """The modules past WARN_LINES, longest first, as "path: N lines"."""
    found = [(line_count(path), path) for path in modules(package)]
    return [
        f"{path.relative_to(package)}: {lines} lines"
        for lines, path in sorted(found, key=lambda item: (-item[0], item[1]))
        if lines > WARN_LINES
    ]


class LongModules:
    """A pytest plugin that lists the long modules in the run's summary (a warning, not a
    failure: the run treats warnings as errors)."""

    name = "qakit-long-modules"

    def __init__(self, found: list[str]) -> None:
        self.found = found

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section(f"modules over {WARN_LINES} lines (the limit is {MAX_LINES})")
        for line in self.found:
            terminalreporter.line(line)


def test_long_modules_are_listed_in_the_summary(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    found = long_modules()
    manager = request.config.pluginmanager
    if found and not manager.has_plugin(LongModules.name):
        manager.register(LongModules(found), LongModules.name)
    # the listing can name a module: one line over the warning size, not one at it
    package = _tree(tmp_path, {"long.py": "x = 1\n" * (WARN_LINES + 1), "ok.py": "x = 1\n" * 300})
    assert long_modules(package) == [f"long.py: {WARN_LINES + 1} lines"]
    assert over_the_limit(package / "long.py", package) is None
    too_long = package / "longer.py"
    too_long.write_text("x = 1\n" * (MAX_LINES + 1))
    assert over_the_limit(too_long, package) == (
        f"longer.py has {MAX_LINES + 1} lines (at most {MAX_LINES}): split it by concept"
    )
