"""A class with identities on (QAKIT_AUTH=on), for the classroom's tests: the teacher's token,
the class code, the kit's and a real server's settings for them, and a trainee's token."""

from __future__ import annotations

from typing import Any

from qakit_trio.testing import Stand

TEACHER = "teacher-token-0123456789"
CODE = "lesson-7"
SECRET = "test-secret-of-thirty-two-bytes!"  # tokens that outlive a restart
# the kit's settings (environment names): no rate limit, one user may send what a test needs
AUTH = {
    "QAKIT_AUTH": "on",
    "QAKIT_TEACHER_TOKEN": TEACHER,
    "QAKIT_CLASS_CODE": CODE,
    "QAKIT_RATE_LIMIT": "off",
}
# the same, as Settings fields (a real server started with `Settings(**SETTINGS)`)
SETTINGS: dict[str, Any] = {
    "auth": True,
    "teacher_token": TEACHER,
    "class_code": CODE,
    "rate_limit": None,
}


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def token_for(stand: Stand, name: str) -> str:
    """A trainee's token, with the class code (the trainee is then in the roster)."""
    status, body = await stand.request("POST", "/auth/token", {"name": name, "class_code": CODE})
    assert status == 200, body
    return str(body["token"])
