"""Tokens (QAKIT_AUTH=on): HS256 JWTs signed with QAKIT_JWT_SECRET, and the teacher's own token.

    {"sub": name, "role": "trainee" | "teacher", "iat": ..., "exp": ...}

A token says who its bearer is until `exp`; nothing is stored on the stand, so a restart with the
same secret keeps every token valid (with a random secret, none survives the process). The
time a token is checked against is given by the caller (the wall clock, as `exp` is in the
token; tests give their own). Pure but for PyJWT.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt

from qakit_trio.auth.users import ROLES, TEACHER, User, check_name

ALGORITHM = "HS256"
TEACHER_NAME = "teacher"  # who the teacher's own token is


class Unauthorized(Exception):
    """No token, a bad one, or one that expired: the reason is safe to show (no secret)."""


@dataclass(frozen=True, slots=True)
class Identity:
    user: User
    expires_at: float | None  # wall-clock seconds; None: never (the teacher's own token)


class Tokens:
    def __init__(self, secret: bytes, ttl: float, teacher_token: str) -> None:
        self._secret = secret
        self.ttl = ttl
        self._teacher_token = teacher_token.encode()

    def mint(self, user: User, now: float, ttl: float | None = None) -> tuple[str, float]:
        """A token for `user`, valid `ttl` seconds (QAKIT_TOKEN_TTL) from `now`: (it, exp)."""
        issued = int(now)
        expires_at = float(issued + int(self.ttl if ttl is None else ttl))
        claims = {"sub": user.name, "role": user.role, "iat": issued, "exp": int(expires_at)}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires_at

    def verify(self, token: str, now: float) -> Identity:
        """Who `token` says its bearer is, at `now`; Unauthorized with the reason otherwise."""
        if hmac.compare_digest(token.encode(), self._teacher_token):
            return Identity(User(TEACHER_NAME, TEACHER), None)
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "require": ["sub", "role", "exp"]},
            )
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        role, exp = claims.get("role"), claims.get("exp")
        if role not in ROLES or not isinstance(exp, int | float):
            raise Unauthorized("invalid token")
        try:
            name = check_name(claims.get("sub"))
        except ValueError:
            raise Unauthorized("invalid token") from None
        if exp <= now:
            raise Unauthorized("token expired")
        return Identity(User(name, role), float(exp))


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None: no such header)."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
