"""auth/ on its own (pure): names, the permission table, tokens and their expiry, the token
bucket and its 4429 verdict, with the time given."""

from __future__ import annotations

import jwt
import pytest

from qakit_trio.auth.limits import Limiter, RateLimit, parse_rate_limit
from qakit_trio.auth.tokens import Tokens, Unauthorized, bearer
from qakit_trio.auth.users import (
    TEACHER,
    TRAINEE,
    User,
    check_name,
    may_broadcast,
    may_join,
    path_needs,
)

TOKENS = Tokens(b"secret", 3600, "teacher-token-0123456789")
IVAN = User("ivan", TRAINEE)


@pytest.mark.parametrize("name", ["ivan", "Иван_2", "a.b-c", "x" * 32])
def test_names_of_letters_digits_and_three_marks_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 33, "a b", "a/b", "<script>", 7, None])
def test_other_names_are_refused(name: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (the message is the check's own)
        check_name(name)


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        ("/", None),
        ("/health", None),
        ("/auth/token", None),
        ("/guides/ru/index", None),
        ("/stats", TRAINEE),
        ("/orders/5", TRAINEE),
        ("/playground", None),  # the page's shell: what it calls needs the token
        ("/assets/stand.js", None),
        ("/lab/bugs", TEACHER),
        ("/inspector", None),
        ("/debug/events/e1", TEACHER),
        ("/metrics", TEACHER),
        ("/debug/tasks", TEACHER),
    ],
)
def test_what_each_path_needs(path: str, needs: str | None) -> None:
    assert path_needs(path) == needs


def test_private_channels_and_announcements() -> None:
    teacher = User("olga", TEACHER)
    assert may_join(IVAN, "private:ivan")
    assert not may_join(IVAN, "private:petr")
    assert may_join(teacher, "private:petr")
    assert may_join(IVAN, "announcements")
    assert not may_broadcast(IVAN, "announcements")
    assert may_broadcast(teacher, "announcements")
    assert may_broadcast(IVAN, "general")


def test_a_token_says_who_until_it_expires() -> None:
    token, expires_at = TOKENS.mint(IVAN, 1000.0)
    assert expires_at == 4600.0
    identity = TOKENS.verify(token, 4599.0)
    assert (identity.user, identity.expires_at) == (IVAN, 4600.0)
    with pytest.raises(Unauthorized, match="token expired"):
        TOKENS.verify(token, 4600.0)
    forged = jwt.encode({"sub": "ivan", "role": "teacher", "exp": 9999}, b"other", "HS256")
    with pytest.raises(Unauthorized, match="invalid token"):
        TOKENS.verify(forged, 1000.0)
    odd = jwt.encode({"sub": "a b", "role": "trainee", "exp": 9999}, b"secret", "HS256")
    with pytest.raises(Unauthorized, match="invalid token"):
        TOKENS.verify(odd, 1000.0)
    assert TOKENS.verify("teacher-token-0123456789", 1e12).expires_at is None


def test_the_bearer_of_an_authorization_header() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer ") is None
    assert bearer(None) is None


def test_the_rate_limit_setting() -> None:
    assert parse_rate_limit("20/s,40") == RateLimit(20.0, 40)
    assert parse_rate_limit("0.5/s,1") == RateLimit(0.5, 1)
    assert parse_rate_limit("off") is None
    for bad in ("20", "20/s", "0/s,1", "1/s,0", "-1/s,2", "1/m,2"):
        with pytest.raises(ValueError, match=r"RATE/s,BURST|above 0"):
            parse_rate_limit(bad)


def test_a_bucket_allows_a_burst_then_the_rate_and_closes_a_client_that_keeps_on() -> None:
    limiter = Limiter(RateLimit(2.0, 3))
    assert [limiter.take("ivan", 0.0).allowed for _ in range(3)] == [True] * 3
    refused = limiter.take("ivan", 0.0)
    assert (refused.allowed, refused.retry_after, refused.disconnect) == (False, 0.5, False)
    assert limiter.take("petr", 0.0).allowed  # per user
    assert limiter.take("ivan", 0.5).allowed  # one token back after 1/rate
    verdicts = [limiter.take("ivan", 0.5) for _ in range(3)]  # refused: 2nd, 3rd, 4th in 10 s
    assert [v.disconnect for v in verdicts] == [False, False, True]
    assert limiter.take("ivan", 20.0).allowed  # refilled, and the old refusals forgotten
