"""Service faults: the active controller's Keystone or Glance killed (kill -9 of its main
process) or hung (SIGSTOP of every process); Pacemaker must record the failure (a failed
monitor, or the failure watcher's report) and run a new main process, no orphan left."""

import os
import re
import signal
import time
from typing import Callable, Dict, List, Optional

from ..cib import fail_counts
from ..cluster import ClusterError
from ..lab import Lab
from ..nodeproc import start_time, still_alive
from .common import (TAIL, first_log_event, main_pid, new_main_processes, process_tops, ready,
                     record_recovery, service_pids, settle_after)
from .poller import Poller
from .result import Result

DESCRIPTIONS = {
    "keystone-kill": "kill -9 of the Keystone uwsgi master on the active node",
    "glance-kill": "kill -9 of the glance-api parent on the active node",
    "keystone-hang": "Keystone hung: SIGSTOP of the uwsgi master and workers",
}


def _service_fault(lab: Lab, drill: str, rsc: str, hang: bool, bound: float) -> Result:
    res = Result(drill)
    ready(lab)
    node = lab.where(rsc)
    if len(node) != 1 and lab.opts.mode == "group":
        raise ClusterError(f"{rsc} runs on {node}")
    a = lab.active_node()
    pids = service_pids(lab, a, rsc)
    master = main_pid(lab, a, rsc)
    if master is None:
        raise ClusterError(f"no single {rsc} main process on node{a}: {pids}")
    started = {p: start_time(p) for p in pids}
    stopped: List[int] = []
    t_giveup = None
    with Poller(lab, drill) as poller:
        poller.wait_healthy()
        t_fault = time.time()
        try:
            if hang:
                for p in sorted(pids):
                    try:
                        os.kill(p, signal.SIGSTOP)
                        stopped.append(p)
                    except ProcessLookupError:
                        pass
                lab.say(f"{drill}: SIGSTOP {rsc} on node{a}: master {master} and {len(stopped) - 1} workers")
            else:
                os.kill(master, signal.SIGKILL)
                lab.say(f"{drill}: kill -9 {rsc} main process {master} on node{a}")

            def recovered() -> Optional[str]:
                mon = lab.mon()
                fc = fail_counts(mon).get(f"{rsc}@node{a}", 0)
                if fc < 1:
                    return "no failure recorded by Pacemaker yet"
                why = lab.settled(mon, allow_failures=True)
                if why:
                    return why
                if f"node{a}" not in lab.where(rsc, mon):
                    return f"{rsc} is not running on node{a}"
                if not new_main_processes(lab, a, rsc, started):
                    return f"no new {rsc} main process yet"
                return poller.unsteady(t_fault)
            if not record_recovery(res, f"{rsc} recovered by Pacemaker", bound, recovered, lab):
                t_giveup = time.time()
        finally:   # never leave frozen processes behind (they are gone if the drill passed)
            for p in still_alive({s: pids[s] for s in stopped}, started):
                try:
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        time.sleep(TAIL)
        t_end = time.time()
    # not recovered: what the client saw until we gave up (a SIGCONT "recovers" it afterwards)
    poller.record(res, t_fault, t_giveup or t_end)
    # a failed monitor, or the failure watcher's report (crm_resource --fail: an asyncmon)
    det, res.event = first_log_event(lab, t_fault, rf"Result of monitor operation for {re.escape(rsc)} on node{a}: "
                                                   r"(?!ok\b|Cancelled)|Updating failcount for "
                                                   rf"{re.escape(rsc)} on node{a} after failed asyncmon")
    res.detection = det - t_fault if det else None
    # the clone snippet moves the IP off a node whose watcher reported (failed_mark)
    res.extra["floating_ip"] = {"before": f"node{a}", "after": lab.where("FloatingIP")}
    if res.extra["floating_ip"]["after"] != [f"node{a}"]:
        res.notes.append(f"the floating IP moved to {', '.join(res.extra['floating_ip']['after']) or 'nowhere'}")
    left = still_alive(pids, started)
    if left:
        res.notes.append(f"{len(left)} of the original {rsc} processes still run")
        if res.ok and hang:
            res.ok = False
            res.error = f"frozen {rsc} processes survived the recovery: {sorted(left)}"
    trees = len(process_tops(lab, a, rsc))
    if trees > 1:
        res.notes.append(f"{trees} {rsc} process trees on node{a} (orphans of the killed one)")
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    settle_after(lab)
    return res


def keystone_kill(lab: Lab, bound: float = 120) -> Result:
    return _service_fault(lab, "keystone-kill", "keystone", hang=False, bound=bound)


def glance_kill(lab: Lab, bound: float = 120) -> Result:
    return _service_fault(lab, "glance-kill", "glance-api", hang=False, bound=bound)


def keystone_hang(lab: Lab, bound: float = 120) -> Result:
    return _service_fault(lab, "keystone-hang", "keystone", hang=True, bound=bound)


DRILLS: Dict[str, Callable[[Lab], Result]] = {"keystone-kill": keystone_kill, "glance-kill": glance_kill,
                                              "keystone-hang": keystone_hang}
