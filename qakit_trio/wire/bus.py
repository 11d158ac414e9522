"""The cluster bus's records: what one instance tells the others through Kafka (pure).

Every record of the bus topic (QAKIT_CLUSTER_TOPIC, one partition) is one JSON object, keyed
by its channel (a heartbeat by `~beat`), with `k` its kind and `i` the instance that sent it:

- `pub`: a publication to a /ws channel (broadcast action, POST /broadcast): `c` channel, `f`
  the frame without offset and epoch, `p` the publish id its sender waits for, `n` true: it is
  numbered and kept (the envelope's /ws), `lo` true: the lab's local_only_broadcast (the other
  instances ignore it);
- `ord`: an order event: `c` the orders channel, `f` the /ws event frame, `l` the /ws/orders
  frame, `s` the /ws connection that had it as its reply, `ls` a /ws/orders connection that
  gets no frame;
- `join`, `leave`: a member joined or left a channel: `c` channel, `m` connection id, `u` its
  user or null;
- `beat`: the instance is alive, and who is connected to it: `x` this process's nonce, `t`
  wall time (s), `n` its connections, `lg` of them on /ws/orders, `cc` its /ws channels'
  counts, `m` members (as many as fit 512 KiB; `more`: not all), each [connection id, user,
  [channels], idle seconds, path];
- `bye`: the instance stops: its members are gone now.

Offsets and epochs are not in a `pub` record: every instance gives a publication the offset
Kafka gave its record (plus 1), so all of them give the same one (cluster/bus.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

BEAT_KEY = "~beat"  # the key of heartbeats and byes (records are routed by `k`, not by key)
KINDS = ("pub", "ord", "join", "leave", "beat", "bye")


class BadRecord(ValueError):
    """A bus record that is not one of ours (another program on the topic, a newer version)."""


@dataclass(frozen=True, slots=True)
class BusMember:
    """One connection of another instance, as its last heartbeat (and joins since) said."""

    connection_id: str
    user: str | None
    channels: tuple[str, ...]
    idle_s: float
    path: str  # "/ws" or "/ws/orders"


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def decode(value: bytes | None) -> dict[str, Any]:
    """A record's value as a dict with a known kind, an instance and fields of the right types;
    BadRecord otherwise (anybody who can reach Kafka can write to the topic)."""
    try:
        record = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRecord(f"not JSON: {error}") from None
    if not isinstance(record, dict) or record.get("k") not in KINDS:
        raise BadRecord("not a bus record (no known `k`)")
    if not isinstance(record.get("i"), str):
        raise BadRecord("no instance (`i`)")
    kind = record["k"]
    if kind in ("pub", "ord", "join", "leave") and not isinstance(record.get("c"), str):
        raise BadRecord(f"a {kind} record without a channel (`c`)")
    if kind in ("pub", "ord") and not isinstance(record.get("f"), dict):
        raise BadRecord(f"a {kind} record without a frame (`f`)")
    for name, types in _TYPES.get(kind, ()):
        if name in record and not isinstance(record[name], types):
            raise BadRecord(f"`{name}` of a {kind} record is not {types}")
    if kind == "beat" and isinstance(record.get("t"), bool):
        raise BadRecord("`t` of a beat record is not a number")
    return record


_OPTIONAL_STR = (str, type(None))
# kind -> the optional fields a record of it may have, and their types
_TYPES: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "pub": (("p", str), ("n", bool), ("lo", bool)),
    "ord": (("l", str), ("s", _OPTIONAL_STR), ("ls", _OPTIONAL_STR)),
    "join": (("m", str), ("u", _OPTIONAL_STR)),
    "leave": (("m", str), ("u", _OPTIONAL_STR)),
    "beat": (
        ("t", (int, float)),
        ("m", list),
        ("x", str),
        ("n", int),
        ("lg", int),
        ("cc", dict),
        ("more", bool),
    ),
}


def publication(
    instance: str, channel: str, frame: dict[str, Any], publish_id: str, *, local: bool = False
) -> dict[str, Any]:
    record: dict[str, Any] = {"k": "pub", "i": instance, "c": channel, "f": frame, "p": publish_id}
    if local:
        record["lo"] = True
    return record


def order_event(
    instance: str,
    channel: str,
    frame: dict[str, Any],
    legacy_text: str,
    requester: str | None,
    legacy_skip: str | None,
) -> dict[str, Any]:
    return {
        "k": "ord",
        "i": instance,
        "c": channel,
        "f": frame,
        "l": legacy_text,
        "s": requester,
        "ls": legacy_skip,
    }


def presence_change(
    kind: str, instance: str, channel: str, connection_id: str, user: str | None
) -> dict[str, Any]:
    return {"k": kind, "i": instance, "c": channel, "m": connection_id, "u": user}


def heartbeat(
    instance: str,
    nonce: str,
    members: list[BusMember],
    wall: float,
    *,
    budget: int = 512 * 1024,
) -> dict[str, Any]:
    """An instance's heartbeat: its members (as many as fit `budget` bytes of JSON; `more`:
    not all of them), and the counts of all of them. `nonce`: this process's, so a restart
    under the same instance id is told from the instance it replaces."""
    listed: list[list[Any]] = []
    size = 0
    channels: dict[str, int] = {}
    legacy = 0
    for m in members:
        if m.path == "/ws":
            for channel in m.channels:
                channels[channel] = channels.get(channel, 0) + 1
        else:
            legacy += 1
        entry = [m.connection_id, m.user, list(m.channels), m.idle_s, m.path]
        size += len(json.dumps(entry, ensure_ascii=False)) + 1
        if size <= budget:
            listed.append(entry)
    record: dict[str, Any] = {
        "k": "beat",
        "i": instance,
        "x": nonce,
        "t": round(wall, 3),
        "n": len(members),
        "lg": legacy,
        "cc": channels,
        "m": listed,
    }
    if len(listed) < len(members):
        record["more"] = True
    return record


def goodbye(instance: str) -> dict[str, Any]:
    return {"k": "bye", "i": instance}


def members_of(record: dict[str, Any]) -> list[BusMember]:
    """The members a heartbeat lists (entries that do not parse are left out)."""
    found = []
    for entry in record.get("m") or ():
        if not isinstance(entry, list) or not isinstance(entry[2:3] and entry[2], list):
            continue
        try:
            connection_id, user, channels, idle_s, path = entry
            found.append(
                BusMember(
                    str(connection_id),
                    None if user is None else str(user),
                    tuple(str(c) for c in channels),
                    float(idle_s),
                    str(path),
                )
            )
        except (TypeError, ValueError):
            continue
    return found
