"""wire/query.py: numbers in URLs are ASCII digits only (no event loop)."""

from __future__ import annotations

import pytest

from qakit_trio.wire.query import ascii_whole


# superscript two, Arabic-Indic ten, mathematical bold five, fullwidth five
@pytest.mark.parametrize(
    "raw",
    [
        "\u00b2",
        "\u0661\u0660",
        "\U0001d7d3",
        "\uff15",
        "-1",
        "+1",
        " 1",
        "1 ",
        "",
        "1e3",
        "0x10",
        "1_000",
        "9" * 19,
        None,
    ],
)
def test_anything_but_ascii_digits_is_refused(raw: str | None) -> None:
    assert ascii_whole(raw) is None


def test_ascii_digits_within_bounds() -> None:
    assert ascii_whole("0") == 0
    assert ascii_whole("0042") == 42
    assert ascii_whole("10", minimum=1, maximum=10) == 10
    assert ascii_whole("11", maximum=10) is None
    assert ascii_whole("0", minimum=1) is None
