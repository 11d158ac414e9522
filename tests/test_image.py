"""The Containerfile, built for real: `.ci/build-image` makes a Debian base with debootstrap
(no image registry is reachable here), builds the image with buildah, and runs it: /health
answers on both ports, the process runs as the non-root user, the HEALTHCHECK command passes.
Debian's debootstrap, buildah and podman are installed with apt-get if missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from .support import progress
from .support.pg import installed
from .support.timeouts import INSTALL_TIMEOUT

pytestmark = pytest.mark.system  # builds the image with debootstrap and buildah, and runs it

ROOT = Path(__file__).resolve().parents[1]
WORK = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qakit-trio" / "image"
)  # the base rootfs, kept between runs


async def test_the_image_builds_runs_as_non_root_and_is_healthy() -> None:
    for tool in ("debootstrap", "buildah", "podman"):
        installed(tool, tool)
    # measured (docs/running-the-tests.md): debootstrap 41 s, import 6 s, buildah 15-28 s, run
    if (WORK / "rootfs" / "usr" / "bin" / "python3").exists():
        step = progress.announce(
            "building the image with buildah and running it (≈ 30 s; its "
            f"Debian base is cached in {progress.home(WORK)})"
        )
    else:
        step = progress.announce(
            "building the image's Debian 12 base with debootstrap, then the image with buildah, "
            "and running it (118 Debian packages, 46 MB to download; ≈ 1.5 min)",
            WORK,
        )
    with step, trio.fail_after(INSTALL_TIMEOUT):
        done = await trio.run_process(
            ["bash", str(ROOT / ".ci" / "build-image")],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, "WORK": str(WORK)},
        )
    output = done.stdout.decode()
    assert done.returncode == 0, (output[-3000:], done.stderr.decode()[-3000:])
    assert "user=10001" in output
    assert "stopsignal=SIGTERM" in output
    assert 'health: {"status":"ok"' in output
    assert "runs as: uid=10001(qakit)" in output
    assert "HEALTHCHECK command: healthy" in output
