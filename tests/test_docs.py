"""The docs that point into the code: every `file:line` reference in docs/concurrency.md, with
the code it quotes in the same table row, must still be true, and every repository path the
README and docs/ name must exist. The README fits on one screen before its links; every
relative link in README.md and docs/ leads to a file (and heading) as on GitHub; every page of
docs/ is served by the stand but the lab's answer key; what moved out of the README is where it
says (the settings table, the test command CI runs)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from qakit_trio.config import KNOWN_VARIABLES
from qakit_trio.web.pages import GUIDES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(qakit_trio/[\w/]+\.py):(\d+)` \| `([^`]+)`")


def references() -> list[tuple[str, int, str]]:
    text = (ROOT / "docs" / "concurrency.md").read_text()
    return [(path, int(line), code) for path, line, code in REFERENCE.findall(text)]


def test_the_page_has_references() -> None:
    assert len(references()) >= 30


@pytest.mark.parametrize(("path", "line", "code"), references(), ids=lambda value: str(value)[:40])
def test_each_reference_points_at_the_code_it_quotes(path: str, line: int, code: str) -> None:
    lines = (ROOT / path).read_text().splitlines()
    assert line <= len(lines), f"{path} has {len(lines)} lines"
    assert code.strip() in lines[line - 1], f"{path}:{line} is {lines[line - 1].strip()!r}"


PATH = re.compile(r"\b((?:qakit_trio|tests|bench|docs|\.ci)/[\w./-]*\w)")


def named_paths() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return sorted({(page.name, path) for page in pages for path in PATH.findall(page.read_text())})


def test_the_pages_name_paths() -> None:
    assert len(named_paths()) >= 20


@pytest.mark.parametrize(("page", "path"), named_paths(), ids=lambda value: str(value)[:50])
def test_each_named_path_exists(page: str, path: str) -> None:
    assert (ROOT / path.split(":")[0]).exists(), f"{page} names {path}, which does not exist"


README = ROOT / "README.md"
MARKDOWN = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SCREEN = 80  # lines a trainee reads before the README's links begin
LIST_LINK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s.*\]\(")
HTML_ID = re.compile(r"""<a\s[^>]*\b(?:id|name)=["']([^"']+)["']""")
TEACHERS_ONLY = {"docs/lab-answer-key.md"}  # in the repository, never served to a class


def first_link_list(text: str) -> int:
    """The 0-based index of the first markdown list line that holds a link: the number of
    lines above the first list of links."""
    for index, line in enumerate(text.splitlines()):
        if LIST_LINK.match(line):
            return index
    raise AssertionError("no list of links")


def test_the_readme_fits_on_one_screen_before_its_first_list_of_links() -> None:
    assert first_link_list(README.read_text()) <= SCREEN
    assert first_link_list("# t\n\n" + "text [a](b.md)\n" * 80 + "- [a](b.md)\n") == 82


def test_the_readme_links_the_russian_guide_first() -> None:
    text = README.read_text()
    first = text.splitlines()[first_link_list(text)]
    assert re.search(r"\]\(docs/guide/ru/start\.md\)", first), first


def tokens(text: str) -> list[Token]:
    found: list[Token] = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        found += [token, *(token.children or ())]
    return found


def links(text: str) -> list[str]:
    """Every link and image address of a markdown text (not what code spans show)."""
    return [
        str(token.attrs.get("href") or token.attrs.get("src"))
        for token in tokens(text)
        if token.type in ("link_open", "image")
    ]


def slug(heading: Token) -> str:
    """GitHub's anchor of a heading: its text (code spans' included) in lower case, punctuation
    dropped (letters of any script, digits, `_`, `-` and spaces kept), each space a `-`."""
    text = "".join(
        child.content for child in heading.children or () if child.type in ("text", "code_inline")
    )
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a markdown text: its headings' slugs (a repeated one gets -1,
    -2, ...) and the ids of its own <a id> / <a name> elements."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    items = tokens(text)
    for index, token in enumerate(items):
        if token.type == "heading_open":
            anchor = slug(items[index + 1])
            found.add(f"{anchor}-{seen[anchor]}" if anchor in seen else anchor)
            seen[anchor] = seen.get(anchor, 0) + 1
    return found | set(HTML_ID.findall(text))


def broken_links(page: Path, text: str) -> list[str]:
    """The relative links on `page` (of the repository) that lead nowhere on GitHub."""
    broken = []
    for href in links(text):
        parts = urlsplit(href)
        if parts.scheme or href.startswith("/"):
            continue  # another site, or the stand's own path (the crawler checks those)
        target = (page.parent / parts.path).resolve() if parts.path else page
        if not target.exists() or ROOT not in (target, *target.parents):
            broken.append(f"{page.relative_to(ROOT)}: {href}: no such file")
        elif (
            parts.fragment
            and target.suffix == ".md"
            and parts.fragment not in anchors(target.read_text())
        ):
            broken.append(f"{page.relative_to(ROOT)}: {href}: no such heading")
    return broken


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    broken = [line for page in MARKDOWN for line in broken_links(page, page.read_text())]
    assert broken == [], "\n".join(broken)
    assert len([href for page in MARKDOWN for href in links(page.read_text())]) >= 100
    # the check can fail: a missing file, a missing heading; a link shown as code is no link
    assert broken_links(
        README, "[a](docs/nope.md) [b](docs/settings.md#nope) `[c](x.md)` [d](#run-it)"
    ) == [
        "README.md: docs/nope.md: no such file",
        "README.md: docs/settings.md#nope: no such heading",
    ]


def test_anchors_are_github_s() -> None:
    assert anchors(
        "## Profiles: `qakit` and `qa_kit`\n## Metrics: `GET /metrics`\n"
        '## Заказы и REST\n## A & B\n## A & B\n<a id="task-root"></a>'
    ) == {
        "profiles-qakit-and-qa_kit",
        "metrics-get-metrics",
        "заказы-и-rest",
        "a--b",
        "a--b-1",
        "task-root",
    }


def test_every_page_of_docs_is_served_but_the_answer_key() -> None:
    """Served as /guides/NAME: README.md as README.md, docs/NAME as NAME."""
    pages = {str(page.relative_to(ROOT)) for page in MARKDOWN}
    served = {name if name == "README.md" else f"docs/{name}": name for name in GUIDES}
    assert sorted(pages - TEACHERS_ONLY - set(served)) == []
    assert sorted(set(served) - pages) == []
    assert pages >= TEACHERS_ONLY
    shipped = ROOT / "qakit_trio" / "pages" / "guides"
    for path, name in served.items():
        assert (shipped / name).resolve() == (ROOT / path).resolve(), name
    # and the wheel takes every one (pyproject.toml's package-data)
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["qakit_trio"]
    for name in GUIDES:
        assert any(
            fnmatch.fnmatch(f"pages/guides/{name}", glob)
            and glob.count("/") == f"pages/guides/{name}".count("/")
            for glob in globs
        ), name


def test_the_settings_page_lists_every_variable_the_stand_reads() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    listed = re.findall(r"^\| `([A-Z_]+)` \|", text, re.MULTILINE)
    assert sorted(listed) == sorted(KNOWN_VARIABLES)
    assert len(listed) == len(set(listed))


def test_ci_runs_exactly_the_readme_s_test_command() -> None:
    text = README.read_text()
    section = text[text.index("## Run the tests") :]
    command = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL)
    assert command is not None
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line for line in script if line and not line.startswith(("#", "set ", "cd "))]
    assert steps == command[1].split(" && ")
    assert command[1] == "python -m pip install -e '.[dev]' && python -m pytest"


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
