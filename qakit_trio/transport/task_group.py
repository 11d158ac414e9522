"""`QakitTaskGroup`: hypercorn's per-connection task group (hypercorn 0.18.0), whose app task
reads a WebSocket's messages from our queue (app_inbox.AppInbox) instead of a memory channel.

hypercorn's `spawn_app` opens a trio memory channel per request, bounded at max_app_queue_size
messages, and gives the app its receive end. For a WebSocket that queue lives as long as the
connection: an `AppInbox` holds the same messages in a list and the one task parked on it
(~2 KiB less per idle connection, docs/benchmarks.md), and adds what hyper_ext.QakitWSStream
needs (a bound in bytes, an end that never waits). An HTTP request, and an HTTP/2 WebSocket
(hypercorn's stock stream), keep hypercorn's channel: their apps never report what they took
(`AppInbox.taken`), so a bound in bytes would stop them for good.

QakitTCPServer (tcp_server.py) runs its connection in this group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio.task_group import TaskGroup, _handle
from hypercorn.typing import AppWrapper, ASGIReceiveEvent, ASGISendEvent, Scope

from qakit_trio.transport.app_inbox import AppInbox

INBOX_BYTES = 1024 * 1024  # the default; the CLI sets QAKIT_OUTBOX_BYTES (server.hypercorn_config)


class QakitTaskGroup(TaskGroup):
    async def spawn_app(
        self,
        app: AppWrapper,
        config: Config,
        scope: Scope,
        send: Callable[[ASGISendEvent | None], Awaitable[None]],
    ) -> Callable[[ASGIReceiveEvent], Awaitable[None]]:
        # only our own stream (hyper_ext.QakitWSStream) reports what the app took: hypercorn's
        # stock one (an HTTP/2 WebSocket) would wait for good once the bytes bound was reached
        if not getattr(getattr(send, "__self__", None), "reads_app_inbox", False):
            return await super().spawn_app(app, config, scope, send)
        inbox = AppInbox(
            config.max_app_queue_size, getattr(config, "qakit_inbox_bytes", INBOX_BYTES)
        )
        # hypercorn's own wrapper of the app: it logs an app's error and always sends None
        self.spawn(
            _handle,
            app,
            config,
            scope,
            inbox.receive,
            send,
            trio.to_thread.run_sync,
            trio.from_thread.run,
        )
        return inbox.put  # (hypercorn's spawn_app is async too, and awaits nothing)


def inbox_of(put: Any) -> AppInbox:
    """The inbox behind the `app_put` that `spawn_app` gave a WebSocket stream."""
    inbox = getattr(put, "__self__", None)
    if not isinstance(inbox, AppInbox):
        raise RuntimeError(
            "a qakit WebSocket stream runs in QakitTaskGroup (hyper_ext.install() installs it)"
        )
    return inbox
