"""The guides: README.md and docs/ rendered for the stand's /guides/NAME pages, so that every
link on them works inside the stand as it does on GitHub.

A guide's file is qakit_trio/pages/guides/NAME, a link to README.md (NAME `README.md`) or to
docs/NAME (copied into the wheel). Its markdown is rendered with:

- the anchors GitHub gives headings (`slug`), so `page.md#some-heading` works in both places;
- bare http(s) URLs made links, as GitHub does (tables included);
- every relative link resolved against the file's place in the repository: a served guide
  becomes /guides/NAME (anchor kept), the Postman files /postman/, and a link to anything the
  stand does not serve (code, examples, the lab's answer key) is no link but the repository
  path in <code>: there is no public URL of the repository to point at;
- a link to the stand's own default address (http://127.0.0.1:8002/x, localhost, :8000) made
  relative (/x), so it opens on whatever address this stand was reached at.
"""

from __future__ import annotations

import html
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

# served name -> title. Every docs/**/*.md is served but the lab's answer key (tests/test_docs.py)
GUIDES = {
    "guide/README.md": "Trainee guides / Руководства для слушателей",
    **{
        f"guide/{lang}/{name}.md": f"{title} ({lang})"
        for lang in ("ru", "en")
        for name, title in (
            ("start", "Start"),
            ("websocket", "WebSocket"),
            ("rest-and-orders", "REST and orders"),
            ("kafka-and-logs", "Kafka and logs"),
            ("exercises", "Exercises"),
            ("channels", "Channels that survive a reconnect"),
            ("load-and-replay", "Recording, replay and load testing"),
            ("classroom", "The class"),
            ("glossary", "Glossary"),
        )
    },
    "README.md": "The stand: install, run, links",
    "running-the-stand.md": "Running the stand: ports, pages, image",
    "protocol.md": "The WebSocket protocols: /ws, /ws/orders, /ws/echo, profiles",
    "orders-and-rest.md": "Orders and REST",
    "lab.md": "The training lab: bugs and faults",
    "settings.md": "Settings",
    "observability.md": "Kafka, logs and metrics",
    "full-stand.md": "The full stand: docker compose",
    "runtime.md": "How it runs: the task tree, layout",
    "differences.md": "Differences from the original QA Kit",
    "test-suite.md": "What the test suite checks",
    "running-the-tests.md": "Running the tests: how long, what they download",
    "testing.md": "Testing the stand with pytest-trio",
    "replay.md": "Replaying a recorded session",
    "cluster.md": "Several instances, one stand (QAKIT_CLUSTER=kafka)",
    "cluster-balancer.md": "Two instances behind HAProxy",
    "concurrency.md": "How it runs: the task tree, channels, shutdown",
    "hardening.md": "What the stand does with strange input",
    "send-path.md": "The send path",
    "upstream.md": "Upstream: hypercorn and trio-websocket",
    "kafka-client.md": "The Kafka client",
    "benchmarks.md": "Benchmarks",
}
TEACHERS_ONLY = frozenset({"docs/lab-answer-key.md"})  # in the repository, never served
STAND_HOSTS = frozenset({"127.0.0.1:8002", "127.0.0.1:8000", "localhost:8002", "localhost:8000"})
_URL = re.compile(r"https?://[^\s<>`]*[^\s<>`.,:;!?'\")\]*_~]")
_NOTES = {
    "en": ("in the repository", "for teachers, in the repository"),
    "ru": ("в репозитории", "для преподавателей, в репозитории"),
}


def repo_path(name: str) -> str:
    """Where the served guide `name` is in the repository."""
    return name if name == "README.md" else f"docs/{name}"


SERVED = {repo_path(name): name for name in GUIDES}


def slug(text: str) -> str:
    """GitHub's anchor of a heading whose text is `text`: lower case, punctuation dropped
    (letters, digits, `_` and `-` kept, any script), each space a `-`."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def heading_text(inline: Token) -> str:
    """The text of a heading as GitHub slugs it: code spans' text included, markup not."""
    return "".join(
        child.content for child in inline.children or () if child.type in ("text", "code_inline")
    )


def resolve(page: str, href: str) -> str | None:
    """Where a link on the repository file `page` leads inside the stand: a path on the
    stand, `href` unchanged (external, or only an anchor), or None: the repository path
    `resolved(page, href)` that the stand does not serve (to be shown as code)."""
    parts = urlsplit(href)
    if parts.scheme or href.startswith("/"):
        if parts.scheme in ("http", "https") and parts.netloc in STAND_HOSTS:
            return href[href.index(parts.netloc) + len(parts.netloc) :] or "/"
        return href
    if not parts.path:
        return href  # "#anchor" on the same page
    target = resolved(page, href)
    anchor = f"#{parts.fragment}" if parts.fragment else ""
    for candidate in (target, posixpath.join(target, "README.md")):
        if candidate in SERVED:
            return f"/guides/{SERVED[candidate]}{anchor}"
    if target == "postman":
        return "/postman/"
    if posixpath.dirname(target) == "postman" and target.endswith(".json"):
        return f"/{target}"
    return None


def resolved(page: str, href: str) -> str:
    """The repository path a relative link on `page` names (without its anchor)."""
    path = urlsplit(href).path
    return posixpath.normpath(posixpath.join(posixpath.dirname(page), path))


def _linkify(tokens: list[Token]) -> list[Token]:
    """Bare URLs in text become links, as on GitHub (not inside links and code)."""
    out: list[Token] = []
    depth = 0
    for token in tokens:
        depth += (token.type == "link_open") - (token.type == "link_close")
        if token.type != "text" or depth or not _URL.search(token.content):
            out.append(token)
            continue
        start = 0
        for match in _URL.finditer(token.content):
            out.append(_text(token.content[start : match.start()]))
            out += [
                Token("link_open", "a", 1, attrs={"href": match[0]}),
                _text(match[0]),
                Token("link_close", "a", -1),
            ]
            start = match.end()
        out.append(_text(token.content[start:]))
    return [token for token in out if token.type != "text" or token.content]


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)


def _relink(tokens: list[Token], page: str, lang: str) -> list[Token]:
    """Every link resolved for the stand; one it does not serve becomes its repository path."""
    out: list[Token] = []
    opened: list[tuple[str, int] | None] = []  # per open link: (its repository path, where)
    for token in tokens:
        if token.type == "link_open":
            href = str(token.attrs.get("href", ""))
            target = resolve(page, href)
            if target is not None:
                token.attrs["href"] = target
                opened.append(None)
                out.append(token)
            else:
                opened.append((resolved(page, href), len(out)))
                out.append(Token("html_inline", "", 0, content=""))
        elif token.type == "link_close" and opened and (code := opened.pop()) is not None:
            path, where = code
            inner = "".join(t.content for t in out[where + 1 :])
            note = _NOTES[lang][path in TEACHERS_ONLY]
            if inner.rstrip("/") != path.rstrip("/"):  # the text says what: add where
                note = f"{note}: <code>{html.escape(path)}</code>"
            elif not all(t.type == "code_inline" for t in out[where + 1 :]):
                out[where].content = "<code>"  # the text is the path: show it as code
                out.append(Token("html_inline", "", 0, content="</code>"))
            if inner.rstrip("/") != path.rstrip("/") or path in TEACHERS_ONLY:
                out.append(Token("html_inline", "", 0, content=f" ({note})"))
        else:
            out.append(token)
    return out


def _stand_rule(state: StateCore) -> None:
    """The core rule: heading anchors, bare URLs linked, links resolved for the stand."""
    page, lang = state.env["page"], state.env["lang"]
    seen: dict[str, int] = {}
    for index, token in enumerate(state.tokens):
        if token.type == "heading_open":
            anchor = slug(heading_text(state.tokens[index + 1]))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            token.attrs["id"] = f"{anchor}-{count}" if count else anchor  # as GitHub
        elif token.type == "inline" and token.children is not None:
            token.children = _relink(_linkify(token.children), page, lang)


def markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark").enable("table")
    md.core.ruler.push("stand", _stand_rule)
    return md


_MD = markdown()


def render_guide(name: str, text: str, lang: str) -> str:
    """The served guide `name` (its markdown `text`) as HTML for a page in `lang`."""
    env: dict[str, Any] = {"page": repo_path(name), "lang": lang}
    return str(_MD.render(text, env))
