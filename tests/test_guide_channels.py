"""The channels guide's exercise proves what it says (docs/guide/*/channels.md): its answer, the
test file `test_reconnect.py` (a `python pytest` block, the same code in both languages),
passes against the default stand and fails against a stand with each lab bug that loses or
repeats a message across a reconnect, each caught by the test meant for it. A test that
passes with the bug on proves nothing.

tests/test_guide_blocks.py runs the answer as printed, with pytest, next to the guides' other
blocks (a system test). Here it runs in-process, on this test's virtual clock, once per
channel bug: the answer reads QAKIT_BUGS from the environment when it is imported, as a
trainee runs it (`QAKIT_BUGS=recovery_skips_one pytest test_reconnect.py`), so each run
imports it afresh with the variable set."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from qakit_trio.lab.bugs import CHANNEL_BUGS

from .support.guides import GUIDE, LANGUAGES, Block, blocks

ANSWER = "test_reconnect.py"
DROP = "test_a_dropped_connection_misses_nothing_and_gets_nothing_twice"
RESTART = "test_after_a_restart_of_the_history_the_reader_reloads_it"
# every channel bug, and which of the answer's tests fails with it: the reconnect exercise is
# not meant to catch the presence and unsubscribe bugs (a test of its own for those)
FAILS_WITH = {
    "recovery_skips_one": {DROP},
    "recovery_duplicates_last": {DROP},
    "epoch_never_changes": {RESTART},
    "offset_gap": {DROP, RESTART},  # a publication skips an offset: the offsets seen are wrong
    "presence_keeps_ghosts": set(),
    "unsubscribe_ignored": set(),
}
BUG_RUN = re.compile(rf"^QAKIT_BUGS=(\w+) pytest {re.escape(ANSWER)}$", re.MULTILINE)


def answer(language: str) -> Block:
    found = [
        block
        for block in blocks(GUIDE / language / "channels.md")
        if block.marked("python", "pytest", ANSWER)
    ]
    assert len(found) == 1, [block.where for block in found]
    return found[0]


def named_bugs(language: str) -> list[str]:
    """The bugs the guide says the answer fails with (its `QAKIT_BUGS=NAME pytest` lines)."""
    return BUG_RUN.findall((GUIDE / language / "channels.md").read_text())


def load(text: str, folder: Path) -> ModuleType:
    """The answer imported from its file, as pytest imports a test module (afresh each time)."""
    path = folder / ANSWER
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def an_assertion(error: BaseException) -> bool:
    """Whether a test failed by an assertion (alone, or every one in an exception group), not
    by a timeout or an error of the stand."""
    if isinstance(error, BaseExceptionGroup):
        return all(an_assertion(inner) for inner in error.exceptions)
    return isinstance(error, AssertionError)


def test_the_answer_is_one_file_in_both_languages_in_the_exercise() -> None:
    ru, en = (answer(language) for language in LANGUAGES)
    assert ru.text == en.text
    assert ru.section.startswith("Упражнение")
    assert en.section.startswith("Exercise")
    tests = re.findall(r"^async def (test_\w+)\(autojump_clock\):$", ru.text, re.MULTILINE)
    assert tests == [DROP, RESTART]
    assert "sleep" not in ru.text
    assert ru.text.count("with trio.fail_after(") == len(tests)  # one outer timeout each


def test_the_guide_names_the_bugs_the_answer_fails_with() -> None:
    assert set(FAILS_WITH) == CHANNEL_BUGS  # a new channel bug: say whether the answer finds it
    for language in LANGUAGES:
        named = named_bugs(language)
        assert named == ["recovery_skips_one", "recovery_duplicates_last", "epoch_never_changes"]
        assert all(FAILS_WITH[bug] for bug in named)


@pytest.mark.parametrize("bugs", ["", *FAILS_WITH], ids=lambda bugs: bugs or "no-bugs")
async def test_the_answer_passes_on_the_default_stand_and_fails_with_each_bug(
    bugs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    monkeypatch.setenv("QAKIT_BUGS", bugs)
    module = load(answer("ru").text, tmp_path)
    assert module.SETTINGS["QAKIT_BUGS"] == bugs
    failed = set()
    for name in (DROP, RESTART):
        try:
            with trio.fail_after(60):  # the answer's own timeouts are 30 s each
                await getattr(module, name)(autojump_clock)
        except Exception as error:
            if not an_assertion(error):
                raise
            failed.add(name)
    assert failed == FAILS_WITH.get(bugs, set())
