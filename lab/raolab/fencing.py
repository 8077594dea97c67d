"""Fencing in the lab (on by default; ``rao-lab up --no-fencing`` for comparison only): a
fence device per node on the lab's power switch (raolab.power, reached by lab/fence_raolab
over a UNIX socket), the cluster properties a fencing cluster needs, and what the switch and
Pacemaker say about the fencing actions.

- Each node's device (``fence-nodeI``) may run anywhere but on the node it fences.
- Two nodes: the installed ``lab-two-node.crm`` (stonith-enabled=true, stonith-timeout=60s,
  priority-fencing-delay=5s), loaded in the same commit as the devices (crmsh 5 refuses
  fencing without a device). With the snippets' ``priority=10`` on the floating IP, in a
  link cut the node holding the IP has the higher total priority, so the fencing of it
  waits and it wins the race; the price: a real failure of that node is fenced 5 s later.
  corosync keeps ``two_node`` (with ``wait_for_all``).
- Three nodes: real quorum; the majority fences the node it lost, no delay needed
  (stonith-enabled=true, stonith-timeout=60s).
- ``no-quorum-policy`` stays Pacemaker's default (stop) everywhere.
- ``--no-fencing``: stonith-enabled=false, set by the lab alone (no shipped file does).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from . import power
from .cluster import FENCE_AGENT

AGENT = FENCE_AGENT
INSTALLED_AGENT = Path("/usr/sbin/fence_raolab")   # where pacemaker-fenced looks for fence_*
TWO_NODE_PROPERTIES = "lab-two-node.crm"           # installed with the .deb (crm/)
STONITH_TIMEOUT = 60     # s: > priority-fencing-delay (5 s) + an off (the switch: 3 s, 13 s at worst)


def install_agent() -> str:
    """Put fence_raolab where pacemaker-fenced finds agents (the nodes share the host's /usr)."""
    if not INSTALLED_AGENT.exists() or INSTALLED_AGENT.read_bytes() != AGENT.read_bytes():
        partial = INSTALLED_AGENT.with_name(f".{INSTALLED_AGENT.name}.{os.getpid()}")
        shutil.copy2(AGENT, partial)
        partial.chmod(0o755)
        os.replace(partial, INSTALLED_AGENT)     # a fencer never runs a half-written agent
        return f"installed {INSTALLED_AGENT} (lab only)"
    return f"{INSTALLED_AGENT} is current"


def devices(nodes: int, switch: Path) -> str:
    """A fence device per node, each kept off the node it fences."""
    lines = ["# rao-lab: a fence device per node on the power switch of the lab (LAB ONLY)"]
    for i in range(1, nodes + 1):
        lines += [f"primitive fence-node{i} stonith:fence_raolab \\",
                  f"    params port=node{i} switch={switch} pcmk_host_list=node{i} \\",
                  "    op monitor interval=60s timeout=20s",
                  f"location fence-node{i}-elsewhere fence-node{i} -inf: node{i}"]
    return "\n".join(lines) + "\n"


def crm(nodes: int, switch: Path, two_node_properties: Optional[str] = None) -> str:
    """What the lab loads before the snippet, in one commit: the devices and the properties
    (two nodes: the text of the installed lab-two-node.crm)."""
    if nodes == 2:
        if two_node_properties is None:
            raise ValueError("two nodes: pass the text of the installed lab-two-node.crm")
        return devices(nodes, switch) + "\n" + two_node_properties
    return devices(nodes, switch) + ("property cib-bootstrap-options: \\\n    stonith-enabled=true \\\n"
                                     f"    stonith-timeout={STONITH_TIMEOUT}s\n")


def no_fencing_crm() -> str:
    """--no-fencing: the lab alone turns fencing off (for comparison only)."""
    return ("# rao-lab --no-fencing: LAB ONLY, for comparison; a cut link gives two active nodes\n"
            "property cib-bootstrap-options: \\\n    stonith-enabled=false\n")


# ---------------------------------------------------------------- what happened

def actions(log_path: Path, since: float = 0.0, target: Optional[str] = None,
            fencers_only: bool = True) -> List[Dict]:
    """The switch's power requests at or after ``since`` (oldest first): those of the nodes'
    fencers (fencers_only), or every one (the lab's own crashes and boots, the boots after
    a POST, too)."""
    found = []
    for record in power.read_log(log_path):
        if record["time"] < since - 0.001 or record["action"] in ("status", "list"):
            continue
        if target and record["target"] != target:
            continue
        if fencers_only and not record["caller"].startswith("node"):   # the lab's hand, the switch's boots
            continue
        found.append(record)
    return found


def fenced(log_path: Path, target: str, since: float = 0.0) -> List[Dict]:
    """The successful fencing actions (off or reboot by a node's fencer) on target."""
    return [r for r in actions(log_path, since, target) if r["result"] == "ok" and r["action"] in ("off", "reboot")]


def describe(record: Dict) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(record["time"])) + f".{int(record['time'] * 1000) % 1000:03d}"
    return (f"{when} {record['caller']}: {record['action']} {record['target']} -> {record['result']} "
            f"({record['detail']}, {record['took']:.1f}s)")


def history(cluster, viewer: Optional[int] = None) -> str:
    """Pacemaker's own fence history (stonith_admin --history '*'), as a node sees it."""
    try:
        proc = cluster.node(cluster.viewer(viewer), "stonith_admin", "--history", "*", check=False, timeout=20)
    except (AssertionError, subprocess.TimeoutExpired) as err:
        return f"(no fence history: {str(err).splitlines()[0]})"
    return (proc.stdout + proc.stderr).strip() or "(no fencing action yet)"

