"""The docs that point into the code: every `path::Qualname` reference in docs/concurrency.md
must name a definition that still exists and still holds the line quoted in the same table row
(no page pins line numbers), and every repository path the README and docs/ name must exist.
The README fits on one screen before its links; every relative link in README.md and docs/
leads to a file (and heading) as on GitHub; every page of docs/ is served by the stand but the
lab's answer key; what moved out of the README is where it says (the settings table, the test
command CI runs)."""

from __future__ import annotations

import ast
import fnmatch
import re
import shutil
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from qakit_trio.config import KNOWN_VARIABLES
from qakit_trio.web.guides import GUIDES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`(qakit_trio/[\w/]+\.py)::([\w.]+)` \| `([^`]+)`")
CONCURRENCY = ROOT / "docs" / "concurrency.md"
LINE_NUMBER = re.compile(r"\b[\w/]+\.py:\d+")  # the old form: path.py:123


def references(text: str | None = None) -> list[tuple[str, str, str]]:
    """(path, qualname, quoted code) of every reference on the page (or in `text`)."""
    return REFERENCE.findall(CONCURRENCY.read_text() if text is None else text)


def named(body: list[ast.stmt], name: str, assignments: bool = True) -> list[ast.stmt]:
    """The definitions of `name` in a block: a class, a function, or (in a module's or a
    class's block: `assignments`) an assignment to it; those under an if/try/with/for of the
    block too."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                found.append(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if assignments and name in names:
                found.append(node)
        else:
            for field in ("body", "orelse", "finalbody"):
                found += named(getattr(node, field, None) or [], name, assignments)
            for block in [*getattr(node, "handlers", []), *getattr(node, "cases", [])]:
                found += named(block.body, name, assignments)
    return found


def resolve(source: str, qualname: str) -> tuple[list[ast.stmt], str]:
    """The definitions `qualname` (dotted: Class.method, function.inner, NAME) names in a
    module's source, and the part that was not found ("" when found)."""
    blocks: list[tuple[list[ast.stmt], bool]] = [(ast.parse(source).body, True)]
    found: list[ast.stmt] = []
    for part in qualname.split("."):
        found = [node for body, assigned in blocks for node in named(body, part, assigned)]
        if not found:
            return [], part
        blocks = [
            (node.body, isinstance(node, ast.ClassDef))
            for node in found
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
    return found, ""


def reference_problem(
    path: str, qualname: str, code: str, root: Path = ROOT, source: str | None = None
) -> str | None:
    """What is wrong with the reference `path::qualname` quoting `code` (None: nothing): the
    file is gone, the definition is gone, or the quoted line is not in it."""
    name = f"{path}::{qualname}"
    if source is None:
        if not (root / path).is_file():
            return f"{name}: no such file"
        source = (root / path).read_text()
    nodes, missing = resolve(source, qualname)
    if missing:
        return f"{name}: no such definition ({missing!r} not found)"
    lines = source.splitlines()
    for node in nodes:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if any(code.strip() in line for line in lines[start - 1 : node.end_lineno]):
            return None
    return f"{name}: the quoted line is not in it: {code.strip()!r}"


def reference_problems(text: str, root: Path = ROOT) -> list[str]:
    found = [reference_problem(path, qual, code, root) for path, qual, code in references(text)]
    return [problem for problem in found if problem is not None]


def test_the_page_has_references() -> None:
    assert len(references()) >= 30


@pytest.mark.parametrize(
    ("path", "qualname", "code"), references(), ids=lambda value: str(value)[:40]
)
def test_each_reference_names_code_that_still_holds_its_quote(
    path: str, qualname: str, code: str
) -> None:
    problem = reference_problem(path, qualname, code)
    assert problem is None, problem


def test_no_page_pins_a_line_number() -> None:
    pinned = [
        f"{page.relative_to(ROOT)}: {found}"
        for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        for found in LINE_NUMBER.findall(page.read_text())
    ]
    assert pinned == []
    assert LINE_NUMBER.findall("see `qakit_trio/ws/hub.py:139`") == ["qakit_trio/ws/hub.py:139"]


def test_a_renamed_function_fails_its_references_by_name(tmp_path: Path) -> None:
    """The check can fail: rename Hub.publish in a copy of the tree the page points into, and
    exactly the references to it fail, each by its name."""
    for path in {path for path, _, _ in references()}:
        if (ROOT / path).is_file():
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, tmp_path / path)
    hub = tmp_path / "qakit_trio" / "ws" / "hub.py"
    assert hub.read_text().count("    def publish(") == 1
    hub.write_text(hub.read_text().replace("    def publish(", "    def broadcast("))
    page = CONCURRENCY.read_text()
    new = sorted(set(reference_problems(page, tmp_path)) - set(reference_problems(page)))
    assert new == ["qakit_trio/ws/hub.py::Hub.publish: no such definition ('publish' not found)"]


def test_the_resolver_finds_what_it_should() -> None:
    source = (
        "import trio\n"
        "LIMIT = 2\n"
        "class Hub:\n"
        "    size: int = 0\n"
        "    @property\n"
        "    def busy(self) -> bool:\n"
        "        return self.size > LIMIT\n"
        "    async def run(self) -> None:\n"
        "        async def inner() -> None:\n"
        "            await trio.sleep(1)\n"
        "        local = 1\n"
        "if LIMIT:\n"
        "    def late() -> None: ...\n"
    )
    path = "qakit_trio/x.py"
    for qualname, code in [
        ("LIMIT", "LIMIT = 2"),
        ("Hub", "class Hub:"),
        ("Hub.size", "size: int = 0"),
        ("Hub.busy", "@property"),
        ("Hub.run", "await trio.sleep(1)"),
        ("Hub.run.inner", "await trio.sleep(1)"),
        ("late", "def late()"),
    ]:
        assert reference_problem(path, qualname, code, source=source) is None, qualname
    assert reference_problem(path, "Hub.publish", "def publish(", source=source) == (
        "qakit_trio/x.py::Hub.publish: no such definition ('publish' not found)"
    )
    assert reference_problem(path, "Hub.busy", "await trio.sleep(1)", source=source) == (
        "qakit_trio/x.py::Hub.busy: the quoted line is not in it: 'await trio.sleep(1)'"
    )
    assert reference_problem(path, "Hub.run.local", "local = 1", source=source) == (
        "qakit_trio/x.py::Hub.run.local: no such definition ('local' not found)"
    )
    assert reference_problem("qakit_trio/gone.py", "f", "f()") == (
        "qakit_trio/gone.py::f: no such file"
    )


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
