"""npm packages the suite needs (the AsyncAPI spec's JSON Schema, newman), installed once into
~/.cache/qakit-trio/node with Node's npm (Node 20 is on the machine, as Java is for Kafka)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import progress

NODE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qakit-trio" / "node"
PACKAGES = {"@asyncapi/specs": "6.11.1", "newman": "6.2.2"}  # pinned, like the Python ones


def node_modules() -> Path:
    """The cache's node_modules, with every package of PACKAGES installed."""
    # measured: 27 MB from the npm registry, 73 MB once installed (both packages)
    return install(NODE_DIR, PACKAGES, "≈ 27 MB to download, 73 MB installed; once")


def install(
    directory: Path, packages: dict[str, str], size: str, env: dict[str, str] | None = None
) -> Path:
    """`directory`'s node_modules, with `packages` (name: version) installed; `size`: what the
    announcement says it costs, as measured; `env`: more environment for npm."""
    modules = directory / "node_modules"
    missing = [
        name
        for name, version in packages.items()
        if not (modules / name / "package.json").exists()
        or f'"version": "{version}"' not in (modules / name / "package.json").read_text()
    ]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("these tests need Node.js and npm (apt-get install nodejs npm)")
        directory.mkdir(parents=True, exist_ok=True)
        wanted = [f"{name}@{packages[name]}" for name in missing]
        with progress.announce(
            f"installing the npm packages {' '.join(wanted)} ({size})", directory
        ):
            subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                    "--prefix",
                    str(directory),
                    *wanted,
                ],
                check=True,
                timeout=600,
                env={**os.environ, **(env or {})},
            )
    return modules


def asyncapi_schema(version: str = "3.0.0") -> Path:
    return node_modules() / "@asyncapi" / "specs" / "schemas" / f"{version}.json"


def newman() -> Path:
    return node_modules() / ".bin" / "newman"


# Artillery (loadtest/artillery/, tests/test_loadtest.py) in a folder of its own: the other
# tests need not install it. Measured: 132 MB from the npm registry, 460 MB installed, 66 s.
# Its Playwright engine's install would download a Chromium build, which cannot be had here and
# which the WebSocket engine does not use: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD.
ARTILLERY_DIR = NODE_DIR.parent / "artillery"
ARTILLERY = {"artillery": "2.0.34"}


def artillery() -> Path:
    size = "≈ 130 MB to download, 460 MB installed, ≈ 1 min; once"
    skip = {"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    return install(ARTILLERY_DIR, ARTILLERY, size, skip) / ".bin" / "artillery"
