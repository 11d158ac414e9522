"""The channel subscriptions' messages (/ws, envelope protocol), for the AsyncAPI document:
subscribe, unsubscribe, history and presence, their data frames, and join/leave
(sessions/channel_actions.py, wire/channels.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qakit_trio.web.asyncapi_messages import REQUEST_ID, TS, Message, Schema, frame

CHANNEL: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[^\\s]+$",
    "description": "A channel name: 1-64 printable characters, no whitespace",
}
OFFSET: Schema = {
    "type": "integer",
    "minimum": 0,
    "description": "The channel's publications are numbered 1, 2, 3, ... with no gaps, per "
    "epoch; as a position: the last one the client saw (0: none)",
}
EPOCH: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "Names one run of the channel's offsets: a new epoch (a restart, a history "
    "reset, a channel forgotten when idle) means a position of the old one cannot be recovered",
}
SINCE: Schema = {
    "type": "object",
    "required": ["offset", "epoch"],
    "properties": {"offset": OFFSET, "epoch": EPOCH},
    "description": "The position to recover from: the offset and epoch of the last message "
    "the client saw",
}
RECOVERED: Schema = {
    "type": "boolean",
    "description": "With since: true, the missed publications follow in offset order; false, "
    "the history could not cover the gap (too old, too many, another epoch): reload your state",
}
CLIENT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["connection_id"],
    "properties": {"connection_id": {"type": "string"}, "user": {"type": "string"}},
}


Request = Callable[[str, Schema | None, str, list[Any]], Message]  # asyncapi_envelope.request


def _payload(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def channel_requests(request: Request) -> list[Message]:
    """The four actions, as the envelope's `request` describes a request."""

    def _request(action: str, payload: Schema, summary: str, example: dict[str, Any]) -> Message:
        return request(action, payload, summary, [{"action": action, **example}])

    return [
        _request(
            "subscribe",
            _payload(["channel"], channel=CHANNEL, since=SINCE, join_leave={"type": "boolean"}),
            "ack, subscribed {channel, epoch, offset, recovered?}; with since and recovered: "
            "the missed message frames in offset order; event ws.subscribe. At most "
            "QAKIT_MAX_SUBSCRIPTIONS channels per connection",
            {
                "request_id": "s1",
                "payload": {"channel": "room", "since": {"offset": 5, "epoch": "3f2a9c1e"}},
            },
        ),
        _request(
            "unsubscribe",
            _payload(["channel"], channel=CHANNEL),
            "ack, unsubscribed {channel}, event ws.unsubscribe: no message of the channel after",
            {"request_id": "s2", "payload": {"channel": "room"}},
        ),
        _request(
            "history",
            _payload(
                ["channel"],
                channel=CHANNEL,
                limit={"type": "integer", "minimum": 1, "maximum": 1000},
                since=SINCE,
            ),
            "ack, history {channel, epoch, offset (the latest), publications, recovered?}, "
            "event ws.history; limit: at most QAKIT_HISTORY_SIZE (the default)",
            {"request_id": "s3", "payload": {"channel": "room", "limit": 20}},
        ),
        _request(
            "presence",
            _payload(["channel"], channel=CHANNEL),
            "ack, presence {channel, count, clients}, event ws.presence",
            {"request_id": "s4", "payload": {"channel": "room"}},
        ),
    ]


def _data(kind: str, summary: str, value: Schema) -> Message:
    name = kind.capitalize()
    return Message(
        name, kind, summary, frame(kind, {"request_id": REQUEST_ID, "data": value, "ts": TS})
    )


def _value(properties: Schema, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


POSITION = {"channel": CHANNEL, "epoch": EPOCH, "offset": OFFSET}
CHANNEL_FRAMES = [
    _data(
        "subscribed",
        "subscribe's data frame: the channel's position now",
        _value({**POSITION, "recovered": RECOVERED}, ("recovered",)),
    ),
    _data("unsubscribed", "unsubscribe's data frame", _value({"channel": CHANNEL})),
    _data(
        "history",
        "history's data frame: the kept publications (message and broadcast frames), oldest first",
        _value(
            {
                **POSITION,
                "recovered": RECOVERED,
                "publications": {"type": "array", "items": {"type": "object"}},
            },
            ("recovered",),
        ),
    ),
    _data(
        "presence",
        "presence's data frame: who is subscribed to the channel now",
        _value(
            {
                "channel": CHANNEL,
                "count": {"type": "integer", "minimum": 0},
                "clients": {"type": "array", "items": CLIENT},
            }
        ),
    ),
    *(
        Message(
            kind.capitalize(),
            kind,
            f"To members that subscribed with join_leave: a connection {kind}s the channel "
            "(no offset: presence is asked again after a reconnect, not recovered)",
            frame(
                kind,
                {
                    "channel": CHANNEL,
                    "connection_id": {"type": "string"},
                    "user": {"type": "string"},
                    "ts": TS,
                },
                optional=("user",),
            ),
        )
        for kind in ("join", "leave")
    ),
]
DATA_FRAMES = {
    "subscribe": {"Subscribed", "ChannelMessage", "RestBroadcast"},
    "unsubscribe": {"Unsubscribed"},
    "history": {"History"},
    "presence": {"Presence"},
}
