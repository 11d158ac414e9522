"""Which addresses the stand serves on, and how several processes share a port.

`usable_binds` checks the addresses before anything starts: given ones (--bind, QAKIT_BIND) must
be free, a busy default one is skipped with a WARNING. With SO_REUSEPORT (QAKIT_REUSE_PORT=1,
which --workers sets for its workers, workers.py) processes of the same user bind one port
together and the kernel spreads new connections over those that listen: `shared_binds` makes
such sockets for hypercorn (which sets SO_REUSEPORT only for its own multi-process runner), and
the --workers parent holds each port with `shared_socket` (without SO_REUSEADDR, never
listening), which keeps every program that binds without SO_REUSEPORT off it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Sequence

log = logging.getLogger(__name__)


class BindError(Exception):
    """No address to serve on: the message names the port and what to do."""


def split_bind(bind: str) -> tuple[socket.AddressFamily, str, int]:
    """HOST:PORT (IPv6 hosts in brackets) as (family, host, port)."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), host, int(port)


def shared_socket(bind: str, *, reuse_addr: bool = True) -> socket.socket:
    """A TCP socket bound to HOST:PORT with SO_REUSEPORT (not listening yet): every process of
    the same user that binds the port this way shares it, and the kernel spreads new
    connections over those that listen. A program that binds without SO_REUSEPORT is refused.
    `reuse_addr=False`: the --workers parent's hold on the port (workers.py)."""
    family, host, port = split_bind(bind)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def shared_binds(binds: Sequence[str]) -> list[str]:
    """QAKIT_REUSE_PORT=1: hypercorn binds without SO_REUSEPORT (it sets it only for its own
    multi-process runner), so the sockets are made here, bound with it, and handed to hypercorn
    as `fd://N` binds; from then on the descriptors are hypercorn's (it listens and closes)."""
    fds: list[int] = []
    try:
        for bind in binds:
            with shared_socket(bind) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as hypercorn does
                fds.append(sock.detach())
    except OSError as error:
        for fd in fds:
            os.close(fd)
        raise BindError(f"cannot listen on {bind}: {error.strerror}") from None
    return [f"fd://{fd}" for fd in fds]


def _in_use(bind: str, reuse_port: bool) -> bool:
    """Whether HOST:PORT is taken now (bound the way hypercorn binds, then let go). With
    `reuse_port` the probe sets SO_REUSEPORT too: a port that sibling workers (or the --workers
    parent) hold with it is free for us, one held by any other program is not."""
    family, host, port = split_bind(bind)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise BindError(f"cannot listen on {bind}: {error.strerror}") from None
    return False


def usable_binds(binds: Sequence[str], *, given: bool, reuse_port: bool = False) -> list[str]:
    """The addresses to serve on. Given ones (--bind, QAKIT_BIND) must all be free; of the
    default pair (8002 and 8000, both guides' URLs), a busy one is skipped with a WARNING.
    `reuse_port` (QAKIT_REUSE_PORT, --workers): a port shared with SO_REUSEPORT counts as free."""
    busy = [bind for bind in binds if _in_use(bind, reuse_port)]
    if given and busy:
        raise BindError(
            f"{', '.join(busy)}: address already in use; stop what listens there "
            "or choose another --bind / QAKIT_BIND"
        )
    free = [bind for bind in binds if bind not in busy]
    if not free:
        raise BindError(
            f"{', '.join(busy)}: address already in use (is another stand "
            "running?); stop it, or choose addresses with --bind / QAKIT_BIND"
        )
    for bind in busy:
        log.warning(
            f"{bind} is already in use: serving on {', '.join(free)} only; every route "
            "is served there too (stop what listens on the port, or choose addresses "
            "with --bind / QAKIT_BIND)",
            extra={"fields": {"bind": bind}},
        )
    return free
