"""A connection's token expiry (QAKIT_AUTH=on), and the `refresh` action that moves it.

A token is valid until its `exp`, wall-clock seconds (auth/tokens.py). A connection opened
with it lives until then: the expiry is put on trio's clock once, when the session is made
(`trio.current_time() + (exp - wall())`), and every wait below is a trio deadline, so the
tests run on the virtual clock. The watch is a task in the connection's nursery
(Connection.start_watch, started by the session's hello; it ends with the connection):

    WARN_BEFORE (30 s) before the expiry   {"type": "system", "event": "token_expiring",
                                            "expires_in_ms": N, "ts": ...}  (the envelope
                                            protocol only: /ws/orders and the qa_kit profile's
                                            /ws keep the original frames, and just close)
    at the expiry                          close 4401 "token expired"

`{"action": "refresh", "payload": {"token": "..."}}` with a valid token for the same user (the
same name and role) moves the expiry to the new token's: ack -> {"type": "token",
"request_id", "expires_at": UTC ISO-8601, like `ts`} -> event auth.refreshed; the warning comes
again before the new expiry. A bad or expired token, or one for another user, is an error frame
`validation_error` (field `token`) after the ack, and the expiry stays. The action exists only
with QAKIT_AUTH=on (off, it is an unknown_action, as on the original stand). The teacher's own
token never expires: no watch (unless a refresh brings an expiry).
"""

from __future__ import annotations

import logging
import math

import trio

from qakit_trio import logs
from qakit_trio.auth.tokens import Identity, Unauthorized
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.sessions.identity import Identities
from qakit_trio.wire import protocol, stamps
from qakit_trio.wire.close_codes import UNAUTHORIZED
from qakit_trio.ws.connection import Connection

log = logging.getLogger(__name__)

WARN_BEFORE = 30.0  # seconds before the expiry: the token_expiring frame
EXPIRED = "token expired"  # the 4401's reason (as a handshake with an expired token gets)


class TokenExpiry:
    """When one connection's token expires, on trio's clock, and the watch that acts on it."""

    __slots__ = ("_conn", "_identities", "_moved", "_warn", "_watching", "deadline", "user")

    def __init__(
        self, conn: Connection, identities: Identities, identity: Identity, *, warn: bool
    ) -> None:
        self._conn = conn
        self._identities = identities
        self.user = identity.user  # a refresh keeps it: same name, same role
        self._warn = warn  # send token_expiring first (the envelope protocol)
        self._moved = trio.Event()  # set by a refresh: the watch starts over
        self._watching = False
        self.deadline = self._on_trio_clock(identity.expires_at)

    def _on_trio_clock(self, expires_at: float | None) -> float:
        if expires_at is None:
            return math.inf
        return trio.current_time() + (expires_at - self._identities.wall())

    def start(self) -> None:
        """Start the watch, if the token expires (the connection's nursery is open)."""
        if self.deadline != math.inf and not self._watching:
            self._watching = True
            self._conn.start_watch(self.watch)

    def refresh(self, identity: Identity) -> None:
        """The connection now lives until `identity`'s token expires."""
        self.deadline = self._on_trio_clock(identity.expires_at)
        self._moved.set()
        self.start()

    async def watch(self) -> None:
        warned = False
        while True:
            moved = self._moved
            at = self.deadline if warned or not self._warn else self.deadline - WARN_BEFORE
            with trio.move_on_at(at):
                await moved.wait()
            if moved.is_set():  # a refresh: a new expiry, warned again before it
                self._moved, warned = trio.Event(), False
                continue
            if at < self.deadline:
                warned = True
                left = max(0, round((self.deadline - trio.current_time()) * 1000))
                with trio.move_on_at(self.deadline):  # a full outbox never delays the close
                    await self._conn.reply(protocol.token_expiring(left))
                continue
            logs.info(log, "token expired", **self._conn.fields)
            self._conn.close_soon(UNAUTHORIZED, EXPIRED)
            return


def token_expiry(
    conn: Connection, identities: Identities, identity: Identity | None, *, warn: bool
) -> TokenExpiry | None:
    """A session's expiry (None: QAKIT_AUTH is off)."""
    return None if identity is None else TokenExpiry(conn, identities, identity, warn=warn)


async def refresh(ctx: ActionContext) -> None:
    """ack -> token (the new expiry) -> event auth.refreshed (QAKIT_AUTH=on)."""
    token = protocol.require_str(ctx.payload, "token")
    expiry = ctx.expiry
    try:
        identity = ctx.deps.identities.identify(token)
    except Unauthorized as refused:  # its reason names no secret
        raise protocol.validation_error("token", f"payload.token is refused: {refused}") from None
    if expiry is None or identity.user != expiry.user:
        raise protocol.validation_error(
            "token",
            "payload.token is another user's: a connection keeps the user it was opened with",
        )
    expiry.refresh(identity)
    at = None if identity.expires_at is None else stamps.iso_utc(identity.expires_at)
    await ctx.reply(protocol.token(ctx.request_id, at))
    await ctx.event("auth.refreshed", {"user": identity.user.name, "expires_at": at})


def auth_actions(on: bool) -> dict[str, Action]:
    """The envelope actions of QAKIT_AUTH=on (none when it is off)."""
    return {"refresh": refresh} if on else {}
