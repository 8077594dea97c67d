"""A frozen controller, with fencing on: every process of the active node stopped (SIGSTOP,
its init included) while its kernel (here: its network namespace) still answers ARP for
the floating IP. Only fencing makes it safe to take over.

- frozen: the survivor declares the node lost, fences it (after priority-fencing-delay: the
  frozen node held the IP) and starts the IP and the services only after the switch
  verified the off; an image and a token made before are intact; the fenced node boots
  again (the switch's reboot) and rejoins.
- fence-failed: the same freeze with the power switch unplugged (every power action
  fails): Pacemaker retries, the survivor starts nothing (the frozen node's MAC alone
  answers for the IP: nothing runs twice) and crm_mon says why; plugged in again, the
  next attempt fences the node and the services come back.
"""

import time
from typing import Callable, Dict, List, Optional

from .. import fencing
from ..cluster import ClusterError
from ..lab import Lab
from ..nodeproc import freeze
from .arpwatch import ArpWatch
from .common import (TAIL, all_nodes, node_gone, node_names, power_log, other_nodes, ready, record_recovery,
                     settle_after, wait_until)
from .fenceorder import judge, record_fenced_fault
from .poller import Poller
from .result import Result
from .survival import seed_data, verify_data

DESCRIPTIONS = {
    "frozen": "every process of the active node SIGSTOPped (its kernel still answers ARP): fenced, then taken over",
    "fence-failed": "the active node frozen while the power switch is unplugged: nothing starts twice; "
                    "plugged in again, the node is fenced and the services return",
}
UNPLUGGED_FOR = 20.0     # s the survivor keeps failing to fence (several attempts)


def _freeze(lab: Lab, a: int) -> int:
    init = lab.cluster.init_pid(a)
    if not init:
        raise ClusterError(f"node{a} is not running")
    return freeze(init)


def _thaw(lab: Lab, a: int) -> None:
    """A node no fence took (the drill failed) is still frozen: the lab powers it off and
    boots it, so that the next drill does not run beside it."""
    if lab.cluster.frozen(a):
        lab.say(f"node{a} is still frozen (never fenced): the lab powers it off and boots it")
        lab.cluster.crash(a)
        lab.cluster.revive(a)


def _on_survivors(lab: Lab, survivors: List[int]) -> Optional[str]:
    """None when the cluster is settled with the floating IP on a survivor (the fenced node,
    rebooted by its fence, may have rejoined already)."""
    mon = lab.mon(survivors[0])
    why = lab.settled(mon, allow_failures=True)
    if why:
        return why
    ip = lab.where("FloatingIP", mon)
    return None if ip and ip[0] in node_names(survivors) else f"the floating IP on {ip or 'no node'}"


def frozen(lab: Lab, bound: float = 120) -> Result:
    if not lab.opts.fencing:
        raise ClusterError("frozen needs fencing (a frozen node is only safe to replace once fenced)")
    res = Result("frozen")
    ready(lab)
    seed = seed_data(lab)
    a = lab.active_node()
    survivors = other_nodes(lab, a)
    with Poller(lab, "frozen") as poller, ArpWatch(lab) as arp:
        poller.wait_healthy()
        t_fault = time.time()
        n = _freeze(lab, a)
        lab.say(f"frozen: {n} processes of node{a} (the active node) SIGSTOPped")

        def taken_over() -> Optional[str]:
            return (node_gone(lab, a, t_fault, survivors[0]) or _on_survivors(lab, survivors)
                    or poller.unsteady(t_fault))
        record_recovery(res, f"node{a} fenced, everything on {' or '.join(node_names(survivors))}", bound,
                        taken_over, lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    order = record_fenced_fault(lab, res, a, survivors, t_fault, arp)
    data = verify_data(lab, seed, "data after frozen")
    res.phases["data"] = data
    rejoin = Result("rejoin")
    record_recovery(rejoin, f"node{a} (rebooted by its fence) back", bound,
                    lambda: lab.settled(lab.mon(survivors[0]), expect_nodes=all_nodes(lab), allow_failures=True),
                    lab, stable=False)
    res.phases["rejoin"] = rejoin
    res.ok = res.ok and data.ok and rejoin.ok
    judge(lab, res, order)
    _thaw(lab, a)
    settle_after(lab)
    return res


def fence_failed(lab: Lab, bound: float = 120) -> Result:
    if not lab.opts.fencing:
        raise ClusterError("fence-failed needs fencing")
    res = Result("fence-failed")
    ready(lab)
    a = lab.active_node()
    survivors = other_nodes(lab, a)
    b = survivors[0]
    unplugged = lab.cluster.base / "power.unplugged"
    with Poller(lab, "fence-failed") as poller, ArpWatch(lab) as arp:
        poller.wait_healthy()
        unplugged.touch()
        t_fault = time.time()
        try:
            n = _freeze(lab, a)
            lab.say(f"fence-failed: power switch unplugged; {n} processes of node{a} (active) SIGSTOPped")
            wait_until(f"a failed attempt to fence node{a}", bound, lambda: None if [
                r for r in fencing.actions(power_log(lab), t_fault, f"node{a}") if r["result"] == "error"]
                else "no attempt yet", lab)
            time.sleep(UNPLUGGED_FOR)
            blocked = lab.cluster.node(b, "crm_mon", "-1", "--fence-history=3", check=False).stdout
            res.extra["crm_mon"] = blocked
            mon = lab.mon(b)
            res.extra["while_unplugged"] = {rsc: lab.where(rsc, mon) for rsc in ("FloatingIP", "keystone", "glance-api")}
            res.extra["attempts"] = len(fencing.actions(power_log(lab), t_fault, f"node{a}"))
        finally:
            unplugged.unlink(missing_ok=True)
            t_plug = time.time()
            lab.say(f"fence-failed: power switch plugged in again after {t_plug - t_fault:.0f}s")

        def taken_over() -> Optional[str]:
            return node_gone(lab, a, t_plug, b) or _on_survivors(lab, survivors) or poller.unsteady(t_plug)
        record_recovery(res, f"node{a} fenced once the switch works, everything on node{b}", bound, taken_over, lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    order = record_fenced_fault(lab, res, a, survivors, t_fault, arp)
    res.notes.append(f"while unplugged: {res.extra.get('attempts')} failed attempts logged by the switch; "
                     f"where: {res.extra.get('while_unplugged')}")
    rejoin = Result("rejoin")
    record_recovery(rejoin, f"node{a} back", bound,
                    lambda: lab.settled(lab.mon(b), expect_nodes=all_nodes(lab), allow_failures=True),
                    lab, stable=False)
    res.phases["rejoin"] = rejoin
    res.ok = res.ok and rejoin.ok
    judge(lab, res, order)
    _thaw(lab, a)
    settle_after(lab)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"frozen": frozen, "fence-failed": fence_failed}
