"""A server's CPU time and its listening sockets, read from /proc (psutil is not a dependency).

`qakit-trio --workers N` serves from N child processes while the parent serves nothing, so a
server's CPU time is the sum over its process tree: the parent and every descendant alive when
it is read. (A child that exited is not counted: a worker that dies in the middle of a
measurement makes that round's figure low; the bench's log of that server shows the restart.)

Children are found through each process's parent pid in /proc/<pid>/stat:
/proc/<pid>/task/<tid>/children exists only in kernels built with CONFIG_PROC_CHILDREN, which
this machine's is not.
"""

from __future__ import annotations

import os
from pathlib import Path

TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp for a listening socket


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # the name may hold spaces and brackets


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parent_of[int(entry.name)] = int(fields[1])  # field 4, ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parent_of.items() if ppid == parent]
        found += children
        frontier += children
    return found


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and of every live descendant."""
    return sum(process_cpu_s(one) for one in [pid, *descendants(pid)])


def listening_sockets(port: int) -> int:
    """How many TCP sockets of 127.0.0.1/0.0.0.0 listen on `port` (with SO_REUSEPORT, one
    per worker: a socket that is bound but not listening, the --workers parent's, is not
    counted)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
            count += 1
    return count
