"""The close-code matrix is defined once (wire/close_codes.py, MATRIX) and shown in five
places: the README, docs/protocol.md, both guides' WebSocket pages and the AsyncAPI document.
Each shows every code, in the matrix's order, with its reason and its reconnect advice (the
Russian guide in Russian: RU_RECONNECT), so none can drift from the matrix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qakit_trio.web import asyncapi
from qakit_trio.wire.close_codes import LOCAL_ONLY, MATRIX, CloseCode

ROOT = Path(__file__).resolve().parents[2]
# file -> the heading of the section that holds the matrix
TABLES = {
    "README.md": "## Close codes",
    "docs/protocol.md": "## Identities (QAKIT_AUTH=on)",
    "docs/guide/ru/websocket.md": "## Ошибки и коды закрытия",
    "docs/guide/en/websocket.md": "## Errors and close codes",
}
RU_RECONNECT = {  # the Russian guide's words for MATRIX's reconnect advice
    "no": "нет",
    "yes, with backoff": "да, с растущей паузой",  # noqa: RUF001 (Russian)
    "after a fix": "после исправления клиента",
    "yes, later": "да, позже",
    "yes": "да",
    "after a new token": "с новым токеном",  # noqa: RUF001 (Russian)
    "yes, slower": "да, реже",
    "yes, at once, with since": "да, сразу, с since",  # noqa: RUF001 (Russian)
}
ROW = re.compile(r"^\| `(\d{4})` \| (.*)\|$", re.MULTILINE)

Row = tuple[int, str, str]  # code, reason, reconnect advice


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end == -1 else end]


def rows(text: str) -> list[Row]:
    """The matrix rows of a Markdown text: | `code` | reason | ... | reconnect |."""
    found = []
    for code, rest in ROW.findall(text):
        cells = [cell.strip() for cell in rest.split(" | ")]
        found.append((int(code), cells[0], cells[-1]))
    return found


def expected(*, russian: bool = False) -> list[Row]:
    def reason(c: CloseCode) -> str:
        return f"`{c.reason}`" if c.reason else "—"

    def advice(c: CloseCode) -> str:
        return RU_RECONNECT[c.reconnect] if russian else c.reconnect

    return [(c.code, reason(c), advice(c)) for c in MATRIX]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_documents_table_is_the_matrix(name: str) -> None:
    text = (ROOT / name).read_text()
    shown = rows(section(text, TABLES[name]))
    assert shown == expected(russian="/ru/" in name), name
    assert len(rows(text)) == len(MATRIX), f"{name}: one matrix table, not more"


def test_the_asyncapi_document_carries_the_matrix() -> None:
    document = asyncapi.document()
    assert document["x-close-codes"] == [
        {"code": c.code, "reason": c.reason, "when": c.when, "reconnect": c.reconnect}
        for c in MATRIX
    ]
    table = document["info"]["description"]
    for c in MATRIX:
        assert f"| {c.code} | {c.reason or '(none)'} | {c.when} | {c.reconnect} |" in table
    assert set(asyncapi.CLOSE_CODES) == {c.code for c in MATRIX} - LOCAL_ONLY


def test_every_advice_has_its_russian_words_and_the_codes_are_unique() -> None:
    assert {c.reconnect for c in MATRIX} <= set(RU_RECONNECT)
    assert len({c.code for c in MATRIX}) == len(MATRIX)


def test_a_table_that_drifts_from_the_matrix_is_caught() -> None:
    good = "\n".join(
        f"| `{code}` | {reason} | when | {advice} |" for code, reason, advice in expected()
    )
    assert rows(good) == expected()
    dropped = good.replace("\n| `4429` |", "\n| 4429 |")
    assert rows(dropped) != expected()
    changed = good.replace("| after a new token |", "| yes |")
    assert rows(changed) != expected()
    assert rows(good.replace("`forbidden`", "`not allowed`")) != expected()
