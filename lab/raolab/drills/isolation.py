"""Link cuts between live controllers, with fencing on: the split brain fencing exists for.

- split-brain (two controllers): a blackhole route on the passive node to the active node's
  address cuts corosync both ways (tc's classifiers are not available on these machines)
  while the client still reaches both. Each node fences the other; the snippets' priority
  on the floating IP and priority-fencing-delay make the node that serves win: exactly one
  fencing action, of the passive node, and the services never leave the IP's node. The
  fenced node boots again (the switch's reboot) still cut off: two_node's wait_for_all
  keeps it without quorum, so it starts and fences nothing. Healed, it rejoins with no
  second fence.
- cut-off (three controllers): the active node cut from both others. It loses quorum and
  stops its services (no-quorum-policy=stop); the majority fences it and starts them.
In both, ``arping -b`` from the client every 0.2 s (arpwatch.py) must never see two MACs
answer for the floating IP.
"""

import subprocess
import time
from typing import Callable, Dict, List, Optional

from ..cluster import ClusterError
from ..lab import SERVICES, Lab
from .arpwatch import ArpWatch
from .common import TAIL, all_nodes, first_log_event, main_pid, node_gone, node_names, other_nodes, ready, record_recovery, settle_after
from .fenceorder import judge, record_fenced_fault
from .poller import Poller
from .result import Result

DESCRIPTIONS = {
    "split-brain": "two controllers: the link between them cut (clients reach both); one fence, the IP's node wins",
    "cut-off": "three controllers: the active node cut off; it stops, the majority fences it and takes over",
}
REJOIN_QUIET = 10.0     # s after the rejoin with no further fencing action


def cut(lab: Lab, i: int, peers: List[int]) -> None:
    """Blackhole routes on node i to each peer's address: corosync is cut both ways (node i
    neither sends to them nor answers them); the client's path to node i stays."""
    for j in peers:
        _route(lab, "add", i, j)


def heal(lab: Lab, i: int, peers: List[int]) -> None:
    for j in peers:
        _route(lab, "del", i, j, check=False)


def _route(lab: Lab, verb: str, i: int, j: int, check: bool = True) -> None:
    # the node's network namespace outlives its crash and boot: so does the route
    proc = subprocess.run(["ip", "-n", f"{lab.opts.pfx}-n{i}", "route", verb, "blackhole", f"{lab.opts.net}.{j}/32"],
                          capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise ClusterError(f"ip route {verb} blackhole {lab.opts.net}.{j} on node{i}: {proc.stderr.strip()}")


def _drill(lab: Lab, name: str, isolated_is_active: bool, bound: float) -> Result:
    res = Result(name)
    ready(lab)
    a = lab.active_node()
    others = other_nodes(lab, a)
    loser = a if isolated_is_active else others[0]
    winners = [j for j in range(1, lab.opts.nodes + 1) if j != loser]
    peers = winners
    pids = {(j, rsc): main_pid(lab, j, rsc) for j in winners for rsc in SERVICES}
    with Poller(lab, name) as poller, ArpWatch(lab) as arp:
        poller.wait_healthy()
        t_fault = time.time()
        try:
            cut(lab, loser, peers)
            lab.say(f"{name}: node{loser} cut off from {', '.join(node_names(peers))} "
                    f"(node{a} holds the floating IP)")

            def decided() -> Optional[str]:
                gone = node_gone(lab, loser, t_fault, winners[0])
                if gone:
                    return gone
                why = lab.settled(lab.mon(winners[0]), expect_nodes=node_names(winners), allow_failures=True)
                return why or poller.unsteady(t_fault)
            record_recovery(res, f"node{loser} fenced, everything on {' or '.join(node_names(winners))}", bound,
                            decided, lab)
            time.sleep(TAIL)
        finally:
            t_heal = time.time()
            heal(lab, loser, peers)
            lab.say(f"{name}: link of node{loser} healed")
        rejoin = Result("rejoin")
        if record_recovery(rejoin, f"node{loser} back in the cluster", bound,
                           lambda: lab.settled(lab.mon(winners[0]), expect_nodes=all_nodes(lab), allow_failures=True),
                           lab, stable=False):
            time.sleep(REJOIN_QUIET)   # a second fence would come now
        t_end = time.time()
    poller.record(res, t_fault, t_heal)
    poller.record(rejoin, t_heal, t_end)
    res.phases["rejoin"] = rejoin
    order = record_fenced_fault(lab, res, loser, winners, t_fault, arp)
    res.extra["loser"], res.extra["active"] = f"node{loser}", f"node{a}"
    res.extra["arp_owners"] = [(round(t - t_fault, 1), who) for t, who in arp.owners(t_fault)]
    # what the cut-off node did on its own (its log survives its reboot)
    t_lost, _ = first_log_event(lab, t_fault, r"[Qq]uorum lost|[Qq]uorum: lost|lost quorum", nodes=[loser])
    t_stop, _ = first_log_event(lab, t_fault, rf"Result of stop operation for FloatingIP on node{loser}: ok",
                                nodes=[loser])
    res.extra["loser_quorum_lost"] = round(t_lost - t_fault, 2) if t_lost else None
    res.extra["loser_stopped_ip"] = round(t_stop - t_fault, 2) if t_stop else None
    if isolated_is_active:
        res.notes.append(f"node{loser} alone: quorum lost at "
                         + (f"+{t_lost - t_fault:.1f}s" if t_lost else "- (not logged)")
                         + ", stopped the floating IP " + (f"at +{t_stop - t_fault:.1f}s" if t_stop else "before: no"))
    res.extra["ip"] = lab.where("FloatingIP")
    res.extra["kept_running"] = {f"{rsc}@node{j}": main_pid(lab, j, rsc) == pid
                                 for (j, rsc), pid in pids.items() if pid is not None}
    res.ok = res.ok and rejoin.ok
    order = order or _one_fence(res, loser, None if isolated_is_active else a)
    if isolated_is_active and order is None:
        off = res.extra.get("off_verified")
        if res.extra["loser_quorum_lost"] is None or (off is not None and res.extra["loser_quorum_lost"] > off):
            order = f"node{loser} did not say it lost quorum before its fence"
    judge(lab, res, order)
    settle_after(lab)
    return res


def _one_fence(res: Result, loser: int, by: Optional[int]) -> Optional[str]:
    """None when the switch carried out exactly one fencing request (refused ones count:
    a second fencer lost the race only because this switch serves one request at a time),
    of node ``loser``, by node ``by`` when given; else what happened."""
    done = [(r["caller"], r["target"], r["result"]) for r in res.extra.get("fencing", [])]
    want = (f"node{by}" if by else None, f"node{loser}", "ok")
    if len(done) == 1 and done[0][1:] == want[1:] and (by is None or done[0][0] == want[0]):
        return None
    return f"expected one fence of node{loser}{f' by node{by}' if by else ''}, the switch logged {done}"


def split_brain(lab: Lab, bound: float = 120) -> Result:
    if lab.opts.nodes != 2 or not lab.opts.fencing:
        raise ClusterError("split-brain needs two controllers with fencing (rao-lab up, without --no-fencing)")
    return _drill(lab, "split-brain", isolated_is_active=False, bound=bound)


def cut_off(lab: Lab, bound: float = 150) -> Result:
    if lab.opts.nodes < 3 or not lab.opts.fencing:
        raise ClusterError("cut-off needs three controllers with fencing (rao-lab up --nodes 3)")
    return _drill(lab, "cut-off", isolated_is_active=True, bound=bound)


DRILLS: Dict[str, Callable[[Lab], Result]] = {"split-brain": split_brain, "cut-off": cut_off}
