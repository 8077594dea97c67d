"""Fencing in the lab (``rao-lab up --fencing``, opt-in until the drills run with it): a fence device per node on the lab's power
switch (raolab.power, reached by lab/fence_raolab over a UNIX socket), and the cluster
properties a fencing two- or three-node cluster needs.

- Each node's device (``fence-nodeI``) may run anywhere but on the node it fences.
- ``stonith-timeout`` 60 s: above ``priority-fencing-delay`` plus an off (Pacemaker 2.1.5
  does not add the delays to the timeout itself).
- ``priority-fencing-delay`` with ``rsc_defaults priority=1`` (the ClusterLabs recipe): in
  a two-node link cut the node running more resources (the floating IP and the services of
  the group, or the IP beside the clones) has the higher total priority, so fencing of it
  waits and it wins the race. The price: when that node really fails (a frozen
  controller), its fence waits the delay too, so the delay is kept short (5 s: more than an
  off of the other node takes, which the switch does in 0.1-0.2 s).
- Two nodes keep corosync's ``two_node`` (with ``wait_for_all``), three have real quorum;
  ``no-quorum-policy`` stays Pacemaker's default (stop).
"""

import os
import shutil
from pathlib import Path

from .cluster import LAB_DIR

AGENT = LAB_DIR / "fence_raolab"
INSTALLED_AGENT = Path("/usr/sbin/fence_raolab")   # where pacemaker-fenced looks for fence_*
PRIORITY_DELAY = 5       # s: the switch powers a node off in 0.1-0.2 s; an IPMI board needs more
STONITH_TIMEOUT = 60     # s: > PRIORITY_DELAY + an off (a few seconds)


def install_agent() -> str:
    """Put fence_raolab where pacemaker-fenced finds agents (the nodes share the host's /usr)."""
    if not INSTALLED_AGENT.exists() or INSTALLED_AGENT.read_bytes() != AGENT.read_bytes():
        partial = INSTALLED_AGENT.with_name(f".{INSTALLED_AGENT.name}.{os.getpid()}")
        shutil.copy2(AGENT, partial)
        partial.chmod(0o755)
        os.replace(partial, INSTALLED_AGENT)     # a fencer never runs a half-written agent
        return f"installed {INSTALLED_AGENT} (lab only)"
    return f"{INSTALLED_AGENT} is current"


def crm(nodes: int, switch: Path) -> str:
    """The lab's fencing configuration, for ``crm configure load update``."""
    lines = ["# rao-lab with fencing: a device per node on the power switch of the lab (LAB ONLY)"]
    for i in range(1, nodes + 1):
        lines += [f"primitive fence-node{i} stonith:fence_raolab \\",
                  f"    params port=node{i} switch={switch} pcmk_host_list=node{i} \\",
                  "    op monitor interval=60s timeout=20s",
                  f"location fence-node{i}-elsewhere fence-node{i} -inf: node{i}"]
    lines += ["rsc_defaults rsc-options: priority=1",
              "property cib-bootstrap-options: \\",
              "    stonith-enabled=true \\",
              f"    stonith-timeout={STONITH_TIMEOUT}s \\",
              f"    priority-fencing-delay={PRIORITY_DELAY}s"]
    return "\n".join(lines) + "\n"
