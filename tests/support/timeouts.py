"""The suite's one TIMEOUT: how long a test may run before `trio.fail_after` fails it.

It guards against a hang (a test that waits for something that never comes fails with a
traceback instead of stopping the run); it says nothing about how fast the stand must be, so it
is generous enough for a loaded two-core machine. A test that legitimately takes longer uses one
of the named multiples below, never a literal of its own. A bound that a test asserts ("the
stand exits within its shutdown timeout and a margin") is not a TIMEOUT: it is written where it
is asserted, with its reason. On `autojump_clock` these are virtual seconds.
"""

from __future__ import annotations

TIMEOUT = 30.0  # a test against in-process servers, the in-memory kit, or a stand's process

# A test that starts or waits on a real service: a Kafka broker or OpenSearch (a JVM), Prometheus,
# PostgreSQL stopped and started again, newman, a stand in a network namespace.
SERVICE_TIMEOUT = 2 * TIMEOUT
# A load, flood or soak run: thousands of frames, a thousand clients, a broker's outage, the
# benchmark harness, mypy over the whole tree.
LOAD_TIMEOUT = 10 * TIMEOUT
# A test on `autojump_clock` whose scenario spans virtual minutes (pings every 20 s, replies
# delayed 60 s): that time costs nothing, and the guard need only be past the scenario's end.
VIRTUAL_TIMEOUT = 10 * TIMEOUT
# A first run's installs and builds: the image (debootstrap, buildah), Autobahn's wstest, a venv.
INSTALL_TIMEOUT = 40 * TIMEOUT
