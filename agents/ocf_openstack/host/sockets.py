"""Who listens on a TCP port, from /proc (of the caller's network namespace).

Used by start so that it never mistakes someone else's listener (a service
started outside the cluster, another resource) for the daemon it launched.
"""

import os
from typing import Iterable, List, Set

TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
LISTEN = "0A"


def listening_inodes(port: int) -> Set[int]:
    """Socket inodes in LISTEN state on ``port`` (any address)."""
    inodes = set()
    for table in TCP_TABLES:
        try:
            with open(table, encoding="ascii") as f:
                next(f)  # header
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], int(fields[9])
                    if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            continue  # no IPv6 in this namespace
    return inodes


def socket_inodes(pid: int) -> Set[int]:
    """Inodes of the sockets ``pid`` holds open."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def owners(inodes: Set[int], pids: Iterable[int]) -> List[int]:
    """Which of ``pids`` hold one of ``inodes``."""
    return [pid for pid in pids if socket_inodes(pid) & inodes]


def all_pids() -> List[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
