"""Bug toggles: realistic defects a teacher switches on for trainees to hunt, off by default.

    QAKIT_BUGS=ack_after_data,stale_stats qakit-trio          # at start
    PUT /lab/bugs {"enabled": ["duplicate_event"]}             # at run time (replaces the set)
    GET /lab/bugs -> {"bugs": [{"name", "enabled", "surface", "summary"}, ...]}

This module is the catalogue and the switches (pure: no trio, no quart, no I/O). Nothing else
in the stand reads a switch: the lab stage (lab.py) does, once per request, and puts the bugs
that are on in front of the request as wrappers (outlets.py, store.py); with every bug off,
no request passes the lab at all. docs/lab-answer-key.md says which scenario reveals each bug
and which test proves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Bug:
    name: str
    surface: str  # ws (the envelope protocol), channels (its subscriptions), legacy, rest, ...
    summary: str


CATALOGUE: tuple[Bug, ...] = (
    Bug("ack_after_data", "ws", "the ack arrives after the first data frame"),
    Bug(
        "event_wrong_request_id", "ws", "the event frame carries the previous request's request_id"
    ),
    Bug("broadcast_leaks_channels", "ws", "a broadcast also reaches every other channel"),
    Bug("list_orders_off_by_one", "ws", "list_orders with limit N returns N-1 orders"),
    Bug("duplicate_event", "ws", "every event frame is sent twice"),
    Bug(
        "close_on_invalid_json",
        "ws",
        "invalid JSON closes the socket (1000) instead of an error frame (the original's)",
    ),
    Bug(
        "no_id_request_id",
        "ws",
        'a missing request_id becomes "no-id" (the original\'s) instead of a server id',
    ),
    Bug("any_transition_allowed", "domain", "the state machine accepts any status change"),
    Bug(
        "lost_update",
        "domain",
        "two concurrent change_status on one order both succeed; one write is lost",
    ),
    Bug("stale_stats", "rest", "/stats answers what it counted up to 5 seconds ago"),
    Bug("missing_order_is_200", "rest", "GET /orders/{id} of a missing order is 200 null"),
    Bug(
        "legacy_requester_misses_event",
        "legacy",
        "on /ws/orders the client that made a change gets no event for it",
    ),
    Bug("kafka_record_without_event_id", "kafka", "WS topic records lack their event_id"),
    Bug(
        "event_log_without_event_id",
        "logs",
        "the `event` log line lacks its event_id (Kibana cannot be matched to Kafka)",
    ),
    Bug(
        "recovery_skips_one",
        "channels",
        "a recovery (since) leaves out the first publication the client missed",
    ),
    Bug(
        "recovery_duplicates_last",
        "channels",
        "a recovery (since) sends again the last publication the client already had",
    ),
    Bug(
        "offset_gap",
        "channels",
        "a publication of the trainee's skips an offset (..., 3, 5, ...): the channel has a gap",
    ),
    Bug(
        "presence_keeps_ghosts",
        "channels",
        "presence still lists connections that closed (not those that unsubscribed)",
    ),
    Bug(
        "unsubscribe_ignored",
        "channels",
        "unsubscribe answers as if it worked, and the messages keep coming",
    ),
    Bug(
        "epoch_never_changes",
        "channels",
        "a position of another epoch (before a history reset) is recovered as if the epoch "
        "were the same: offsets are compared alone",
    ),
    Bug(
        "local_only_broadcast",
        "cluster",
        "a broadcast reaches only the subscribers of the instance it was sent to",
    ),
    Bug(
        "presence_per_instance",
        "cluster",
        "presence lists only the members of the instance that answers",
    ),
    Bug(
        "cross_instance_reorder",
        "cluster",
        "publications from another instance arrive swapped in pairs (offsets go 2, 1, 4, 3)",
    ),
)
NAMES = tuple(bug.name for bug in CATALOGUE)
CHANNEL_BUGS = frozenset(bug.name for bug in CATALOGUE if bug.surface == "channels")
# Bugs of several instances (QAKIT_CLUSTER=kafka, cluster/): on one instance they show nothing.
CLUSTER_BUGS = frozenset(bug.name for bug in CATALOGUE if bug.surface == "cluster")
# the cluster bugs a ChannelOps wrapper has (lab/channels.py); cross_instance_reorder is the
# bus's delivery (cluster/cluster.py), which no request passes
CLUSTER_CHANNEL_BUGS = frozenset({"local_only_broadcast", "presence_per_instance"})
# Bugs a teacher may give to one trainee (PUT /lab/assignments): all but the cluster's. Those about
# shared state show only to their trainee (lab/lab.py, docs/lab-answer-key.md says what each
# shows): stale_stats answers from the trainee's own old answer, broadcast_leaks_channels leaks
# to the trainee's own other connections, and lost_update's window is a lock for everyone else.
# The cluster bugs are the stand's, not a trainee's: they need several instances, and a
# finding's replay (classroom/replay.py) runs one.
ASSIGNABLE = frozenset(NAMES) - CLUSTER_BUGS


def check_names(names: Iterable[object]) -> tuple[str, ...]:
    """The names, checked against the catalogue; ValueError naming the first unknown one."""
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in NAMES:
            raise ValueError(f"unknown bug {name!r}; the catalogue: {', '.join(NAMES)}")
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def parse_names(value: str) -> tuple[str, ...]:
    """QAKIT_BUGS: a comma list of names (empty: none)."""
    return check_names(part.strip() for part in value.split(",") if part.strip())


class Bugs:
    """Which defects are on: one attribute per bug in the catalogue, all False by default."""

    ack_after_data = False
    event_wrong_request_id = False
    broadcast_leaks_channels = False
    list_orders_off_by_one = False
    duplicate_event = False
    close_on_invalid_json = False
    no_id_request_id = False
    any_transition_allowed = False
    lost_update = False
    stale_stats = False
    missing_order_is_200 = False
    legacy_requester_misses_event = False
    kafka_record_without_event_id = False
    event_log_without_event_id = False
    recovery_skips_one = False
    recovery_duplicates_last = False
    offset_gap = False
    presence_keeps_ghosts = False
    unsubscribe_ignored = False
    epoch_never_changes = False
    local_only_broadcast = False
    presence_per_instance = False
    cross_instance_reorder = False
    any_on = False  # at least one of them
    channels_on = False  # one of the channel bugs (lab/channels.py)
    names: frozenset[str] = frozenset()  # the ones that are on

    def __init__(self, enabled: Iterable[str] = ()) -> None:
        self.set_enabled(enabled)

    def set_enabled(self, names: Iterable[str]) -> None:
        """Exactly these bugs on, every other one off (ValueError on an unknown name)."""
        wanted = frozenset(check_names(names))
        for name in NAMES:
            setattr(self, name, name in wanted)
        self.any_on = bool(wanted)
        self.channels_on = not wanted.isdisjoint(CHANNEL_BUGS | CLUSTER_CHANNEL_BUGS)
        self.names = wanted

    def enabled(self) -> list[str]:
        return [name for name in NAMES if getattr(self, name)]

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": bug.name,
                "enabled": getattr(self, bug.name),
                "surface": bug.surface,
                "summary": bug.summary,
            }
            for bug in CATALOGUE
        ]
