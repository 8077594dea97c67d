"""Node attributes through Pacemaker's attrd_updater (crm_attribute for a permanent one): set,
delete and read them across the cluster. Transient: attrd forgets a node's attributes when it leaves the cluster.
A private attribute (-p) is never written to the CIB (no policy run, no CIB churn) and
other nodes' attrd_updater still read it. Every call is bounded; outside a cluster
(ocf-tester, a shell) attrd_updater fails at once and the caller decides what that means.
"""

import re
import subprocess
from typing import Dict, Optional

ATTRD_UPDATER = "/usr/sbin/attrd_updater"
CRM_ATTRIBUTE = "/usr/sbin/crm_attribute"
ATTRD_TIMEOUT = 5.0
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
_QUERY_LINE = re.compile(r'name="(?P<name>[^"]*)"\s+host="(?P<host>[^"]*)"\s+value="(?P<value>[^"]*)"')


def _run(args, timeout: float, tool: str = "") -> Optional[subprocess.CompletedProcess]:
    try:
        return subprocess.run([tool or ATTRD_UPDATER, *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=max(0.1, min(ATTRD_TIMEOUT, timeout)), env=CLEAN_ENV)
    except (OSError, subprocess.TimeoutExpired):
        return None


def update(name: str, value: str, timeout: float, private: bool = False) -> bool:
    """Set this node's value of ``name``."""
    proc = _run(["-n", name, "-U", value, *(["-p"] if private else [])], timeout)
    return proc is not None and proc.returncode == 0


def delete(name: str, timeout: float) -> bool:
    """Remove this node's value of ``name`` (a rule then sees it undefined)."""
    proc = _run(["-n", name, "-D"], timeout)
    return proc is not None and proc.returncode == 0


def query_all(name: str, timeout: float) -> Dict[str, str]:
    """host -> value of ``name`` on every node that has it ({} when attrd does not answer)."""
    proc = _run(["-n", name, "-Q", "-A"], timeout)
    if proc is None or proc.returncode != 0:
        return {}
    return {m.group("host"): m.group("value") for m in _QUERY_LINE.finditer(proc.stdout)
            if m.group("name") == name}


def set_permanent(node: str, name: str, value: str, timeout: float) -> bool:
    """Set ``node``'s permanent attribute ``name`` (crm_attribute -l forever: in the CIB's
    nodes section, it outlives the node's membership). Every write is a CIB change: call it
    only when the value changes."""
    proc = _run(["-N", node, "-n", name, "-l", "forever", "-v", value], timeout, CRM_ATTRIBUTE)
    return proc is not None and proc.returncode == 0
