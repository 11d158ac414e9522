"""The live trio task tree of this process (GET /debug/tasks, the /tasks page).

trio.lowlevel already knows the whole tree: the root task, each task's `child_nurseries`, each
nursery's `child_tasks`. This walks it when someone asks, and labels each task by what it
runs, found on its await stack (`Task.iter_await_frames()`): a frame of `Connection.run` is a
connection (its `self` says which one), `Supervisor.supervise` a supervised service (its
`name`), and so on (KINDS). Nothing is registered on the hot path; the cost is paid by the
one who looks.

Large fan-outs are collapsed: a nursery with more than `limit` children of one kind lists
`limit` of them and counts the rest (5000 connections become one group; `expand` names the
kinds to list in full).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import trio

DOC = "/guides/concurrency.md"  # each kind links to its row there: DOC#task-KIND


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    label: Callable[[dict[str, Any]], str]  # from the frame's locals


def _self_attr(*names: str) -> Callable[[dict[str, Any]], Any]:
    def get(local: dict[str, Any]) -> Any:
        value = local.get("self")
        for name in names:
            value = getattr(value, name, None)
        return value
    return get


_conn_id, _conn_channel, _conn_hub = (_self_attr("id"), _self_attr("channel"),
                                      _self_attr("_hub", "name"))


def _connection(local: dict[str, Any]) -> str:
    return f"connection {_conn_id(local)} ({_conn_hub(local)}, channel {_conn_channel(local)})"


# (module, function qualname) -> Kind. The first of these on a task's await stack names it.
KINDS: dict[tuple[str, str], Kind] = {
    ("qakit_trio.ws.connection", "Connection.run"):
        Kind("connection", lambda f: f"{_connection(f)}: reader"),
    ("qakit_trio.ws.connection", "Connection._write_loop"):
        Kind("writer", lambda f: f"writer of {_conn_id(f)}"),
    ("qakit_trio.ws.connection", "Connection._close_watchdog"):
        Kind("close-watchdog", lambda f: f"close watchdog of {_conn_id(f)}"),
    ("qakit_trio.sessions.faults", "deliver.<locals>.send"):
        Kind("delayed-reply", lambda f: "delayed reply (a trainee's fault)"),
    ("qakit_trio.ws.echo", "serve_echo"): Kind("echo", lambda f: "/ws/echo connection"),
    ("qakit_trio.web.inspector", "Inspector.run"):
        Kind("inspector", lambda f: "inspector (/ws/_inspect): reader"),
    ("qakit_trio.web.inspector", "Inspector._send_loop"):
        Kind("inspector-sender", lambda f: "inspector: sender"),
    ("qakit_trio.ws.lone", "watch_progress"):
        Kind("progress-watch", lambda f: f"progress watch ({f.get('what')})"),
    ("qakit_trio.ws.lone", "close_on_shutdown"):
        Kind("lone-shutdown-watch", lambda f: "shutdown watch of a lone connection"),
    ("qakit_trio.supervisor", "Supervisor.supervise"):
        Kind("service", lambda f: f"service: {f.get('name')}"),
    ("qakit_trio.services", "Services.run"):
        Kind("service-nursery", lambda f: "service nursery (Services.run)"),
    ("qakit_trio.server", "run_server.<locals>.watch_signals"):
        Kind("signal-watch", lambda f: "signal watch"),
    ("qakit_trio.server", "run_server.<locals>.abort_when_time_is_up"):
        Kind("shutdown-timer", lambda f: "shutdown timer"),
}


# task name -> (kind, label), for tasks whose await stack names nothing of ours (trio's,
# hypercorn's, quart's; hypercorn's TCP server is awaited through `__await__`, which the
# frame walk cannot follow)
NAMED: dict[str, tuple[str, str]] = {
    "<init>": ("root", "trio's root task"),
    "<TrioToken.run_sync_soon task>": ("trio-system", "trio: runs callbacks from threads"),
    "qakit_trio.server.run_server": ("server", "the server (qakit-trio's run_server)"),
    "hypercorn.trio.serve": ("hypercorn-serve", "hypercorn.trio.serve"),
    "hypercorn.trio.lifespan.Lifespan.handle_lifespan":
        ("lifespan", "lifespan: quart-trio's app.nursery"),
    "hypercorn.utils.raise_shutdown": ("shutdown-trigger", "hypercorn: waits for the shutdown"),
    "trio.serve_listeners": ("listeners", "trio.serve_listeners"),
    "trio._highlevel_serve_listeners._serve_one_listener":
        ("accept-loop", "accept loop of one listening socket"),
    "trio._highlevel_serve_listeners._run_handler":
        ("tcp-connection", "one TCP connection (hypercorn's TCPServer)"),
    "hypercorn.trio.task_group._handle": ("app-task", "hypercorn: the app's task"),
    "quart_trio.asgi.TrioASGIHTTPConnection.handle_messages":
        ("http-request", "quart-trio: reads one HTTP request's body"),
    "quart_trio.asgi.TrioASGIHTTPConnection.handle_request":
        ("http-request", "quart-trio: handles one HTTP request"),
}


def _kind(task: trio.lowlevel.Task) -> tuple[str, str]:
    """(kind, label) of a task: from the first known frame on its await stack, else its name."""
    for frame, _ in task.iter_await_frames():
        known = KINDS.get((_module(frame), frame.f_code.co_qualname))
        if known is not None:
            return known.kind, known.label(frame.f_locals)
    return NAMED.get(task.name, ("other", task.name))


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def snapshot(*, limit: int = 20, expand: Iterable[str] = ()) -> dict[str, Any]:
    """The tree from the root task, as JSON-ready dicts:
    task    {"name", "kind", "label", "doc", "nurseries": [nursery, ...]}
    nursery {"tasks": [task | group, ...]}
    group   {"group": KIND, "count", "shown", "tasks": [the first `limit`]}
    Totals: {"tasks": every task, "by_kind": {kind: count}}."""
    expanded = set(expand)
    by_kind: dict[str, int] = {}

    def walk(task: trio.lowlevel.Task) -> dict[str, Any]:
        kind, label = _kind(task)
        by_kind[kind] = by_kind.get(kind, 0) + 1
        return {"name": task.name, "kind": kind, "label": label,
                "doc": f"{DOC}#task-{kind}",
                "nurseries": [nursery(n) for n in task.child_nurseries]}

    def nursery(n: trio.Nursery) -> dict[str, Any]:
        children = sorted(n.child_tasks, key=lambda t: t.name)  # a frozenset: a stable order
        walked = [walk(child) for child in children]
        groups: dict[str, list[dict[str, Any]]] = {}
        for node in walked:
            groups.setdefault(node["kind"], []).append(node)
        shown: list[dict[str, Any]] = []
        for kind, nodes in groups.items():
            if len(nodes) > limit and kind not in expanded:
                shown.append({"group": kind, "count": len(nodes), "shown": limit,
                              "doc": f"{DOC}#task-{kind}", "tasks": nodes[:limit]})
            else:
                shown.extend(nodes)
        return {"tasks": shown}

    root = walk(trio.lowlevel.current_root_task())  # type: ignore[arg-type]
    return {"root": root, "tasks": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items()))}
