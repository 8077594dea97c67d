"""What every kind of drill uses: the nodes, the services' processes on a node (a restart is
a new main process), the events of the nodes' pacemaker.log, waiting for a condition with
its recovery time, and the lab made ready before a drill and settled after it."""

import re
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .. import fencing
from ..cib import failures, online_nodes
from ..cluster import ClusterError
from ..lab import PROC_PATTERN, Lab
from ..nodeproc import log_time, main_processes, node_processes, start_time
from .poller import STABLE
from .result import Result

TAIL = 2.0            # keep polling this long after recovery (late blips count)


def other_nodes(lab: Lab, i: int) -> List[int]:
    """The running nodes other than node i."""
    return [j for j in lab.cluster.live_nodes() if j != i]


def node_names(nodes: List[int]) -> List[str]:
    return [f"node{j}" for j in nodes]


def log_events(lab: Lab, since: float, pattern: str, nodes=None) -> List[Tuple[float, int, str]]:
    """(epoch, node, line) of every line matching pattern at or after since in the nodes'
    pacemaker.log (default: every node); Pacemaker's own lines only (they carry milliseconds)."""
    found = []
    for i in nodes or range(1, lab.opts.nodes + 1):
        for line in lab.cluster.pacemaker_log(i).splitlines():
            if re.search(pattern, line):
                t = log_time(line)
                if t is not None and t >= since - 0.001:
                    found.append((t, i, line))
    return found


def first_log_event(lab: Lab, since: float, pattern: str, nodes=None) -> Tuple[Optional[float], str]:
    """(epoch, line) of the first of log_events; (None, "") if there is none."""
    t, _, line = min(log_events(lab, since, pattern, nodes), default=(None, 0, ""), key=lambda e: e[0] or 0)
    return t, line


def service_pids(lab: Lab, i: int, rsc: str) -> Dict[int, str]:
    pid = lab.cluster.init_pid(i)
    return node_processes(pid, PROC_PATTERN[rsc]) if pid else {}


def process_tops(lab: Lab, i: int, rsc: str) -> List[int]:
    """Tops of rsc's process trees on node i (none when the node is down)."""
    pid = lab.cluster.init_pid(i)
    return main_processes(pid, PROC_PATTERN[rsc]) if pid else []


def newest_top(tops: List[int]) -> Optional[int]:
    """The latest started of tops that still run (one /proc read each)."""
    started = {t: int(s) for t in tops if (s := start_time(t)) is not None}
    return max(started, key=started.__getitem__) if started else None


def new_main_processes(lab: Lab, i: int, rsc: str, before: Dict[int, Optional[str]]) -> List[int]:
    """Tops of rsc's process trees on node i that were not running before (restarts)."""
    return [t for t in process_tops(lab, i, rsc) if t not in before or start_time(t) != before[t]]


def main_pid(lab: Lab, i: int, rsc: str) -> Optional[int]:
    """The newest top of rsc's process trees on node i (older tops are orphans)."""
    return newest_top(process_tops(lab, i, rsc))


def orphan_trees(lab: Lab, i: int, rsc: str) -> List[int]:
    """Tops of rsc's process trees on node i other than the newest one."""
    tops = process_tops(lab, i, rsc)   # one scan of /proc for both
    newest = newest_top(tops)
    return [t for t in tops if t != newest]


def wait_until(what: str, timeout: float, check: Callable[[], Optional[str]], lab: Lab) -> float:
    """Poll check() (None = done, else why not) until done; returns the time it took."""
    t0 = time.monotonic()
    last, why, said = 0.0, "?", None
    while time.monotonic() - t0 < timeout:
        try:
            why = check()
        except ClusterError as err:
            why = str(err).splitlines()[0]
        if why is None:
            return time.monotonic() - t0
        # progress every 5 s while the reason changes, every 30 s while it stays the same
        since = time.monotonic() - last
        if since >= 30 or (since >= 5 and why != said):
            lab.say(f"  waiting for {what}: {why}" if why != said else f"  waiting for {what}: still so")
            last, said = time.monotonic(), why
        time.sleep(0.25)
    raise ClusterError(f"{what}: not within {timeout:.0f}s ({why})")


def record_recovery(res: Result, what: str, bound: float, condition: Callable[[], Optional[str]], lab: Lab,
                     stable: bool = True) -> bool:
    """Wait for ``condition``; record the recovery time or the error; return res.ok.
    stable: the condition ends with STABLE s of steady answers, which are not recovery time."""
    try:
        took = wait_until(what, bound, condition, lab)
        res.recovered = took - STABLE if stable and took > STABLE else took
        res.ok = True
    except ClusterError as err:
        res.error = str(err).splitlines()[0]
    return res.ok


def ready(lab: Lab, timeout: float = 120) -> None:
    """Before a drill: old failures forgotten, everything in place."""
    if failures(lab.mon()):
        lab.cleanup()
    lab.wait_settled(timeout)


def settle_after(lab: Lab, timeout: float = 120) -> None:
    """Clean up failures and wait until the lab is settled again (between drills)."""
    lab.cleanup()
    lab.wait_settled(timeout)


def power_log(lab: Lab) -> Path:
    """The lab's power switch log (raolab.power): every fencing action, in order."""
    return lab.cluster.base / "power.log"


def node_gone(lab: Lab, a: int, since: float, viewer: int) -> Optional[str]:
    """None once node a is lost as the cluster must know it: with fencing, a peer's fencer
    has powered it off (the switch verified the off or the reboot; a rebooted node may be
    back already); without, the viewer sees it offline."""
    if lab.opts.fencing:
        return None if fencing.fenced(power_log(lab), f"node{a}", since) else f"node{a} not fenced yet"
    if f"node{a}" in online_nodes(lab.mon(viewer)):
        return f"node{viewer} still sees node{a} online"
    return None


def all_nodes(lab: Lab) -> List[str]:
    return node_names(list(range(1, lab.opts.nodes + 1)))


