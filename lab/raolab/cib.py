"""What crm_mon's XML and the CIB's status section say: resource instances and where they
run, nodes, operation histories, failures, operations in flight. Pure readers of XML (no
cluster needed), so that the settle and drill logic built on them has unit tests with
recorded output."""

import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

def in_flight(status: ET.Element) -> List[str]:
    """"node: operation key" of every operation in flight in the CIB's status section: a
    record-pending entry (op-status -1) whose result is not stored beside it. Pacemaker 2.1.5
    stores a recurring monitor's failed or degraded first result as <rsc>_last_failure_0 and
    leaves the pending entry in place until the next run (a minute for a depth-10 monitor):
    that operation is done, its transition-key says which one it was."""
    out = []
    for node in status.iter("node_state"):
        for rsc in node.iter("lrm_resource"):
            ops = rsc.findall("lrm_rsc_op")
            done = {op.get("transition-key") for op in ops if op.get("op-status") != "-1"}
            out += [f"{node.get('uname')}: {op.get('operation_key')}" for op in ops
                    if op.get("op-status") == "-1" and op.get("transition-key") not in done]
    return out


def resource_states(mon: ET.Element) -> Dict[str, Dict[str, str]]:
    """Primitive id -> {role, active, failed, node} from crm_mon's XML (last instance wins
    for clones: see resource_instances)."""
    return {r["id"]: r for r in resource_instances(mon)}


def resource_instances(mon: ET.Element) -> List[Dict[str, str]]:
    """Every resource instance (clone instances separately, "clone": the clone's id, else
    "") from crm_mon's XML: every resource the CIB defines, running or not."""
    found = []
    resources = mon.find("resources")
    clone_of = {id(res): clone.get("id", "") for clone in (resources.iter("clone") if resources is not None else ())
                for res in clone.iter("resource")}
    for res in (resources.iter("resource") if resources is not None else ()):
        node = res.find("node")
        found.append({"id": res.get("id", ""), "role": res.get("role", ""), "active": res.get("active", ""),
                      "failed": res.get("failed", ""), "node": node.get("name") if node is not None else "",
                      "clone": clone_of.get(id(res), ""), "agent": res.get("resource_agent", "")})
    return found


def placement(mon: ET.Element) -> Dict[str, List[str]]:
    """Resource id -> the nodes where an instance of it is Started."""
    found: Dict[str, List[str]] = {}
    for r in resource_instances(mon):
        if r["role"] == "Started" and r["node"]:
            found.setdefault(r["id"], []).append(r["node"])
    return {k: sorted(v) for k, v in found.items()}


def moves(before: Dict[str, List[str]], after: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """Resource id -> the nodes it ran on before and no longer runs on (a move, or a stop),
    between two placements. An instance that starts where none ran (a first start, a
    clone instance on a node that joined) is not a move."""
    left = {rsc: sorted(set(nodes) - set(after.get(rsc, []))) for rsc, nodes in before.items()}
    return {rsc: nodes for rsc, nodes in left.items() if nodes}


def online_nodes(mon: ET.Element, standby: bool = True) -> List[str]:
    """Online nodes (standby=False: only those that may run resources)."""
    return sorted(n.get("name") for n in mon.iterfind("./nodes/node") if n.get("online") == "true"
                  and (standby or n.get("standby") != "true"))


def operation_history(mon: ET.Element, rsc: str, node: Optional[str] = None) -> List[Dict[str, str]]:
    where = f"[@name='{node}']" if node else ""
    return [dict(op.attrib) for op in
            mon.iterfind(f"./node_history/node{where}/resource_history[@id='{rsc}']/operation_history")]


def failures(mon: ET.Element) -> List[Dict[str, str]]:
    return [dict(f.attrib) for f in mon.iterfind("./failures/failure")]


def fail_counts(mon: ET.Element) -> Dict[str, int]:
    """'rsc@node' -> fail-count, from the node history."""
    counts = {}
    for node in mon.iterfind("./node_history/node"):
        for rh in node.iterfind("resource_history"):
            value = rh.get("fail-count")
            if value:
                counts[f"{rh.get('id')}@{node.get('name')}"] = 1000000 if value == "INFINITY" else int(value)
    return counts


def latest_operation(ops: List[Dict[str, str]]) -> Optional[Dict[str, str]]:
    """The newest of crm_mon's operation_history entries (by last-rc-change, then by
    position: a later entry wins a tie), or None."""
    def when(op: Dict[str, str]) -> float:
        try:
            return time.mktime(time.strptime(" ".join(op.get("last-rc-change", "").split()),
                                             "%a %b %d %H:%M:%S %Y"))
        except ValueError:
            return 0.0
    return max(enumerate(ops), key=lambda item: (when(item[1]), item[0]), default=(0, None))[1]


def latest_monitor(mon: ET.Element, rsc: str, node: str, interval_ms: int) -> Optional[Dict[str, str]]:
    """The newest result of rsc's recurring monitor of that interval on node, or None. crm_mon
    lists a degraded or failed result as well as the current one (same call id)."""
    return latest_operation([op for op in operation_history(mon, rsc, node) if op.get("task") == "monitor"
                             and op.get("interval") == f"{interval_ms}ms"])


def quorum(mon: ET.Element) -> bool:
    dc = mon.find("./summary/current_dc")
    return dc is not None and dc.get("with_quorum") == "true"
