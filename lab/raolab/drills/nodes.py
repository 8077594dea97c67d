"""Node faults: the active controller lost (its PID namespace SIGKILLed, its link down) and
booted again, or switched over (crm node standby, then online); everything must run on the
others, and nothing moves back when the node returns. With fencing (the lab's default) the
lost node is fenced first (a reboot: the switch boots it again, and it rejoins by itself)."""

import time
from typing import Callable, Dict, Optional

from ..lab import SERVICES, Lab
from .common import (TAIL, all_nodes, first_log_event, main_pid, node_gone, node_names, other_nodes,
                     ready, record_recovery, settle_after)
from .fenceorder import record_fencing, started_after_fence
from .poller import Poller
from .result import Result

DESCRIPTIONS = {
    "node-loss": "hard loss of the active node (PID namespace SIGKILLed, link down)",
    "switchover": "planned switchover: crm node standby, then crm node online",
}


def node_loss(lab: Lab, bound: float = 120) -> Result:
    res = Result("node-loss")
    ready(lab)
    a = lab.active_node()
    survivors = other_nodes(lab, a)
    b = survivors[0]   # the survivors' view
    survivor_pids = {(j, rsc): main_pid(lab, j, rsc) for j in survivors for rsc in SERVICES}
    with Poller(lab, "node-loss") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        lab.cluster.crash(a, stays_down=True)   # its fencer's reboot does not bring it back: rejoin does
        lab.say(f"node-loss: node{a} (the active node) crashed; survivors {', '.join(node_names(survivors))}")

        def recovered() -> Optional[str]:
            gone = node_gone(lab, a, t_fault, b)
            if gone:
                return gone
            mon = lab.mon(b)
            why = lab.settled(mon, expect_nodes=node_names(survivors), allow_failures=True)
            if why:
                return why
            return poller.unsteady(t_fault)
        record_recovery(res, f"everything on {' or '.join(node_names(survivors))}", bound, recovered, lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    det, res.event = first_log_event(lab, t_fault, rf"Node node{a} state is now lost", nodes=survivors)
    res.detection = det - t_fault if det else None
    res.extra["survivor"] = lab.where("FloatingIP")[0] if res.ok else f"node{b}"
    res.extra["lost"] = f"node{a}"
    if lab.opts.fencing:   # the fence, and nothing started on the survivors before it
        record_fencing(lab, res, t_fault)
        order = started_after_fence(lab, res, a, t_fault)
        if order:
            res.ok, res.error = False, "; ".join(filter(None, (order, res.error)))
    if lab.opts.mode != "group" and res.ok:
        same = {rsc: all(main_pid(lab, j, rsc) == survivor_pids[(j, rsc)] and survivor_pids[(j, rsc)] is not None
                         for j in survivors) for rsc in SERVICES}
        res.extra["survivor_kept_running"] = same
        res.notes.append("survivor's instances kept running (same PIDs): "
                         + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    elif res.ok:
        res.notes.append(f"keystone and glance-api started on {res.extra['survivor']}")
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    res.phases["rejoin"] = rejoin(lab, a, b)
    return res


def rejoin(lab: Lab, a: int, b: int, bound: float = 120) -> Result:
    """Boot the crashed node again (a fencer's reboot may have done it already): all online,
    resources stay where they are (stickiness)."""
    res = Result("rejoin")
    with Poller(lab, "rejoin") as poller:
        t0 = time.time()
        lab.cluster.revive(a)
        record_recovery(res, f"node{a} back", bound, lambda: lab.settled(
            lab.mon(b), expect_nodes=all_nodes(lab), allow_failures=True), lab, stable=False)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t0, t_end)
    if res.ok:
        res.notes.append(f"the floating IP stayed on node{lab.active_node()}")
    settle_after(lab)
    return res


def switchover(lab: Lab, bound: float = 120) -> Result:
    res = Result("switchover")
    ready(lab)
    a = lab.active_node()
    others = other_nodes(lab, a)
    b = others[0]
    with Poller(lab, "switchover") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        lab.cluster.crm("node", "standby", f"node{a}", i=b)
        lab.say(f"switchover: crm node standby node{a}")

        def moved() -> Optional[str]:
            mon = lab.mon(b)
            why = lab.settled(mon, expect_nodes=node_names(others))
            if why:
                return why
            if lab.where("FloatingIP", mon) == [f"node{a}"] or not lab.where("FloatingIP", mon):
                return "the floating IP has not moved"
            return poller.unsteady(t_fault)
        record_recovery(res, f"everything on {' or '.join(node_names(others))}", bound, moved, lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    back = Result("online")
    with Poller(lab, "online") as poller:
        t0 = time.time()
        lab.cluster.crm("node", "online", f"node{a}", i=b)
        lab.say(f"switchover: crm node online node{a}")
        if record_recovery(back, f"node{a} online again", bound,
                            lambda: lab.settled(lab.mon(b), expect_nodes=all_nodes(lab)), lab, stable=False):
            back.notes.append(f"the floating IP stayed on node{lab.active_node()}")
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(back, t0, t_end)
    res.phases["online"] = back
    res.ok = res.ok and back.ok
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    settle_after(lab)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"node-loss": node_loss, "switchover": switchover}
