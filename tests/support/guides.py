"""The trainee guides (docs/guide/ru, docs/guide/en) read as the tests need them: their fenced
blocks with the words after the fence (docs/guide/README.md says what each kind means), one
guide's section, and the guides' addresses put in place of a test's own stand.

    ```bash run            run; exits 0          ```bash run kafka     the same, Kafka first
    ```json ws PATH        sent on one connection to PATH (`errors`: error frames expected)
    ```json reply          the exact text of one frame the previous `json ws` block received
    ```ini FILE            a file saved as printed     ```python pytest FILE    a test file
    ```bash venv           exercise 5's shell lines, run in a fresh virtual environment
    ```bash debian-postgres   the PostgreSQL recipe for Debian and Ubuntu
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide"
LANGUAGES = ("ru", "en")
ORDER = [
    "start",
    "websocket",
    "rest-and-orders",
    "kafka-and-logs",
    "exercises",
    "channels",
    "load-and-replay",
    "classroom",
    "glossary",
]
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# the addresses the guides give the stand (its two default ports), put in place of a test's own
STAND_ADDRESSES = ("127.0.0.1:8002", "127.0.0.1:8000", "localhost:8002", "localhost:8000")


@dataclass(frozen=True)
class Block:
    where: str  # ru/start.md:12
    kind: str  # bash, json, python, ini, text, javascript, ...
    flags: list[str]  # the words after the kind: ["run", "kafka"], ["ws", "/ws/orders"], ...
    text: str
    section: str  # the `## ` heading above it ("" before the first)

    def marked(self, kind: str, *flags: str) -> bool:
        return self.kind == kind and self.flags[: len(flags)] == list(flags)


def pages(language: str) -> list[Path]:
    return [GUIDE / language / f"{name}.md" for name in ORDER]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of one guide, in order."""
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)
        line = text.count("\n", 0, match.start()) + 1
        found.append(
            Block(
                f"{name(path)}:{line}",
                match[1],
                match[2].split(),
                match[3],
                headings[-1] if headings else "",
            )
        )
    return found


def name(path: Path) -> str:
    """ru/start.md for a guide (a page elsewhere: its file name)."""
    return str(path.relative_to(GUIDE)) if path.is_relative_to(GUIDE) else path.name


def all_blocks(language: str) -> list[Block]:
    return [block for path in pages(language) for block in blocks(path)]


def exercise_five(language: str) -> list[Block]:
    """Exercise 5's blocks, in order: the install lines, pytest.ini, the tests, the run."""
    return [
        block
        for block in blocks(GUIDE / language / "exercises.md")
        if block.section.startswith("5.")
    ]


def put_in_place(text: str, http_netloc: str) -> str:
    """`text` with the guides' stand addresses (127.0.0.1:8002 ...) replaced by a test's own."""
    for guide_address in STAND_ADDRESSES:
        text = text.replace(guide_address, http_netloc)
    return text
