"""Users, roles and what each may do (QAKIT_AUTH=on). Pure.

what                                                      anonymous  trainee  teacher
/, /health, /docs, /openapi.json, /asyncapi*, /guides/*,     yes       yes      yes
  /postman/*, static assets, POST /auth/token
/ws*, /orders*, /stats, POST /broadcast, /playground          no        yes      yes
channel private:<name>                                        no      <name>    yes
broadcast to `announcements` (anyone may listen)              no        no       yes
POST /lab/findings, GET /lab/findings/mine, /me              no        yes      yes
/lab/* (the rest), /classroom's data, /inspector, /tasks,    no        no       yes
  /debug/*, /ws/_inspect, /metrics
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

TRAINEE: Final = "trainee"
TEACHER: Final = "teacher"
ROLES = (TRAINEE, TEACHER)
# 1-32 characters: letters of any script, digits, "_", "-", "."
NAME_CHAR = re.compile(r"[\w.\-]")
MAX_NAME = 32
# letters that show as nothing (Hangul fillers): a name must be seen to be told apart
FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
RESERVED = frozenset({"teacher"})  # the teacher's own token's name: never a trainee's
PRIVATE_PREFIX = "private:"
ANNOUNCEMENTS = "announcements"  # anyone may listen; only a teacher may broadcast

# What a path needs, by its start (the longest match wins); anything else needs a user.
PUBLIC_PATHS = (
    "/health",
    "/docs",
    "/openapi.json",
    "/asyncapi",
    "/guides/",
    "/postman/",
    "/assets/",  # the pages' scripts, styles and texts (pages.py)
    "/swagger-ui/",  # /docs's Swagger UI files
    "/stand.json",  # what the pages need to know (never a secret)
    "/favicon",
    "/auth/token",
)
# the pages' HTML: the same for everyone, no data in it; what they call needs the token
# (a browser's navigation cannot carry the `Authorization` header of a sessionStorage token)
PAGE_SHELLS = ("/playground", "/inspector", "/tasks", "/classroom", "/me")
# under /lab/ but any user's: a trainee's findings (GET /lab/findings, every one, checks for the
# teacher itself)
USER_PATHS = ("/lab/findings", "/lab/findings/mine")
TEACHER_PATHS = ("/lab/", "/inspector", "/tasks", "/debug/", "/ws/_inspect", "/metrics")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    @property
    def is_teacher(self) -> bool:
        return self.role == TEACHER


def check_name(value: object) -> str:
    """A user's name, checked (ValueError saying what is wrong)."""
    if not isinstance(value, str):
        raise ValueError("name must be a string")
    if not 1 <= len(value) <= MAX_NAME:
        raise ValueError(f"name must be 1 to {MAX_NAME} characters long")
    bad = [
        char
        for char in value
        if NAME_CHAR.fullmatch(char) is None
        or char in FILLERS
        or unicodedata.category(char)[0] == "M"
    ]
    if bad:
        raise ValueError(f"name may hold letters, digits, '_', '-' and '.', not {bad[0]!r}")
    if unicodedata.normalize("NFKC", value) != value:  # full-width and other look-alike forms
        raise ValueError("name must be written in its plain form (Unicode NFKC)")
    scripts = {unicodedata.name(char, "?").split()[0] for char in value if char.isalpha()}
    if len(scripts) > 1:  # "teacher" with a Cyrillic "ie" for its "e" is not "teacher"
        raise ValueError("name must be written in one script (letters of one alphabet)")
    return value


def path_needs(path: str) -> str | None:
    """What an HTTP path needs: None (anyone), TRAINEE (any user) or TEACHER."""
    if path == "/" or path in PAGE_SHELLS or path.startswith(PUBLIC_PATHS):
        return None
    if path in USER_PATHS:
        return TRAINEE
    if path.startswith(TEACHER_PATHS) or path in ("/lab", "/debug"):
        return TEACHER
    return TRAINEE


def may_join(user: User, channel: str) -> bool:
    """Whether `user` may join (and listen to) `channel`."""
    if not channel.startswith(PRIVATE_PREFIX) or user.is_teacher:
        return True
    return channel[len(PRIVATE_PREFIX) :] == user.name


def may_broadcast(user: User, channel: str) -> bool:
    """Whether `user` may broadcast to `channel` (having joined it)."""
    return may_join(user, channel) and (channel != ANNOUNCEMENTS or user.is_teacher)
