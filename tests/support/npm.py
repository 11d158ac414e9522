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
    modules = NODE_DIR / "node_modules"
    missing = [
        name
        for name, version in PACKAGES.items()
        if not (modules / name / "package.json").exists()
        or f'"version": "{version}"' not in (modules / name / "package.json").read_text()
    ]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("these tests need Node.js and npm (apt-get install nodejs npm)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        wanted = [f"{name}@{PACKAGES[name]}" for name in missing]
        # measured: 27 MB from the npm registry, 73 MB once installed (both packages)
        with progress.announce(
            f"installing the npm packages {' '.join(wanted)} (≈ 27 MB to "
            "download, 73 MB installed; once)",
            NODE_DIR,
        ):
            subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                    "--prefix",
                    str(NODE_DIR),
                    *wanted,
                ],
                check=True,
                timeout=600,
            )
    return modules


def asyncapi_schema(version: str = "3.0.0") -> Path:
    return node_modules() / "@asyncapi" / "specs" / "schemas" / f"{version}.json"


def newman() -> Path:
    return node_modules() / ".bin" / "newman"
