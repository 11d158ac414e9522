"""The live trio task tree of this process (GET /debug/tasks, the /tasks page).

trio.lowlevel already knows the whole tree: the root task, each task's `child_nurseries`, each
nursery's `child_tasks`. This walks it when someone asks, and labels each task by what it
runs, found on its await stack (`Task.iter_await_frames()`): a frame of `Connection.run` is a
connection (its `self` says which one), `Supervisor.supervise` a supervised service (its
`name`), and so on (KINDS). Nothing is registered on the hot path; the cost is paid by the
one who looks.

Large fan-outs are collapsed: a nursery with more than `limit` children of one kind lists
`limit` of them and counts the rest (5000 connections become one group; `expand` names the
kinds to list in full, up to MAX_LIMIT).

What it costs the stand is bounded (it runs on the event loop every client shares): `TaskTree`
answers at most ANSWERS_PER_SECOND times a second, keeps each answer CACHE_SECONDS for the same
parameters and builds one at a time, and a build yields to the event loop every STEP tasks,
pausing so that it takes at most SHARE of it. With
2000 connections an unpaced build held the loop 78-140 ms at a time (p99 echo 618 ms with four
readers in a loop); bench/lab_cost.py measures a bystander's echoes while the tree is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import trio

DOC = "/guides/concurrency.md"  # each kind links to its row there: DOC#task-KIND
MAX_LIMIT = 500  # tasks of one kind listed in one nursery, at most (`limit`, an expanded kind)
CACHE_SECONDS = 1.0  # an answer is reused this long (the /tasks page reads it every few s)
ANSWERS_PER_SECOND = 10  # however many ask: the others wait their turn (an answer with
# 2000 connections and limit=500 is ~300 KiB: four readers in a loop sent 21 MB/s)
# readers waiting for their turn, at most: past this a reader is answered 503 at once (a loop
# or thirty open /tasks tabs must not pile up connections behind the lock)
MAX_WAITING = 2 * ANSWERS_PER_SECOND
STEP = 100  # tasks looked at between two yields to the event loop (about 1 ms)
SHARE = 0.1  # of the event loop's time, at most, while a tree is built


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


_conn_id, _conn_channel, _conn_hub = (
    _self_attr("id"),
    _self_attr("channel"),
    _self_attr("_hub", "name"),
)


def _connection(local: dict[str, Any]) -> str:
    return f"connection {_conn_id(local)} ({_conn_hub(local)}, channel {_conn_channel(local)})"


# (module, function qualname) -> Kind. The first of these on a task's await stack names it.
KINDS: dict[tuple[str, str], Kind] = {
    ("qakit_trio.ws.connection", "Connection.run"): Kind(
        "connection", lambda f: f"{_connection(f)}: reader"
    ),
    ("qakit_trio.ws.connection", "Connection._write_loop"): Kind(
        "writer", lambda f: f"writer of {_conn_id(f)}"
    ),
    ("qakit_trio.ws.connection", "Connection._close_watchdog"): Kind(
        "close-watchdog", lambda f: f"close watchdog of {_conn_id(f)}"
    ),
    ("qakit_trio.lab.fault_outlet", "deliver.<locals>.send"): Kind(
        "delayed-reply", lambda f: "delayed reply (a trainee's fault)"
    ),
    ("qakit_trio.sessions.expiry", "TokenExpiry.watch"): Kind(
        "token-expiry", lambda f: f"token expiry of {_self_attr('_conn', 'id')(f)}"
    ),
    ("qakit_trio.ws.echo", "serve_echo"): Kind("echo", lambda f: "/ws/echo connection"),
    ("qakit_trio.ws.echo", "Echo._write_loop"): Kind("echo-writer", lambda f: "/ws/echo writer"),
    ("qakit_trio.web.inspector", "Inspector.run"): Kind(
        "inspector", lambda f: f"inspector {_conn_id(f)} (/ws/_inspect): reader"
    ),
    ("qakit_trio.web.inspector", "Inspector._send_loop"): Kind(
        "inspector-sender", lambda f: f"sender of inspector {_conn_id(f)}"
    ),
    ("qakit_trio.ws.lone", "watch_progress"): Kind(
        "progress-watch", lambda f: f"progress watch ({f.get('what')})"
    ),
    ("qakit_trio.ws.lone", "close_on_shutdown"): Kind(
        "lone-shutdown-watch", lambda f: "shutdown watch of a lone connection"
    ),
    ("qakit_trio.transport.accept_errors", "AcceptErrors.run"): Kind(
        "accept-errors", lambda f: "accept errors (EMFILE episodes, logged once)"
    ),
    ("qakit_trio.supervisor", "Supervisor.supervise"): Kind(
        "service", lambda f: f"service: {f.get('name')}"
    ),
    ("qakit_trio.services", "Services.run"): Kind(
        "service-nursery", lambda f: "service nursery (Services.run)"
    ),
    ("qakit_trio.server", "run_server.<locals>.watch_signals"): Kind(
        "signal-watch", lambda f: "signal watch"
    ),
    ("qakit_trio.server", "run_server.<locals>.abort_when_time_is_up"): Kind(
        "shutdown-timer", lambda f: "shutdown timer"
    ),
    ("qakit_trio.server", "run_server.<locals>.watch_parent"): Kind(
        "parent-watch", lambda f: "parent watch (a worker of --workers)"
    ),
    ("qakit_trio.cluster.bus", "KafkaBus._send_all"): Kind(
        "bus-sender", lambda f: "cluster bus: records -> the Kafka topic, in order"
    ),
    ("qakit_trio.cluster.cluster", "Cluster._beat"): Kind(
        "heartbeat", lambda f: "cluster: this instance's heartbeat"
    ),
}


# task name -> (kind, label), for tasks whose await stack names nothing of ours (trio's,
# hypercorn's, quart's; hypercorn's TCP server is awaited through `__await__`, which the
# frame walk cannot follow)
NAMED: dict[str, tuple[str, str]] = {
    "<init>": ("root", "trio's root task"),
    "<TrioToken.run_sync_soon task>": ("trio-system", "trio: runs callbacks from threads"),
    "qakit_trio.server.run_server": ("server", "the server (qakit-trio's run_server)"),
    "hypercorn.trio.serve": ("hypercorn-serve", "hypercorn.trio.serve"),
    "hypercorn.trio.lifespan.Lifespan.handle_lifespan": (
        "lifespan",
        "lifespan: quart-trio's app.nursery",
    ),
    "hypercorn.utils.raise_shutdown": ("shutdown-trigger", "hypercorn: waits for the shutdown"),
    "trio.serve_listeners": ("listeners", "trio.serve_listeners"),
    "trio._highlevel_serve_listeners._serve_one_listener": (
        "accept-loop",
        "accept loop of one listening socket",
    ),
    "trio._highlevel_serve_listeners._run_handler": (
        "tcp-connection",
        "one TCP connection (hypercorn's TCPServer)",
    ),
    "hypercorn.trio.task_group._handle": ("app-task", "hypercorn: the app's task"),
    "quart_trio.asgi.TrioASGIHTTPConnection.handle_messages": (
        "http-request",
        "quart-trio: reads one HTTP request's body",
    ),
    "quart_trio.asgi.TrioASGIHTTPConnection.handle_request": (
        "http-request",
        "quart-trio: handles one HTTP request",
    ),
}


# every kind a task can be shown as (the page's links; ?expand= is checked against it)
ALL_KINDS = frozenset(
    {kind.kind for kind in KINDS.values()} | {kind for kind, _ in NAMED.values()} | {"other"}
)


def _kind(task: trio.lowlevel.Task) -> tuple[str, str]:
    """(kind, label) of a task: from the first known frame on its await stack, else its name."""
    for frame, _ in task.iter_await_frames():
        known = KINDS.get((_module(frame), frame.f_code.co_qualname))
        if known is not None:
            return known.kind, known.label(frame.f_locals)
    return NAMED.get(task.name, ("other", task.name))


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


class Pace:
    """Yields to the event loop every `step` ticks, then sleeps so that the work between two
    yields is at most `share` of the time (trio's clock: virtual in tests)."""

    def __init__(self, step: int = STEP, share: float = SHARE) -> None:
        self._step = self._left = step
        self._rest = (1 - share) / share  # seconds of pause per second of work
        self._since = trio.current_time()
        self.pauses = 0

    async def tick(self) -> None:
        self._left -= 1
        if self._left > 0:
            return
        self._left = self._step
        await trio.sleep((trio.current_time() - self._since) * self._rest)
        self.pauses += 1
        self._since = trio.current_time()


async def _count(task: trio.lowlevel.Task, pace: Pace) -> int:
    """Every task under `task`, itself included: a plain count, no labels (cheap)."""
    count, pending = 0, [task]
    while pending:
        count += 1
        pending.extend(
            child for nursery in pending.pop().child_nurseries for child in nursery.child_tasks
        )
        await pace.tick()
    return count


async def snapshot(
    *, limit: int = 20, expand: Iterable[str] = (), pace: Pace | None = None
) -> dict[str, Any]:
    """The tree from the root task, as JSON-ready dicts:
    task    {"name", "kind", "label", "doc", "nurseries": [nursery, ...]}
    nursery {"tasks": [task | group, ...]}
    group   {"group": KIND, "count", "shown", "tasks": [the first `limit`, walked]}
    Totals: {"tasks": every task in the process, "by_kind": {kind: count}} (by_kind counts the
    tasks listed and every group's members, not what runs inside the members a group hides).

    A group's hidden members are labelled and counted but not walked; an expanded kind lists
    at most MAX_LIMIT. The walk yields to the event loop as `pace` says (tasks may end
    meanwhile: the tree is a snapshot of a moving thing, each nursery read at once)."""
    pace = pace if pace is not None else Pace()
    expanded = set(expand)
    by_kind: dict[str, int] = {}

    async def walk(task: trio.lowlevel.Task, kind: str, label: str) -> dict[str, Any]:
        return {
            "name": task.name,
            "kind": kind,
            "label": label,
            "doc": f"{DOC}#task-{kind}",
            "nurseries": [await nursery(n) for n in list(task.child_nurseries)],
        }

    async def nursery(n: trio.Nursery) -> dict[str, Any]:
        groups: dict[str, list[tuple[trio.lowlevel.Task, str]]] = {}
        for child in sorted(n.child_tasks, key=lambda t: t.name):  # a frozenset: fix an order
            kind, label = _kind(child)
            groups.setdefault(kind, []).append((child, label))
            await pace.tick()
        shown: list[dict[str, Any]] = []
        for kind, members in groups.items():
            by_kind[kind] = by_kind.get(kind, 0) + len(members)
            most = MAX_LIMIT if kind in expanded else limit
            if len(members) > most:
                shown.append(
                    {
                        "group": kind,
                        "count": len(members),
                        "shown": most,
                        "doc": f"{DOC}#task-{kind}",
                        "tasks": [await walk(t, kind, label) for t, label in members[:most]],
                    }
                )
            else:
                shown.extend([await walk(t, kind, label) for t, label in members])
        return {"tasks": shown}

    root_task = trio.lowlevel.current_root_task()
    assert root_task is not None  # always, inside trio.run
    kind, label = _kind(root_task)
    by_kind[kind] = 1
    root = await walk(root_task, kind, label)
    return {
        "root": root,
        "tasks": await _count(root_task, pace),
        "by_kind": dict(sorted(by_kind.items())),
    }


class TaskTree:
    """GET /debug/tasks behind a short cache: one answer at a time and at most
    ANSWERS_PER_SECOND (the others wait their turn: trio's Lock is fair), an answer (JSON text)
    reused CACHE_SECONDS for the same `limit` and `expand`, each tree built paced (Pace):
    however many ask, however often, the tree takes at most SHARE of the event loop to build
    and ANSWERS_PER_SECOND answers to send."""

    def __init__(self) -> None:
        self._answers: dict[tuple[int, frozenset[str]], tuple[float, str]] = {}
        self._turn = trio.Lock()
        self._next_turn = -1.0  # trio time
        self.builds = 0

    async def read(self, limit: int, expand: Iterable[str]) -> str | None:
        """The tree as JSON text, or None when MAX_WAITING readers already wait (busy)."""
        key = (min(limit, MAX_LIMIT), frozenset(expand))
        if self._turn.statistics().tasks_waiting >= MAX_WAITING:
            return None
        async with self._turn:
            await trio.sleep_until(self._next_turn)
            now = trio.current_time()
            self._next_turn = now + 1 / ANSWERS_PER_SECOND
            self._answers = {
                k: answer for k, answer in self._answers.items() if now - answer[0] < CACHE_SECONDS
            }
            if key not in self._answers:
                tree = await snapshot(limit=key[0], expand=key[1])
                self.builds += 1
                self._answers[key] = (trio.current_time(), json.dumps(tree, separators=(",", ":")))
            return self._answers[key][1]
