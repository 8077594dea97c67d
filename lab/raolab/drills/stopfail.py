"""A stop that cannot finish, with fencing on: Pacemaker's default on-fail for stop is
fence, so the controller is fenced, and the services start elsewhere only after that.

How the drill makes Keystone's stop fail: our agent cannot be made to fail its own stop
(it budgets its graceful period, its KILL and its wait inside the op timeout, and a
frozen or SIGTERM-deaf Keystone is killed in time: tests/integration), so the drill
freezes the stop action itself, as a stop stuck on hung storage or a process stuck in the
kernel would: every ``keystone stop`` the node runs is SIGSTOPped as it appears. For a
short drill, Keystone's stop timeout is lowered to STOP_TIMEOUT for the drill (the CIB's
op, restored after). A planned switchover (crm node standby) asks for the stop.
"""

import os
import re
import signal
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from .. import fencing
from ..cluster import ClusterError
from ..lab import Lab
from ..nodeproc import node_process_table
from .common import (TAIL, all_nodes, first_log_event, node_names, power_log, other_nodes, ready, record_recovery,
                     settle_after)
from .fenceorder import judge, record_fenced_fault
from .poller import Poller
from .result import Result

DESCRIPTIONS = {
    "stop-failed": "the active node's Keystone stop cannot finish (frozen) during a switchover: "
                   "the node is fenced, the services start elsewhere after the fence",
}
STOP_TIMEOUT = "10s"
AGENT_STOP = r"/usr/lib/ocf/resource\.d/openstack/keystone stop\b"


class StopFreezer:
    """SIGSTOP every ``keystone stop`` on node i as it appears (polled every 20 ms)."""

    def __init__(self, lab: Lab, i: int) -> None:
        self.init = lab.cluster.init_pid(i)
        self.frozen: Dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set() and self.init:
            for pid in node_process_table(self.init, AGENT_STOP):
                if pid not in self.frozen:
                    try:
                        os.kill(pid, signal.SIGSTOP)
                        self.frozen[pid] = time.time()
                    except ProcessLookupError:
                        pass
            self.done.wait(0.02)

    def __enter__(self) -> "StopFreezer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(timeout=5)


def _stop_op(lab: Lab, rsc: str) -> Optional[Tuple[str, Optional[str]]]:
    """The CIB id and timeout of rsc's stop op."""
    proc = lab.cluster.node(lab.cluster.viewer(), "cibadmin", "-Q", "--xpath",
                            f"//primitive[@id='{rsc}']/operations/op[@name='stop']", check=False)
    m = re.search(r'<op [^>]*\bid="([^"]+)"[^>]*>', proc.stdout)
    t = re.search(r'\btimeout="([^"]+)"', proc.stdout)
    return (m.group(1), t.group(1) if t else None) if m else None


def _set_timeout(lab: Lab, op_id: str, timeout: str, on: int) -> None:
    """Set the op's timeout through node ``on`` (a node that stays up: the drill's other
    node), and check that the CIB says so."""
    lab.cluster.node(on, "cibadmin", "--modify", "--xml-text", f'<op id="{op_id}" timeout="{timeout}"/>')
    proc = lab.cluster.node(on, "cibadmin", "-Q", "--xpath", f"//op[@id='{op_id}']", check=False)
    if f'timeout="{timeout}"' not in proc.stdout:
        raise ClusterError(f"the CIB does not say timeout={timeout} for {op_id}: {proc.stdout.strip()[:200]}")


def stop_failed(lab: Lab, bound: float = 150) -> Result:
    if not lab.opts.fencing or lab.opts.mode != "group":
        raise ClusterError("stop-failed runs on the group snippet with fencing (rao-lab up)")
    res = Result("stop-failed")
    ready(lab)
    a = lab.active_node()
    others = other_nodes(lab, a)
    b = others[0]
    op = _stop_op(lab, "keystone")
    if not op:
        raise ClusterError("keystone has no stop op in the CIB")
    op_id, old_timeout = op
    if not old_timeout:
        raise ClusterError(f"keystone's stop op {op_id} has no timeout to restore")
    try:
        _set_timeout(lab, op_id, STOP_TIMEOUT, b)
        lab.cluster.wait_idle(60, "the stop timeout change")
        with Poller(lab, "stop-failed") as poller, StopFreezer(lab, a) as freezer:
            poller.wait_healthy()
            t_fault = time.time()
            lab.cluster.crm("node", "standby", f"node{a}", i=b)
            lab.say(f"stop-failed: crm node standby node{a}; its keystone stop is frozen (timeout {STOP_TIMEOUT})")

            def taken_over() -> Optional[str]:
                if not fencing.fenced(power_log(lab), f"node{a}", t_fault):
                    return f"node{a} not fenced yet (frozen stops: {len(freezer.frozen)})"
                why = lab.settled(lab.mon(b), expect_nodes=node_names(others), allow_failures=True)
                return why or poller.unsteady(t_fault)
            record_recovery(res, f"node{a} fenced, everything on node{b}", bound, taken_over, lab)
            time.sleep(TAIL)
            t_end = time.time()
        res.extra["frozen_stops"] = [round(t - t_fault, 2) for t in sorted(freezer.frozen.values())]
    finally:
        _set_timeout(lab, op_id, old_timeout, b)     # the snippet's own value, checked
    poller.record(res, t_fault, t_end)
    order = record_fenced_fault(lab, res, a, others, t_fault)
    res.notes.append(f"keystone stop frozen at +{res.extra['frozen_stops'][0]:.1f}s" if res.extra["frozen_stops"]
                     else "no keystone stop was seen")
    res.extra["stop_failures"] = _stop_failures(lab, b)
    # detection here: the stop's timeout, not a node declared lost
    det, res.event = first_log_event(lab, t_fault, r"Result of stop operation for keystone on node\d+: (Timed Out|error)")
    res.detection = det - t_fault if det else None
    back = Result("online")
    lab.cluster.crm("node", "online", f"node{a}", i=b)
    record_recovery(back, f"node{a} (rebooted by its fence) online again", bound,
                    lambda: lab.settled(lab.mon(b), expect_nodes=all_nodes(lab), allow_failures=True), lab,
                    stable=False)
    res.phases["online"] = back
    res.ok = res.ok and back.ok and bool(res.extra["frozen_stops"])
    judge(lab, res, order)
    settle_after(lab)
    return res


def _stop_failures(lab: Lab, viewer: int) -> List[str]:
    """What Pacemaker recorded of the failed stop (crm_mon's failed actions)."""
    out = lab.cluster.node(viewer, "crm_mon", "-1", "--include=failures", check=False).stdout
    return [line.strip() for line in out.splitlines() if "stop" in line and "keystone" in line]


DRILLS: Dict[str, Callable[[Lab], Result]] = {"stop-failed": stop_failed}
