"""The suite says what it is doing while it is slow (tests/support/progress.py): the line a slow
step announces reaches the terminal although pytest captures the test's output (no -s), in a
run of pytest of its own whose output is a pipe, as in a CI log; the run ends with a one-line
summary of what was installed or downloaded, and where. And every module of the suite that runs
an installer, a download or a build announces it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from .support import progress
from .support.timeouts import SERVICE_TIMEOUT, TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
# A test in a run of its own: its conftest takes the hooks of the suite's conftest as they are.
CONFTEST = "from tests.conftest import pytest_configure, pytest_terminal_summary  # noqa: F401\n"
SLOW_TEST = """
import threading

from tests.support import progress


def test_slow_steps(tmp_path):
    print("the test's own output, which pytest captures")
    with progress.announce("downloading the demo jars (3 files, 1 MB)", tmp_path / "demo"):
        pass
    worker = threading.Thread(target=progress.announce,
                              args=("starting a demo broker (≈ 1 s; port 1)",))
    worker.start()  # as trio.to_thread does
    worker.join()
    progress.announce("starting a demo broker (≈ 1 s; port 2)")
"""


def run_pytest(folder: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        capture_output=True,
        text=True,
        timeout=SERVICE_TIMEOUT,
        cwd=folder,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_slow_step_shows_under_capture_and_in_the_summary(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_slow.py").write_text(SLOW_TEST)
    lines = run_pytest(tmp_path).splitlines()
    assert "the test's own output, which pytest captures" not in "\n".join(lines)  # captured
    announced = [line for line in lines if line.endswith("…")]
    assert announced == [
        "qakit-trio tests: downloading the demo jars (3 files, 1 MB)…",
        "qakit-trio tests: starting a demo broker (≈ 1 s; port 1)…",
        "qakit-trio tests: starting a demo broker (≈ 1 s; port 2)…",
    ]
    demo = tmp_path / "demo"
    assert any(
        line.startswith("qakit-trio tests: … done in 0 s: ")
        and line.endswith("/test_slow_steps0/demo")
        for line in lines
    ), lines
    [summary] = [line for line in lines if "installed or downloaded:" in line]
    assert summary.startswith(
        "qakit-trio tests: installed or downloaded: downloading the demo jars (0 s) → "
    )
    assert summary.endswith("; slow steps: starting a demo broker (2 times)")
    assert lines.index(summary) > lines.index(announced[-1])  # at the end, with pytest's own
    assert not demo.exists()  # the test only said so


def test_outside_pytest_it_says_so_on_stderr() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.support import progress; progress.announce('starting a broker (≈ 4 s)')",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        check=True,
    )
    assert done.stderr == "qakit-trio tests: starting a broker (≈ 4 s)…\n"
    assert done.stdout == ""


def test_the_summary_names_what_was_installed_where_and_counts_the_rest() -> None:
    saved = progress.STEPS[:]
    try:
        progress.STEPS[:] = [
            progress.Step(
                "installing Debian's kcat with apt-get (6 packages, 1 MB to download)",
                "the system (apt-get)",
                3.2,
            ),
            progress.Step("starting a PostgreSQL server (< 1 s; port 5)"),
            progress.Step("starting a PostgreSQL server (< 1 s; port 6)"),
        ]
        assert progress.summary() == (
            "qakit-trio tests: installed or downloaded: installing Debian's kcat with apt-get "
            "(3 s) → the system (apt-get); slow steps: starting a PostgreSQL server (2 times)"
        )
        progress.STEPS[:] = [progress.Step("starting an OpenSearch 2.19.6 node (≈ 3 s)")]
        assert progress.summary() == (
            "qakit-trio tests: nothing installed or downloaded (every cache was warm); "
            "slow steps: starting an OpenSearch 2.19.6 node"
        )
    finally:
        progress.STEPS[:] = saved
    assert progress.home(Path.home() / ".cache" / "qakit-trio") == "~/.cache/qakit-trio"
    assert progress.home("/opt/x") == "/opt/x"


# What a module runs that installs, downloads or builds (a command's name as a string literal)
INSTALLERS = {"apt-get", "mvn", "npm", "pip", "javac", "debootstrap", "buildah"}
SCRIPTS = ("build-image", "autobahn.py", "install_wstest.sh")


def announces(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "announce"
        for node in ast.walk(tree)
    )


def test_every_module_that_installs_or_builds_announces_it() -> None:
    found = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text())
        literals = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        runs = sorted(literals & INSTALLERS) + sorted(
            script for script in SCRIPTS if any(text.endswith(script) for text in literals)
        )
        if runs and path.name != "test_progress.py":
            found[str(path.relative_to(ROOT))] = (runs, announces(tree))
    assert {
        "tests/support/pg.py",
        "tests/support/jvm.py",
        "tests/support/npm.py",
        "tests/support/opensearch_node.py",
        "tests/test_image.py",
        "tests/test_autobahn.py",
    } <= set(found)
    assert [name for name, (_, said) in found.items() if not said] == []
