"""What every fencing drill checks after its fault: which fencing actions the power switch
carried out (and for whom), and that no survivor started what the fenced node held before
the switch had verified that node off (the safety fencing exists for)."""

import re
from typing import Dict, List, Optional, Sequence

from .. import fencing
from ..lab import SERVICES, Lab
from .common import first_log_event, log_events, power_log
from .result import Result

START = re.compile(r"Initiating start operation (\S+?)(?::\d+)?_start_0 (?:locally )?on (node\d+)")


def record_detection(lab: Lab, res: Result, lost: int, viewers: Sequence[int], since: float) -> None:
    """res.detection: when the first of the viewers declared node ``lost`` lost (corosync)."""
    det, res.event = first_log_event(lab, since, rf"Node node{lost} state is now lost", nodes=list(viewers))
    res.detection = det - since if det else None


def record_fencing(lab: Lab, res: Result, since: float) -> List[Dict]:
    """Every fencing action (by a node's fencer) since ``since``, in res.extra["fencing"] and notes."""
    done = fencing.actions(power_log(lab), since)
    res.extra["fencing"] = done
    failed = [r for r in done if r["result"] != "ok"]
    if failed:   # a device that is down: Pacemaker retries; one line for all of them
        res.notes.append(f"{len(failed)} failed fencing attempts from +{failed[0]['time'] - since:.1f}s to "
                         f"+{failed[-1]['time'] - since:.1f}s ({failed[-1]['detail']})")
    res.notes += [f"+{r['time'] - since:.1f}s {fencing.describe(r)}" for r in done if r["result"] == "ok"]
    if not done:
        res.notes.append("no fencing action")
    return done


def starts_elsewhere(lab: Lab, target: int, since: float,
                     resources: Sequence[str] = ("FloatingIP",) + SERVICES) -> Dict[str, float]:
    """resource -> epoch of its first start initiated (by the DC) on a node other than
    ``target`` since ``since``."""
    first: Dict[str, float] = {}
    for t, _, line in sorted(log_events(lab, since, START.pattern)):
        m = START.search(line)
        if m and m.group(1) in resources and m.group(2) != f"node{target}" and m.group(1) not in first:
            first[m.group(1)] = t
    return first


def started_after_fence(lab: Lab, res: Result, target: int, since: float,
                        resources: Sequence[str] = ("FloatingIP",) + SERVICES) -> Optional[str]:
    """None when node ``target`` was fenced (the off verified) and every resource in
    ``resources`` a survivor started since ``since`` started after that; else why not.
    res.extra: "off_verified" (s after since) and "starts" (resource -> s after since)."""
    done = fencing.fenced(power_log(lab), f"node{target}", since)
    if not done:
        return f"node{target} was never fenced"
    off = min(r.get("off_verified", r["time"] + r["took"]) for r in done)
    starts = starts_elsewhere(lab, target, since, resources)
    res.extra["off_verified"] = round(off - since, 2)
    res.extra["starts"] = {rsc: round(t - since, 2) for rsc, t in starts.items()}
    early = {rsc: t for rsc, t in starts.items() if t < off}
    res.notes.append(f"node{target} verified off at +{off - since:.1f}s; survivors started "
                     + (", ".join(f"{rsc} +{t - since:.1f}s" for rsc, t in sorted(starts.items(), key=lambda kv: kv[1]))
                        or "nothing"))
    if early:
        return f"started before node{target} was verified off: {sorted(early)}"
    return None


def record_fenced_fault(lab: Lab, res: Result, lost: int, viewers: Sequence[int], since: float,
                        arp=None) -> Optional[str]:
    """After a fault that must end in the fencing of node ``lost``: detection, the fencing
    actions, what the survivors started and when, who answered ARP (arp: an ArpWatch);
    returns started_after_fence's verdict (None: nothing started before the fence)."""
    record_detection(lab, res, lost, viewers, since)
    record_fencing(lab, res, since)
    res.extra["lost"] = f"node{lost}"
    order = started_after_fence(lab, res, lost, since)
    if arp is not None:
        res.extra["doubled"] = arp.doubled()
        res.extra["arp_blind"] = arp.blind()
        res.notes.append(arp.summary(since))
    return order


def judge(lab: Lab, res: Result, order: Optional[str]) -> None:
    """A fencing drill fails when a survivor started something before the fence
    (``order``, from started_after_fence), two MACs answered for the floating IP
    (res.extra["doubled"], from arpwatch) or the ARP watch saw too little to tell
    (res.extra["arp_blind"])."""
    problems = [p for p in (order, "two MACs answered for the floating IP" if res.extra.get("doubled") else None,
                            res.extra.get("arp_blind")) if p]
    if problems:
        res.ok, res.error = False, "; ".join(problems + ([res.error] if res.error else []))
    if not res.ok and lab.diagnose:
        lab.diagnostics()
