"""Wire messages of channel subscriptions on `/ws` (envelope protocol): pure, like protocol.py.

Requests (their payloads; errors are `validation_error` naming the field, e.g. `since.offset`):

    subscribe    {"channel": str, "since"?: {"offset": int >= 0, "epoch": str}, "join_leave"?: bool}
    unsubscribe  {"channel": str}
    history      {"channel": str, "limit"?: 1..QAKIT_HISTORY_SIZE, "since"?: {...}}
    presence     {"channel": str}

Frames: the data frames `subscribed`, `unsubscribed`, `history`, `presence` (protocol.data's
shape: the values under `data`), and the `join`/`leave` frames of members that asked for them.
Every `message` of a channel carries `offset` and `epoch` (ws/history.py gives them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from qakit_trio.wire.protocol import Message, channel_problem, validation_error
from qakit_trio.wire.stamps import frame_ts


class Since(NamedTuple):
    """A client's position in a channel: the last offset it saw, and of which epoch."""

    offset: int
    epoch: str


MAX_EPOCH_LENGTH = 64  # ours are 8 hex digits; a longer one is not ours, whatever it is


def require_channel(payload: dict[str, Any]) -> str:
    """`payload.channel`: a channel name by the same rule as the URL's `?channel=`."""
    value = payload.get("channel")
    if not isinstance(value, str):
        raise validation_error("channel", "payload.channel is required and must be a string")
    problem = channel_problem(value)
    if problem is not None:
        raise validation_error("channel", f"payload.channel: {problem}")
    return value


def optional_channel(payload: dict[str, Any], default: str) -> str:
    """`payload.channel` if given (broadcast: to another of its channels), else `default`."""
    return default if payload.get("channel") is None else require_channel(payload)


def parse_since(value: Any) -> Since | None:
    """`since` as a request gives it: absent (None), or {"offset": int >= 0, "epoch": str}."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise validation_error(
            "since", 'payload.since must be an object: {"offset": 5, "epoch": "..."}'
        )
    offset, epoch = value.get("offset"), value.get("epoch")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise validation_error(
            "since.offset", "payload.since.offset is required and must be an integer >= 0"
        )
    if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_LENGTH:
        raise validation_error(
            "since.epoch",
            "payload.since.epoch is required and must be the epoch string of a frame you got",
        )
    return Since(offset, epoch)


def parse_flag(payload: dict[str, Any], field: str) -> bool:
    value = payload.get(field, False)
    if not isinstance(value, bool):
        raise validation_error(field, f"payload.{field} must be true or false")
    return value


def since_from_query(offset: str | None, epoch: str | None) -> tuple[Since | None, str | None]:
    """`?since=N&epoch=E` of the /ws URL: (the position, None) or (None, what is wrong)."""
    if offset is None and epoch is None:
        return None, None
    if offset is None or epoch is None:
        return None, "since and epoch go together: ?since=5&epoch=... (both from a frame you got)"
    if not offset.isascii() or not offset.isdigit() or len(offset) > 18:
        return None, "since must be an integer >= 0"
    if not 0 < len(epoch) <= MAX_EPOCH_LENGTH:
        return None, f"epoch must be 1-{MAX_EPOCH_LENGTH} characters"
    return Since(int(offset), epoch), None


def position(channel: str, at: Since, recovered: bool | None = None) -> dict[str, Any]:
    """A channel's position as frames show it: {channel, epoch, offset[, recovered]}."""
    value: dict[str, Any] = {"channel": channel, "epoch": at.epoch, "offset": at.offset}
    if recovered is not None:
        value["recovered"] = recovered
    return value


def presence_change(kind: str, channel: str, connection_id: str, user: str | None) -> Message:
    """A `join` or `leave` frame, to the channel's members that subscribed with `join_leave`."""
    frame: Message = {"type": kind, "channel": channel, "connection_id": connection_id}
    if user is not None:
        frame["user"] = user
    frame["ts"] = frame_ts()
    return frame
