"""Busy or hung: how much CPU a service's processes used while its checks went unanswered.

A health check that times out cannot tell a hung service from a slow one. Their processes
can: a frozen (SIGSTOPped) or deadlocked service uses no CPU, one that is slow under load
keeps its workers busy (Keystone hashing passwords burns a core per request in flight).
The failure watcher asks this before it reports a hang, and the depth-10 monitor before
it fails a service whose token or image request timed out while its /healthcheck answers:
restarting an overloaded service throws away the requests in flight and does not make it
faster. A service that spins without answering also looks busy: the recurring monitor,
which times out its /healthcheck after http_timeout, still catches that.
"""

import time
from typing import Callable, Dict, Sequence

from ..host import process

# Below this share of one core the processes are idle: a frozen or deadlocked service uses
# next to nothing (a uwsgi master's once-a-second housekeeping), one request being served
# far more; kept low because a busy service on an overloaded machine gets only its share.
BUSY_SHARE = 0.02
# CPU time is counted in clock ticks (10 ms): a shorter window says nothing
MIN_WINDOW = 0.5


def verdict(cpu: float, elapsed: float, share: float = BUSY_SHARE) -> str:
    """What made the processes busy ("" when they were idle): ``cpu`` seconds used in ``elapsed``."""
    if elapsed < MIN_WINDOW or cpu < share * elapsed:
        return ""
    return f"its processes used {cpu:.1f}s of CPU in {elapsed:.1f}s"


class Meter:
    """The CPU a process group uses from ``reset`` on.

    ``pids``: the group as last seen (read at every reset, cheaply: no /proc scan, unless
    one of them is gone); ``members``: a fresh scan of the group, made when ``busy`` is
    asked (a worker started since the reset counts from its start: that is activity too)."""

    def __init__(self, pids: Sequence[int], members: Callable[[], Sequence[int]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pids, self.members, self.clock = list(pids), members, clock
        self.since = 0.0
        self.start: Dict[int, float] = {}
        self.reset()

    def reset(self) -> None:
        self.since = self.clock()
        self.start = self._read()
        if len(self.start) < len(self.pids):
            # a worker was replaced (uwsgi respawns them): scan the group again, or the new
            # worker's whole lifetime of CPU would count as work done since this reset
            self.pids = list(self.members())
            self.start = self._read()

    def _read(self) -> Dict[int, float]:
        return {pid: cpu for pid in self.pids if (cpu := process.cpu_seconds(pid)) is not None}

    def busy(self) -> str:
        """"" if the group was idle since the reset, else how busy it was."""
        self.pids = list(self.members())
        used = sum(max(0.0, cpu - self.start.get(pid, 0.0)) for pid, cpu in self._read().items())
        return verdict(used, self.clock() - self.since)
