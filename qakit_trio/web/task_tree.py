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
        Kind("inspector", lambda f: f"inspector {_conn_id(f)} (/ws/_inspect): reader"),
    ("qakit_trio.web.inspector", "Inspector._send_loop"):
        Kind("inspector-sender", lambda f: f"sender of inspector {_conn_id(f)}"),
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


# every kind a task can be shown as (the page's links; ?expand= is checked against it)
ALL_KINDS = frozenset({kind.kind for kind in KINDS.values()}
                      | {kind for kind, _ in NAMED.values()} | {"other"})


def _kind(task: trio.lowlevel.Task) -> tuple[str, str]:
    """(kind, label) of a task: from the first known frame on its await stack, else its name."""
    for frame, _ in task.iter_await_frames():
        known = KINDS.get((_module(frame), frame.f_code.co_qualname))
        if known is not None:
            return known.kind, known.label(frame.f_locals)
    return NAMED.get(task.name, ("other", task.name))


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def _count(task: trio.lowlevel.Task) -> int:
    """Every task under `task`, itself included: a plain count, no labels (cheap)."""
    return 1 + sum(_count(child) for nursery in task.child_nurseries
                   for child in nursery.child_tasks)


def snapshot(*, limit: int = 20, expand: Iterable[str] = ()) -> dict[str, Any]:
    """The tree from the root task, as JSON-ready dicts:
    task    {"name", "kind", "label", "doc", "nurseries": [nursery, ...]}
    nursery {"tasks": [task | group, ...]}
    group   {"group": KIND, "count", "shown", "tasks": [the first `limit`, walked]}
    Totals: {"tasks": every task in the process, "by_kind": {kind: count}} (by_kind counts the
    tasks listed and every group's members, not what runs inside the members a group hides).

    This runs on the event loop, time every connection waits, so a group's hidden members are
    labelled and counted but not walked: with 2000 clients, the answer took 87 ms when every
    one was walked, 30 ms now (130 ms with the group expanded)."""
    expanded = set(expand)
    by_kind: dict[str, int] = {}

    def walk(task: trio.lowlevel.Task, kind: str, label: str) -> dict[str, Any]:
        return {"name": task.name, "kind": kind, "label": label,
                "doc": f"{DOC}#task-{kind}",
                "nurseries": [nursery(n) for n in task.child_nurseries]}

    def nursery(n: trio.Nursery) -> dict[str, Any]:
        groups: dict[str, list[tuple[trio.lowlevel.Task, str]]] = {}
        for child in sorted(n.child_tasks, key=lambda t: t.name):  # a frozenset: fix an order
            kind, label = _kind(child)
            groups.setdefault(kind, []).append((child, label))
        shown: list[dict[str, Any]] = []
        for kind, members in groups.items():
            by_kind[kind] = by_kind.get(kind, 0) + len(members)
            if len(members) > limit and kind not in expanded:
                shown.append({"group": kind, "count": len(members), "shown": limit,
                              "doc": f"{DOC}#task-{kind}",
                              "tasks": [walk(t, kind, label) for t, label in members[:limit]]})
            else:
                shown.extend(walk(t, kind, label) for t, label in members)
        return {"tasks": shown}

    root_task = trio.lowlevel.current_root_task()
    assert root_task is not None  # always, inside trio.run
    kind, label = _kind(root_task)
    by_kind[kind] = 1
    root = walk(root_task, kind, label)
    return {"root": root, "tasks": _count(root_task), "by_kind": dict(sorted(by_kind.items()))}
