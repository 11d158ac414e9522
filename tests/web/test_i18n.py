"""The pages' two languages without a browser: the catalogues (pages/static/i18n.ru.json and
i18n.en.json) against each other and against every key the pages use, every error code
explained, no page text outside the catalogues, and the stand's pick of a language from
Accept-Language. (In a real browser, both languages on every page: tests/pages/
test_languages.py.)"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import trio

from qakit_trio.errors import ErrorCode
from qakit_trio.web import languages

from ..support.helpers import running_server
from ..support.timeouts import TIMEOUT

STATIC = Path(__file__).resolve().parents[2] / "qakit_trio" / "pages" / "static"
CATALOGUES = {
    lang: json.loads((STATIC / f"i18n.{lang}.json").read_text("utf-8")) for lang in ("ru", "en")
}
GUIDES = STATIC.parent / "guides" / "guide" / "ru"  # the trainee guides, by their file names
PAGES_HTML = sorted(STATIC.glob("*.html"))
PAGES_JS = sorted(STATIC.glob("*.js"))
FORMS = ("one", "few", "many", "other")  # the plural forms Intl.PluralRules gives ru and en
PLACEHOLDER = re.compile(r"\{(\w+)\}")  # stand.js's t(): {name} filled from its args
# where the pages name keys: attributes in HTML; string literals in JS (a key is a literal
# whose first part is one of the catalogue's namespaces)
HTML_KEYS = re.compile(r'data-i18n(?:-html)?="([^"]+)"')
HTML_ATTR_KEYS = re.compile(r'data-i18n-attr="([^"]+)"')
HTML_MARKUP_KEYS = re.compile(r'data-i18n-html="([^"]+)"')
JS_LITERAL = re.compile(r'"([a-z]+\.[A-Za-z_.]+)"')
# keys a page builds with a template literal, and where their last part comes from
JS_FAMILY = re.compile(r"`([a-z]+\.[A-Za-z_]*)\$\{")


def namespaces() -> set[str]:
    return {key.split(".", 1)[0] for key in CATALOGUES["ru"]}


def used_keys() -> set[str]:
    """Every key the pages name outright."""
    keys: set[str] = set()
    for page in PAGES_HTML:
        text = page.read_text("utf-8")
        keys |= set(HTML_KEYS.findall(text))
        for attrs in HTML_ATTR_KEYS.findall(text):
            keys |= {pair.split(":", 1)[1] for pair in attrs.split(";")}
    for script in PAGES_JS:
        keys |= {
            literal
            for literal in JS_LITERAL.findall(script.read_text("utf-8"))
            if literal.split(".", 1)[0] in namespaces()
        }
    return keys


def family_keys() -> dict[str, set[str]]:
    """The keys the pages build (`state.${state}`...): prefix -> the keys it must find."""
    stand = (STATIC / "stand.js").read_text("utf-8")
    arrows = re.search(r"ARROWS: \{([^}]*)\}", stand)
    assert arrows is not None
    sides = set(re.findall(r"(\w+): \"", arrows[1]))
    playground = (STATIC / "playground.js").read_text("utf-8")
    ws_states = set(re.findall(r'setState\("(\w+)"', playground))
    return {
        "legend.": {f"legend.{side}" for side in sides},  # the arrows' legend
        "error.": {f"error.{code}" for code in ErrorCode},  # every error frame's code
        "state.": {f"state.{state}" for state in ws_states},  # the playground's socket
        "pg.closed": {
            f"pg.closed{reason}{clean}" for reason in ("", "Reason") for clean in ("", "Unclean")
        },
        "guide.": {f"guide.{path.stem}" for path in GUIDES.glob("*.md")},  # the portal's
        "http.": set(),
    }  # a REST status, if the catalogue explains it (else nothing)


def base(key: str) -> str:
    """`tasks.count.few` -> `tasks.count` (t() picks the form by args.n)."""
    head, _, tail = key.rpartition(".")
    return head if tail in FORMS else key


def test_both_catalogues_have_every_key_with_a_text() -> None:
    ru, en = CATALOGUES["ru"], CATALOGUES["en"]
    assert list(ru) == list(en)  # one order too: the two files read side by side
    for lang, table in CATALOGUES.items():
        empty = [
            key for key, text in table.items() if not isinstance(text, str) or not text.strip()
        ]
        assert empty == [], lang
    for key in ru:
        assert set(PLACEHOLDER.findall(ru[key])) == set(PLACEHOLDER.findall(en[key])), key
        if key.endswith(".one"):  # a plural: every form in both languages
            assert {f"{key[:-4]}.{form}" for form in FORMS} <= ru.keys(), key


def test_every_key_a_page_uses_is_in_the_catalogues_and_every_key_is_used() -> None:
    catalogue = set(CATALOGUES["ru"])
    bases = {base(key) for key in catalogue}
    used = used_keys()
    assert len(used) > 150  # the scan found the pages' keys
    assert sorted(used - bases - catalogue) == []
    families = family_keys()
    for prefix, needed in families.items():
        assert sorted(needed - catalogue) == [], prefix
    built = {
        prefix for script in PAGES_JS for prefix in JS_FAMILY.findall(script.read_text("utf-8"))
    }
    assert built == set(families)  # a new family of built keys is checked above too
    unused = [
        key
        for key in catalogue
        if base(key) not in used and key not in used and not key.startswith(tuple(families))
    ]
    assert unused == []


CYRILLIC = re.compile("[\u0400-\u04ff]")


def test_every_error_code_is_explained_in_both_languages() -> None:
    for code in ErrorCode:
        assert CYRILLIC.search(CATALOGUES["ru"][f"error.{code}"]), code
        assert not CYRILLIC.search(CATALOGUES["en"][f"error.{code}"]), code


def test_markup_only_where_a_page_takes_it_and_the_same_in_both_languages() -> None:
    markup = {
        key for page in PAGES_HTML for key in HTML_MARKUP_KEYS.findall(page.read_text("utf-8"))
    }
    ru, en = CATALOGUES["ru"], CATALOGUES["en"]
    for key in ru:
        tags = [sorted(re.findall(r"<(/?\w+)", table[key])) for table in (ru, en)]
        links = [sorted(re.findall(r'href="([^"]*)"', table[key])) for table in (ru, en)]
        assert tags[0] == tags[1], key
        assert links[0] == links[1], key
        if key not in markup:
            assert tags[0] == [], f"{key}: markup in a text shown as text"


class Unkeyed(HTMLParser):
    """Text in a page's HTML that is neither a catalogue key's element nor marked as data."""

    VOID: ClassVar[set[str]] = {"meta", "link", "br", "input", "img", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # for each open element: its text is accounted for
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        names = {name for name, _ in attrs}
        keyed = bool(names & {"data-i18n", "data-i18n-html", "data-raw"})
        self.stack.append(
            keyed or tag in ("script", "style", "noscript") or bool(self.stack and self.stack[-1])
        )

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if re.search(r"[^\W\d_]", data) and not (self.stack and self.stack[-1]):
            self.found.append(data.strip())


@pytest.mark.parametrize("page", PAGES_HTML, ids=lambda page: page.name)
def test_no_page_text_outside_the_catalogues(page: Path) -> None:
    parser = Unkeyed()
    parser.feed(page.read_text("utf-8"))
    assert (parser.found, parser.stack) == ([], [])


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("ru", "ru"),
        ("RU", "ru"),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),  # a Russian browser
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,de;q=0.9", "en"),  # English; neither
        ("uk,ru;q=0.8,en;q=0.7", "ru"),  # Russian preferred over English
        ("uk,ru;q=0.8,en;q=0.9", "en"),  # q counts, not the position
        ("en;q=0,ru;q=0.1", "ru"),  # q=0: not this one
        ("ru;q=abc,en", "en"),
        ("ru;q=1.5,en;q=0.5", "en"),
        ("ru;q=0.\u0665,en;q=0.1", "en"),
        ("*", "en"),
        ("fr, ru-Latn-RU;q=0.5", "ru"),
    ],
)
def test_the_language_comes_from_accept_language(header: str | None, lang: str) -> None:
    assert languages.choose(header) == lang


async def test_pages_come_in_the_browsers_language_with_both_catalogues() -> None:
    with trio.fail_after(TIMEOUT):
        async with running_server() as server, httpx.AsyncClient(base_url=server.http) as http:
            for header, lang in (
                ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
                ("en-GB,en", "en"),
                (None, "en"),
            ):
                asked = {"Accept-Language": header} if header else {}
                for path in ("/", "/playground", "/inspector", "/tasks", "/docs", "/asyncapi"):
                    page = await http.get(path, headers=asked)
                    assert page.headers["vary"] == "Accept-Language"
                    assert page.text.startswith(f'<!doctype html>\n<html lang="{lang}">'), path
                    assert f'<meta name="qakit-lang" content="{lang}">' in page.text
                    assert '<script src="/assets/i18n.js"></script>' in page.text
                guide = await http.get("/guides/guide/en/start.md", headers=asked)
                assert '<html lang="en" data-content-lang>' in guide.text  # the text's
                assert f'<meta name="qakit-lang" content="{lang}">' in guide.text  # the header's
            script = await http.get("/assets/i18n.js")
            assert script.headers["content-type"] == "text/javascript; charset=utf-8"
            declared = script.text.split("const I18N = ", 1)[1].rstrip().removesuffix(";")
            assert json.loads(declared) == CATALOGUES
