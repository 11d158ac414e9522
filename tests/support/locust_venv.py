"""Locust (PyPI) for the load-testing starter pack (loadtest/locust/, tests/test_loadtest.py),
installed once into a virtual environment of its own, ~/.cache/qakit-trio/locust-env: Locust
pins Flask, Werkzeug and gevent, which the stand's own environment must not get."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import progress

VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qakit-trio" / "locust-env"
PACKAGES = {"locust": "2.47.0", "websocket-client": "1.9.2"}  # pinned, like the Python ones
MARK = VENV / "installed.txt"  # written last: the pins a complete install has


def locust() -> Path:
    """The venv's `locust` command, with PACKAGES installed."""
    wanted = [f"{name}=={version}" for name, version in PACKAGES.items()]
    if not MARK.exists() or MARK.read_text().split() != wanted:
        # measured: 38 wheels, 11 MB from PyPI, 85 MB installed, 17 s
        with progress.announce(
            f"installing Locust into a venv with pip: {' '.join(wanted)} (≈ 11 MB to "
            "download, 85 MB installed, ≈ 17 s; once)",
            VENV,
        ):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run(
                [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *wanted],
                check=True,
                timeout=600,
            )
            MARK.write_text("\n".join(wanted) + "\n")
    return VENV / "bin" / "locust"
