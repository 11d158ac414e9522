"""Identities at the doors (QAKIT_AUTH=on; off: nothing here runs): who may call which route
(auth/users.py's table), tokens from `POST /auth/token`, and who a WebSocket client is.

    POST /auth/token {"name", "class_code"}            -> a trainee's token
    POST /auth/token {"name", "role"?, "ttl_s"?}  with the teacher's bearer -> anyone's token
      -> {"token", "token_type": "Bearer", "expires_in", "name", "role"}

REST: no token or a bad one is 401 with `WWW-Authenticate: Bearer`; a trainee where a teacher is
needed, 403. A WebSocket handshake without a valid token is accepted and then closed with 4401
and the reason (so browsers and Postman show it); a channel the user may not join, 4403.
`POST /auth/token` runs as a request of the pipeline (REST's door), so the rate limit counts
its attempts too: a class code cannot be guessed at line speed.
"""

from __future__ import annotations

import hmac
from typing import Any

import trio
from quart import g, request, websocket
from quart_trio import QuartTrio

from qakit_trio.auth.tokens import Identity, Unauthorized, bearer
from qakit_trio.auth.users import (
    RESERVED,
    ROLES,
    TEACHER,
    TRAINEE,
    User,
    check_name,
    may_join,
    path_needs,
)
from qakit_trio.pipeline.request import Request
from qakit_trio.services import Services
from qakit_trio.sessions.identity import Identities
from qakit_trio.web import bodies, http_errors
from qakit_trio.web.http_errors import HttpError
from qakit_trio.web.rest_door import Answer, RestDoor, ok
from qakit_trio.wire.close_codes import FORBIDDEN, RATE_LIMITED, UNAUTHORIZED

MAX_TTL_S = 7 * 24 * 3600  # a teacher's token for someone: at most a week
CHALLENGE = {"WWW-Authenticate": "Bearer"}

Refusal = tuple[dict[str, Any], int, dict[str, str]]


def guessing(identities: Identities, address: str | None) -> bool:
    """A refused token counts against its sender's address (QAKIT_RATE_LIMIT), as any
    anonymous request does: whether this one is over the limit."""
    limiter = identities.limiter
    if limiter is None:
        return False
    return not limiter.take(f"anonymous:{address}", trio.current_time()).allowed


def unauthorized(reason: str) -> HttpError:
    return HttpError(401, {"detail": f"Not authenticated: {reason}"}, CHALLENGE)


def register_identities(app: QuartTrio, services: Services, door: RestDoor) -> None:
    identities = services.identities

    @app.before_request
    async def check_identity() -> Refusal | None:
        if not identities.on or request.method == "OPTIONS":  # (CORS preflights: no token)
            return None
        needs = path_needs(request.path)
        if needs is None:
            return None
        try:
            user = identities.identify(bearer(request.headers.get("Authorization"))).user
        except Unauthorized as refused:
            if guessing(identities, request.remote_addr):  # tokens are not to be guessed
                return {"detail": "Too Many Requests"}, 429, {"Retry-After": "1"}
            answer = unauthorized(str(refused))
            return answer.body, answer.status, answer.headers
        if needs == TEACHER and not user.is_teacher:
            detail = f"{request.path} is for the teacher; {user.name} is a {user.role}"
            return {"detail": detail}, 403, {}
        g.user = user
        services.classroom.saw(user, identities.wall())  # the teacher's board (classroom/)
        return None

    if not identities.on:
        return  # nothing to check, no token route: the stand as the original

    @app.post("/auth/token")
    async def token() -> Answer:
        async def act(request_: Request) -> None:
            body = await bodies.json_object(max_bytes=4096)
            caller = _caller()
            user, ttl = _wanted(body, caller, identities.class_code)
            now = identities.wall()
            minted, expires_at = identities.tokens.mint(user, now, ttl)
            services.classroom.saw(user, now)  # has taken a token: one of the class
            expires_in = int(expires_at - int(now))
            await request_.reply(
                ok(
                    {
                        "token": minted,
                        "token_type": "Bearer",
                        "expires_in": expires_in,
                        "name": user.name,
                        "role": user.role,
                    }
                )
            )

        return await door.serve("auth_token", act)

    def _caller() -> User | None:
        """The teacher, when the request carries the teacher's (or a teacher's) token."""
        given = bearer(request.headers.get("Authorization"))
        if given is None:
            return None
        try:
            return identities.identify(given).user
        except Unauthorized as refused:
            raise unauthorized(str(refused)) from None


def _wanted(
    body: dict[str, Any], caller: User | None, class_code: str
) -> tuple[User, float | None]:
    """Whose token, for how long: a trainee with the class code, or anyone the teacher asks."""
    if "name" not in body:
        raise http_errors.invalid(http_errors.missing(["body", "name"], body))
    try:
        name = check_name(body["name"])
    except ValueError as error:
        raise http_errors.invalid(
            http_errors.refused_value(["body", "name"], body["name"], str(error))
        ) from None
    if caller is not None and caller.is_teacher:
        role = body.get("role", TRAINEE)
        if role not in ROLES:
            raise http_errors.invalid(
                http_errors.refused_value(["body", "role"], role, "role must be trainee or teacher")
            )
        ttl = body.get("ttl_s")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_S
        ):
            raise http_errors.invalid(
                http_errors.refused_value(
                    ["body", "ttl_s"], ttl, f"ttl_s must be a whole number from 1 to {MAX_TTL_S}"
                )
            )
        return User(name, role), None if ttl is None else float(ttl)
    if name.casefold() in RESERVED:
        raise http_errors.invalid(
            http_errors.refused_value(["body", "name"], name, f"{name!r} is the teacher's name")
        )
    if "class_code" not in body:
        raise http_errors.invalid(http_errors.missing(["body", "class_code"], body))
    code = body["class_code"]
    if not isinstance(code, str) or not hmac.compare_digest(code.encode(), class_code.encode()):
        raise unauthorized("wrong class code")
    return User(name, TRAINEE), None


def ws_identity(
    services: Services, channel: str | None, *, teacher: bool = False
) -> Identity | tuple[int, str] | None:
    """Who a WebSocket client is (None: QAKIT_AUTH is off), or the (code, reason) to close its
    connection with once accepted: 4401 without a valid token, 4403 for a channel it may not
    join. The token: `Authorization: Bearer` (Postman) or `?token=` (browsers)."""
    identities = services.identities
    if not identities.on:
        return None
    given = bearer(websocket.headers.get("Authorization")) or websocket.args.get("token")
    try:
        identity = identities.identify(given)
    except Unauthorized as refused:
        if guessing(identities, websocket.remote_addr):
            return RATE_LIMITED, "rate limit exceeded"
        return UNAUTHORIZED, str(refused)
    if teacher and not identity.user.is_teacher:  # the inspector: everyone's frames
        return FORBIDDEN, f"{identity.user.name} is a {identity.user.role}: this is the teacher's"
    if channel is not None and not may_join(identity.user, channel):
        return FORBIDDEN, f"{identity.user.name} may not join {channel}"
    services.classroom.saw(identity.user, identities.wall())
    return identity
