"""The pages' two languages: their catalogues, and which one a browser gets first.

Every text of the pages lives in pages/static/i18n.ru.json and i18n.en.json (Russian is the
primary one: most trainees read it), one flat object of key -> text each; the pages carry only
the keys (stand.js says how). /assets/i18n.js carries both catalogues to the browser as one
script, so that a page is translated before it is first drawn, and the RU/EN switch needs no
reload.

Which language a page opens in: `?lang=ru|en` in its URL, else the one the trainee chose
before (the browser's localStorage), else this module's pick from the request's
Accept-Language header (the page's <meta name="qakit-lang">), else English.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

LANGUAGES = ("ru", "en")  # Russian first
DEFAULT = "en"  # for a browser that prefers neither
MAX_RANGES = 32  # language ranges read from one Accept-Language header: the rest are noise
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")  # RFC 9110 12.4.2, ASCII digits

STATIC = resources.files("qakit_trio") / "pages" / "static"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The texts of one language (`lang` one of LANGUAGES)."""
    texts = json.loads((STATIC / f"i18n.{lang}.json").read_text("utf-8"))
    assert isinstance(texts, dict)
    return texts


@cache
def script() -> bytes:
    """/assets/i18n.js: `const I18N = {"ru": {...}, "en": {...}};`."""
    both = {lang: catalogue(lang) for lang in LANGUAGES}
    text = json.dumps(both, ensure_ascii=False, indent=1, sort_keys=True)
    return (
        f'"use strict";\n// i18n.ru.json and i18n.en.json, by web/languages.py\n'
        f"const I18N = {text};\n"
    ).encode()


def choose(accept_language: str | None) -> str:
    """The language a browser prefers of LANGUAGES: the first of them in the header's order of
    preference (q, then position), DEFAULT if it names neither. A range is a tag's primary
    part (ru-RU is ru); q=0 means "not this one"; a range that does not parse is skipped."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:MAX_RANGES]):
        tag, _, params = item.partition(";")
        quality = _quality(params)
        primary = tag.strip().split("-", 1)[0].lower()
        if quality is not None and quality > 0 and primary in LANGUAGES:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


def _quality(params: str) -> float | None:
    """The q of `;q=0.8` (1 when absent); None when it is not a q-value (RFC 9110: 0 to 1,
    at most three decimals)."""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            return float(value) if _QVALUE.fullmatch(value.strip()) else None
    return 1.0
