"""Numbers in query strings and headers: ASCII digits only.

`str.isdigit()` is true of superscripts and of other scripts' digits, and `int()` reads most
of them, so a check built on them lets through numbers no client meant (and `int()` of a
superscript raises where the check had passed: a 500). Every number a URL carries goes
through `ascii_whole`, and a bad one is answered with a 400/422 that names the parameter (the
caller builds that answer).
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,18}")


def ascii_whole(raw: str | None, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    """`raw` as a whole number written in ASCII digits within [minimum, maximum], else None."""
    if raw is None or _DIGITS.fullmatch(raw) is None:
        return None
    number = int(raw)
    if number < minimum or (maximum is not None and number > maximum):
        return None
    return number
