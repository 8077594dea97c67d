"""Failure-watcher drills: with ``watch=true`` (``rao-lab up --watch``), routine
administration records no failure, and a killed watcher is replaced by the monitor.

  watch-quiet   one after the other, each waited out until the lab has settled:
                crm resource restart keystone; the floating IP moved to another controller
                and its constraint cleared (crm resource move, then clear); the active node
                put in standby, then online; keystone unmanaged, then managed again; the
                cluster in maintenance-mode, then out of it. Afterwards: no failed action in
                crm_mon, no failure (watcher report or failed monitor) in any node's
                pacemaker.log since the drill began, and a watcher beside every running
                Keystone and Glance.
  watch-killed  the active node's Keystone watcher killed (SIGKILL): the next recurring
                monitor logs the missing watcher and starts a new one; no failure recorded.

Death and hang with the watcher on are the keystone-kill, glance-kill and keystone-hang
drills (service.py) on a lab brought up with --watch: their detection event is then the
watcher's report (an asyncmon failure) when it comes first.
"""

import re
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..cib import failures, online_nodes
from ..cluster import ClusterError
from ..lab import SERVICES, Lab
from .common import all_nodes, log_events, ready, settle_after, wait_until
from .result import Result

DESCRIPTIONS = {
    "watch-quiet": "failure watcher on: restart, move, standby/online, unmanage/manage and maintenance-mode "
                   "cycles record no failure",
    "watch-killed": "failure watcher on: the active node's Keystone watcher killed; the monitor starts a new "
                    "one, no failure recorded",
}
FAILURE = r"Updating failcount for \S+ on \S+ after failed (asyncmon|monitor)"
MONITOR_INTERVAL = 10.0    # the snippets' depth-0 monitor: a missing watcher is noticed by then
WATCHER = "ocf_openstack.watchers.failure.loop"

# (what, crm commands, who must be active and serving afterwards: "all" or "others" than
# the node that was active when the step began). {a}: that node, {b}: another one,
# {standby}: the node in standby, {keystone}: Keystone's resource (its clone in the
# active/active snippets).
Step = Tuple[str, Tuple[Tuple[str, ...], ...], str]
QUIET_STEPS: Tuple[Step, ...] = (
    ("crm resource restart {keystone}", (("resource", "restart", "{keystone}"),), "all"),
    ("the floating IP moved to {b}", (("resource", "move", "FloatingIP", "{b}"),), "all"),
    ("its constraint cleared", (("resource", "clear", "FloatingIP"),), "all"),
    ("{a} in standby", (("node", "standby", "{a}"),), "others"),
    ("{standby} online again", (("node", "online", "{standby}"),), "all"),
    ("{keystone} unmanaged", (("resource", "unmanage", "{keystone}"),), "all"),
    ("{keystone} managed again", (("resource", "manage", "{keystone}"),), "all"),
    ("maintenance-mode on", (("configure", "property", "maintenance-mode=true"),), "all"),
    ("maintenance-mode off", (("configure", "property", "maintenance-mode=false"),), "all"),
)
# what a step left behind, undone when the drill stops half-way (the next drill must not
# meet a move constraint, a node in standby, an unmanaged resource or maintenance-mode)
QUIET_UNDO: Tuple[Tuple[str, ...], ...] = (
    ("configure", "property", "maintenance-mode=false"),
    ("resource", "manage", "{keystone}"),
    ("node", "online", "{node}"),
    ("resource", "clear", "FloatingIP"),
)


def watchers(lab: Lab, i: int) -> Dict[str, int]:
    """instance -> pid of the failure watchers that run on node i (from their state files,
    checked against the process table of the node)."""
    out = lab.cluster.node(i, "sh", "-c", "grep -H ^watcher_pid= /run/resource-agents/*.watch 2>/dev/null; true",
                           check=False).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r".*/openstack-(.+)\.watch:watcher_pid=(\d+)$", line)
        if not m:
            continue
        cmdline = lab.cluster.node(i, "cat", f"/proc/{m.group(2)}/cmdline", check=False).stdout
        if WATCHER in cmdline:
            found[m.group(1)] = int(m.group(2))
    return found


def missing_watchers(lab: Lab) -> Optional[str]:
    """Why not every running Keystone and Glance has its watcher (None: each has)."""
    mon = lab.mon()
    for rsc in SERVICES:
        for node in lab.where(rsc, mon):
            i = int(node[len("node"):])
            if not any(name.split(":")[0] == rsc for name in watchers(lab, i)):
                return f"no watcher of {rsc} on {node}"
    return None


def log_lines(lab: Lab, since: float, pattern: str) -> List[str]:
    """Every line of the nodes' pacemaker.log at or after ``since`` that matches ``pattern``."""
    return [f"node{i}: {line}" for _, i, line in log_events(lab, since, pattern)]


def recorded_failures(lab: Lab, since: float) -> List[str]:
    """The failures Pacemaker recorded since ``since``: crm_mon's failed actions (not the
    degraded results) and the failcount lines of every node's pacemaker.log."""
    listed = [f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('exitstatus')}"
              for f in failures(lab.mon()) if f.get("exitcode") != "190"]   # 190: degraded, not a failure
    return listed + log_lines(lab, since, FAILURE)


def _fill(args: Tuple[str, ...], names: Dict[str, str]) -> List[str]:
    return [arg.format(**names) for arg in args]


def keystone_resource(lab: Lab) -> str:
    """Keystone's resource: its clone in the active/active snippets."""
    return "keystone" if lab.opts.mode == "group" else "keystone-clone"


def quiet_step(lab: Lab, step: Step, bound: float = 120) -> str:
    """Run one of QUIET_STEPS and wait until the lab has settled; what was done, and how long
    it took (ClusterError if it did not settle within bound)."""
    what, commands, who = step
    a = lab.active_node()
    others = [f"node{i}" for i in range(1, lab.opts.nodes + 1) if i != a]
    mon = lab.mon()
    in_standby = sorted(set(online_nodes(mon)) - set(online_nodes(mon, standby=False)))
    names = {"a": f"node{a}", "b": others[0], "standby": in_standby[0] if in_standby else "",
             "keystone": keystone_resource(lab)}
    t0 = time.monotonic()
    for cmd in commands:
        lab.cluster.crm(*_fill(cmd, names), i=int(others[0][len("node"):]))
    # until the DC acts on the change, crm_mon still shows the old, settled state
    lab.cluster.wait_idle(bound, what.format(**names))
    expect = others if who == "others" else all_nodes(lab)
    wait_until(what.format(**names), bound, lambda: lab.settled(lab.mon(), expect_nodes=expect), lab)
    return f"{what.format(**names)} ({time.monotonic() - t0:.0f}s)"


def undo_quiet_steps(lab: Lab) -> None:
    """Run QUIET_UNDO (each command whatever the one before did)."""
    nodes = all_nodes(lab)
    for cmd in QUIET_UNDO:
        for node in nodes if "{node}" in cmd else nodes[:1]:
            lab.cluster.crm(*_fill(cmd, {"keystone": keystone_resource(lab), "node": node}), check=False)
    lab.say("watch-quiet: stopped half-way; moves cleared, every node online, managed, maintenance-mode off")


def watch_quiet(lab: Lab, bound: float = 120) -> Result:
    res = Result("watch-quiet")
    ready(lab)
    t0 = time.time()
    steps: List[str] = []
    try:
        for step in QUIET_STEPS:
            steps.append(quiet_step(lab, step, bound))
            lab.say(f"watch-quiet: {steps[-1]}")
        wait_until("a watcher beside every service", 2 * MONITOR_INTERVAL + 10, lambda: missing_watchers(lab), lab)
    except ClusterError as err:
        res.error = str(err).splitlines()[0]
        undo_quiet_steps(lab)
    res.extra["steps"] = steps
    res.extra["failures"] = recorded_failures(lab, t0)
    res.ok = not res.error and not res.extra["failures"]
    res.notes.append(f"{len(steps)} of {len(QUIET_STEPS)} steps, failures recorded: {len(res.extra['failures'])}")
    settle_after(lab)
    return res


def watch_killed(lab: Lab, bound: float = 60) -> Result:
    res = Result("watch-killed")
    ready(lab)
    a = lab.active_node()
    before = {name: pid for name, pid in watchers(lab, a).items() if name.split(":")[0] == "keystone"}
    if len(before) != 1:
        raise ClusterError(f"not one Keystone watcher on node{a}: {before} (is the lab up with --watch?)")
    (instance, pid), = before.items()
    t0 = time.time()
    lab.cluster.node(a, "kill", "-9", str(pid))
    lab.say(f"watch-killed: kill -9 of the watcher of {instance} (pid {pid}) on node{a}")

    def replaced() -> Optional[str]:
        now = watchers(lab, a).get(instance)
        return None if now and now != pid else "no new watcher yet"
    try:
        res.recovered = wait_until(f"a new watcher of {instance}", bound, replaced, lab)
    except ClusterError as err:
        res.error = str(err).splitlines()[0]
    # the agent's own log lines carry no milliseconds and start with the agent's name; the
    # watcher's pid makes the line unique
    said = [line for line in lab.cluster.pacemaker_log(a).splitlines()
            if f"failure watcher missing (pid {pid} is gone)" in line]
    res.event = said[0] if said else ""
    res.extra["failures"] = recorded_failures(lab, t0)
    res.ok = not res.error and bool(said) and not res.extra["failures"]
    if not said:
        res.notes.append("the monitor did not log the missing watcher")
    settle_after(lab)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"watch-quiet": watch_quiet, "watch-killed": watch_killed}
