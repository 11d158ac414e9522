"""Exercise 5 of the trainee guides (pytest) as a trainee runs it: in a temp dir, one shell
session runs the exercise's `bash venv` lines as printed (a folder, a fresh `python3 -m venv`,
`pip install -e "$STAND_REPO"` of this checkout with pytest, pytest-trio and websockets), saves
its `pytest.ini` and test files as printed between them, and runs `pytest`: it must pass. Only
the stand's address in the websockets test is put in place (the guide says 127.0.0.1:8002; the
test runs a stand of its own). Then the same venv runs two broken variants, which must fail:
the tests without `trio_mode = true` (issue 23's error), and a test with a wrong assertion.

Heavy: a venv and pip installs (about 10 s with pip's cache, a minute without it)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio

from .support import progress
from .support.guides import GUIDE, LANGUAGES, ROOT, Block, exercise_five, put_in_place
from .support.helpers import running_server
from .support.timeouts import INSTALL_TIMEOUT

pytestmark = pytest.mark.system  # a fresh venv, pip install

FOLDER = "stand-tests"  # the folder exercise 5 makes (its first line)
PINNED = ("pytest", "pytest-trio", "websockets")  # the test tools, pinned as pyproject's dev


def script(blocks: list[Block], http_netloc: str) -> str:
    """One shell session: the bash lines as printed, each file saved where the guide shows it."""
    parts = []
    for block in blocks:
        if block.marked("bash", "venv"):
            parts.append(block.text)
        elif block.kind == "ini" or block.marked("python", "pytest"):
            name, text = block.flags[-1], put_in_place(block.text, http_netloc)
            assert "GUIDE_EOF" not in text
            parts.append(f"cat > {name} <<'GUIDE_EOF'\n{text}GUIDE_EOF\n")
        else:
            raise AssertionError(f"{block.where}: a block exercise 5 does not know how to run")
    return "".join(parts)


def trainee_env() -> dict[str, str]:
    """A trainee's shell: no virtual environment, none of pytest's or the stand's variables;
    STAND_REPO is this checkout, as the guide asks."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "QAKIT_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, "STAND_REPO": str(ROOT)}


def test_exercise_five_is_the_same_code_in_both_languages() -> None:
    ru, en = exercise_five("ru"), exercise_five("en")
    assert [(b.kind, b.flags, b.text) for b in ru] == [(b.kind, b.flags, b.text) for b in en]
    assert [b.kind for b in ru] == ["bash", "ini", "python", "python", "bash"]


def test_the_install_line_pins_pyprojects_dev_tools_and_docs_testing_has_it() -> None:
    install = [
        line for line in exercise_five("en")[0].text.splitlines() if line.startswith("pip install")
    ]
    assert len(install) == 1, install
    assert '-e "$STAND_REPO"' in install[0]  # the checkout: the package is not on PyPI
    pins = dict(re.findall(r"([\w-]+)==([\w.]+)", install[0]))
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "dev"
    ]
    wanted = dict(pin.split("==") for pin in dev if pin.split("==")[0] in PINNED)
    assert pins == wanted
    testing = (ROOT / "docs" / "testing.md").read_text()
    assert install[0] in testing.splitlines()  # docs/testing.md installs the same way
    assert "pip install qakit-trio" not in testing  # not on PyPI
    assert "trio_mode = true" in exercise_five("en")[1].text


def error_quoted(language: str) -> str:
    """The error exercise 5 says a missing `trio_mode = true` gives."""
    found = re.findall(
        r"`(requested an async fixture [^`]+)`", (GUIDE / language / "exercises.md").read_text()
    )
    assert len(found) == 1, found
    return str(found[0])


async def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    done = await trio.run_process(
        command, cwd=cwd, env=env, capture_stdout=True, stderr=subprocess.STDOUT, check=False
    )
    return done.returncode, done.stdout.decode()


async def test_exercise_five_passes_as_written_in_a_fresh_venv(tmp_path: Path) -> None:
    env = trainee_env()
    scripts = {language: exercise_five(language) for language in LANGUAGES}
    with trio.fail_after(INSTALL_TIMEOUT):
        async with running_server() as server:
            netloc = urlsplit(server.http).netloc
            # the same code in both languages (the test above): one venv serves both
            text = script(scripts["ru"], netloc)
            assert text == script(scripts["en"], netloc)
            with progress.announce(
                "exercise 5 as printed: a fresh venv, pip install of the "
                "checkout, pytest, pytest-trio and websockets (≈ 15 s with "
                "pip's cache, ≈ 1 min without)",
                tmp_path,
            ):
                code, output = await run(["bash", "-e", "-c", text], tmp_path, env)
            assert code == 0, output[-4000:]
            assert re.search(r"\b2 passed\b", output), output[-2000:]
            folder = tmp_path / FOLDER
            venv_pytest = str(folder / ".venv" / "bin" / "pytest")
            code, where = await run(
                [
                    str(folder / ".venv" / "bin" / "python"),
                    "-c",
                    "import qakit_trio; print(qakit_trio.__file__)",
                ],
                tmp_path,
                env,
            )
            assert (code, where.strip()) == (0, str(ROOT / "qakit_trio" / "__init__.py"))

            no_trio_mode = tmp_path / "no-trio-mode"
            no_trio_mode.mkdir()
            (no_trio_mode / "pytest.ini").write_text("[pytest]\n")
            (no_trio_mode / "test_kit.py").write_text((folder / "test_kit.py").read_text())
            code, output = await run([venv_pytest, "-p", "no:cacheprovider"], no_trio_mode, env)
            assert code != 0, output
            for language in LANGUAGES:  # the error the guide quotes is the one pytest gives
                assert error_quoted(language) in output, output[-2000:]

            wrong = tmp_path / "wrong-assertion"
            wrong.mkdir()
            (wrong / "pytest.ini").write_text((folder / "pytest.ini").read_text())
            kit_test = (folder / "test_kit.py").read_text()
            assert kit_test.count('== "hi"') == 1
            (wrong / "test_kit.py").write_text(kit_test.replace('== "hi"', '== "bye"'))
            code, output = await run([venv_pytest, "-p", "no:cacheprovider"], wrong, env)
            assert code != 0, output
            assert re.search(r"\b1 failed\b", output), output[-2000:]
