"""The local copy of the CIB, read once (``cibadmin -Q -l``: no round trip to the DC, no
write), and what it says of each node: online or not, in standby or not, its permanent and
transient attributes. keys-watch compares keys with it; the HAProxy agent-check responder
reads every node's verdicts from it. Bounded; outside a cluster it answers None at once."""

import subprocess
from typing import Dict, NamedTuple, Optional
from xml.etree import ElementTree as ET

from .attrd import ATTRD_TIMEOUT, CLEAN_ENV

CIBADMIN = "/usr/sbin/cibadmin"
OFF_WORDS = ("offline", "false", "0", "")
ACTIVE_OPS = ("start", "monitor", "promote", "demote", "migrate_from")
STANDBY_WORDS = ("on", "true", "yes", "1")


class NodeState(NamedTuple):
    """One node as the CIB describes it."""

    name: str
    online: bool
    standby: bool
    permanent: Dict[str, str]     # the nodes section (crm_attribute -l forever)
    transient: Dict[str, str]     # the status section (attrd_updater; private ones are absent)
    state: Optional[ET.Element]   # its node_state element (resource history), None if it has none


def query(timeout: float) -> Optional[ET.Element]:
    """The local CIB, or None (no cluster here, no answer within ``timeout``, not XML)."""
    try:
        proc = subprocess.run([CIBADMIN, "-Q", "-l"], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=max(0.1, min(ATTRD_TIMEOUT, timeout)), env=CLEAN_ENV)
        return ET.fromstring(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ET.ParseError):
        return None


def _pairs(parent: Optional[ET.Element], path: str) -> Dict[str, str]:
    if parent is None:
        return {}
    return {nv.get("name", ""): nv.get("value", "") for nv in parent.iterfind(path)}


def is_online(state: Optional[ET.Element]) -> bool:
    """Pacemaker 2.1 writes crmd="online" in_ccm="true"; 3.0 timestamps (0 or absent when not)."""
    return state is not None and state.get("crmd", "offline") not in OFF_WORDS \
        and state.get("in_ccm", "false") not in OFF_WORDS


def active(state: Optional[ET.Element], resource: str) -> bool:
    """Whether ``resource`` (a primitive, or an instance of its clone) is active on this
    node_state: its last non-recurring operation a successful start, or a probe or monitor
    that found it running."""
    if state is None:
        return False
    for rsc in state.iterfind("./lrm/lrm_resources/lrm_resource"):
        rid = rsc.get("id", "")
        if rid == resource or rid.startswith(resource + ":"):
            last = next((op for op in rsc.iterfind("./lrm_rsc_op") if op.get("id") == f"{rid}_last_0"), None)
            if last is not None and last.get("operation") in ACTIVE_OPS and last.get("rc-code") in ("0", "8"):
                return True
    return False


def nodes(cib: ET.Element) -> Dict[str, NodeState]:
    """Every node of the configuration, by name."""
    states = {s.get("uname"): s for s in cib.iterfind("./status/node_state")}
    found = {}
    for node in cib.iterfind("./configuration/nodes/node"):
        name = node.get("uname") or node.get("id") or ""
        permanent = _pairs(node, "./instance_attributes/nvpair")
        state = states.get(name)
        transient = _pairs(state, "./transient_attributes/instance_attributes/nvpair")
        # standby "forever" is in the nodes section, standby until the next reboot in the status
        standby = (transient.get("standby") or permanent.get("standby", "")).lower() in STANDBY_WORDS
        found[name] = NodeState(name, is_online(state), standby, permanent, transient, state)
    return found
