"""Quorum (three controllers): two lost at once; the survivor has no quorum and, with
Pacemaker's default no-quorum-policy=stop, stops everything until one node is back, then
the services start again with no operator action."""

import time
from typing import Callable, Dict, Optional

from ..cib import quorum, resource_instances
from ..cluster import ClusterError
from ..lab import Lab
from .common import node_names, other_nodes, ready, record_recovery
from .nodes import rejoin
from .poller import Poller
from .result import Result

DESCRIPTIONS = {
    "quorum-loss": "three controllers: two lost at once, the survivor stops everything until one is back",
}


def quorum_loss(lab: Lab, bound: float = 180) -> Result:
    """Three controllers: the active node and one other are lost at once. The survivor has
    no quorum and, with Pacemaker's default no-quorum-policy=stop, stops every resource;
    one node back gives it quorum and the services start again with no operator action;
    then the last node rejoins."""
    if lab.opts.nodes < 3:
        raise ClusterError("quorum-loss needs three controllers (rao-lab up --nodes 3)")
    res = Result("quorum-loss")
    ready(lab)
    a = lab.active_node()
    c, s = other_nodes(lab, a)[:2]   # c is lost with a; s survives alone
    with Poller(lab, "quorum-loss") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        lab.cluster.crash(a, stays_down=True)   # fenced once quorum is back, booted by the rejoin
        lab.cluster.crash(c)
        lab.say(f"quorum-loss: node{a} (active) and node{c} crashed; node{s} is alone")

        def stopped() -> Optional[str]:
            mon = lab.mon(s)
            if quorum(mon):
                return f"node{s} still has quorum"
            # on node s itself: with fencing on, what the lost (unfenced, UNCLEAN) nodes ran
            # still shows Started there until they are fenced, which needs quorum
            running = [r["id"] for r in resource_instances(mon) if r["role"] == "Started" and r["node"] == f"node{s}"]
            if running:
                return f"still Started on node{s}: {running}"
            return None
        alone = Result("alone")
        if record_recovery(alone, f"node{s} without quorum, everything stopped", bound, stopped, lab,
                            stable=False):
            alone.notes.append(f"node{s} has no quorum and runs nothing (no-quorum-policy=stop)")
        res.phases["alone"] = alone
        # one node back: quorum (2 of 3), the services start on their own
        t_back = time.time()
        lab.cluster.revive(c)
        lab.say(f"quorum-loss: node{c} booted again")

        def serving() -> Optional[str]:
            mon = lab.mon(s)
            if not quorum(mon):
                return f"node{s} has no quorum yet"
            why = lab.settled(mon, expect_nodes=node_names([c, s]), allow_failures=True)
            if why:
                return why
            return poller.unsteady(t_back)
        back = Result("quorum back")
        if record_recovery(back, "quorum regained and the services started", bound, serving, lab):
            back.notes.append(f"serving from {lab.where('FloatingIP')[0]} with no operator action")
        res.phases["quorum back"] = back
        t_end = time.time()
    poller.record(back, t_fault, t_end)
    res.phases["rejoin"] = rejoin(lab, a, s)
    res.ok = alone.ok and back.ok and res.phases["rejoin"].ok
    res.recovered = (t_end - t_fault) if back.ok else None
    if not res.ok:
        res.error = "; ".join(p.error for p in res.phases.values() if p.error)
        if lab.diagnose:
            lab.diagnostics()
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"quorum-loss": quorum_loss}
