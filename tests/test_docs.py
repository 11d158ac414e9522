"""The docs that point into the code: every `file:line` reference in docs/concurrency.md, with
the code it quotes in the same table row, must still be true, and every repository path the
README and docs/ name must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(qakit_trio/[\w/]+\.py):(\d+)` \| `([^`]+)`")


def references() -> list[tuple[str, int, str]]:
    text = (ROOT / "docs" / "concurrency.md").read_text()
    return [(path, int(line), code) for path, line, code in REFERENCE.findall(text)]


def test_the_page_has_references() -> None:
    assert len(references()) >= 30


@pytest.mark.parametrize(("path", "line", "code"), references(),
                         ids=lambda value: str(value)[:40])
def test_each_reference_points_at_the_code_it_quotes(path: str, line: int, code: str) -> None:
    lines = (ROOT / path).read_text().splitlines()
    assert line <= len(lines), f"{path} has {len(lines)} lines"
    assert code.strip() in lines[line - 1], f"{path}:{line} is {lines[line - 1].strip()!r}"


PATH = re.compile(r"\b((?:qakit_trio|tests|bench|docs|\.ci)/[\w./-]*\w)")


def named_paths() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return sorted({(page.name, path) for page in pages
                   for path in PATH.findall(page.read_text())})


def test_the_pages_name_paths() -> None:
    assert len(named_paths()) >= 20


@pytest.mark.parametrize(("page", "path"), named_paths(), ids=lambda value: str(value)[:50])
def test_each_named_path_exists(page: str, path: str) -> None:
    assert (ROOT / path.split(":")[0]).exists(), f"{page} names {path}, which does not exist"


def renumbered(text: str) -> str:
    """`text` with each reference's line number moved to where its quoted code is now (the
    nearest match to the old number). For `python tests/test_docs.py --renumber`."""

    def move(match: re.Match[str]) -> str:
        path, line, code = match[1], int(match[2]), match[3]
        lines = (ROOT / path).read_text().splitlines()
        found = [n for n, text in enumerate(lines, 1) if code.strip() in text]
        if not found:
            return match[0]  # left for the test to report
        best = min(found, key=lambda n: abs(n - line))
        return f"`{path}:{best}` | `{code}`"

    return REFERENCE.sub(move, text)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--renumber"]:
        page = ROOT / "docs" / "concurrency.md"
        page.write_text(renumbered(page.read_text()))
