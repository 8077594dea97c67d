"""When a lab is settled: the check every topology shares, on crm_mon's XML (pure, so the
unit tests feed it recorded output).

Every resource the CIB defines counts (crm_mon lists them all, running or not): the
snippet's primitives Started once, each clone (Keystone and Glance in the active/active
snippets, HAProxy, and the database-watch and keys-watch watchers) Started on every active
node (online, not in standby), and the topology's own placement rule kept. An up or a drill
that went on with a watcher still starting would count its start as part of the drill.
"""

import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

from ..cib import failures, latest_monitor, online_nodes, operation_history, placement, resource_instances
from ..cluster import ClusterError
from .base import SERVICES, Topology


def describe(instances: List[Dict[str, str]]) -> str:
    return ", ".join(f"{r['id']}@{r['node'] or '-'}:{r['role']}" for r in instances)


def settled(mon: ET.Element, topology: Topology, expect_nodes: Optional[List[str]] = None,
            allow_failures: bool = False, allow_degraded: bool = False) -> Optional[str]:
    """None when every resource runs where it should and is healthy, else why not.
    expect_nodes: the nodes that must be online and not in standby."""
    nodes = online_nodes(mon, standby=False)
    if expect_nodes is not None and nodes != sorted(expect_nodes):
        return f"active nodes {nodes}, expected {sorted(expect_nodes)}"
    inst = resource_instances(mon)
    # a clone's instance without a node is a spare (clone-max counts offline nodes too); so is
    # a fence device (--fencing) while a node is down: nodeI's device may run on the others only
    some_down = len(mon.findall("./nodes/node")) > len(nodes)
    spare = [r for r in inst if not r["node"] and (r["clone"] or (some_down and r["agent"].startswith("stonith:")))]
    bad = [r for r in inst if r not in spare and not (
        r["role"] == "Started" and r["active"] == "true" and r["failed"] == "false")]
    if bad:
        return "not Started: " + describe(bad)
    where = placement(mon)
    missing = [r for r in topology.named if r not in where]
    if missing:   # not even listed yet: the snippet is not loaded
        return f"not running: {missing}"
    short = [f"{rsc} on {where.get(rsc, [])}" for rsc in sorted({r["id"] for r in inst if r["clone"]})
             if where.get(rsc, []) != nodes]
    if short:
        return f"clones not on every active node {nodes}: {', '.join(short)}"
    why = topology.placement(where)
    if why:
        return why
    # a degraded result (190) is listed among the failures, but it is no failure: a
    # depth-10 monitor that met a Keystone still loading right after the start. It stays
    # listed after the monitor passed again (only a cleanup forgets it): once it passed, it
    # counts no more; before, only where the caller accepts degraded (bring-up)
    listed = [f for f in failures(mon) if not (f.get("exitcode") == "190" and (
        allow_degraded or passed_since(mon, f)))]
    if listed and not allow_failures:
        return f"failed actions: {listed}"
    return None


def passed_since(mon: ET.Element, failure: Dict[str, str]) -> bool:
    """Whether the recurring monitor of a listed failure has passed after it (its newest
    result in the node history is 0)."""
    if failure.get("task") != "monitor" or not failure.get("interval", "").rstrip("ms").isdigit():
        return False
    rsc = failure.get("op_key", "").rsplit("_", 2)[0]    # glance-api_monitor_60000
    latest = latest_monitor(mon, rsc, failure.get("node", ""), int(failure["interval"].rstrip("ms")))
    return latest is not None and latest.get("rc") == "0"


def depth10_pending(mon: ET.Element, failed_is_pending: bool = False) -> Optional[str]:
    """None once every running instance's authenticated monitor (the longer interval) passed.
    A failed one is an error, or with ``failed_is_pending`` (Pacemaker recovers the
    service and its monitor runs again) one more reason to wait."""
    pending = []
    for node in online_nodes(mon, standby=False):
        for rsc in SERVICES:
            ops = [op for op in operation_history(mon, rsc, node) if op.get("task") == "monitor"]
            intervals = sorted({int(op["interval"].rstrip("ms")) for op in ops if op.get("interval") not in (None, "0ms")})
            if not ops:
                continue   # not running there
            # the newest result counts: a degraded one stays listed as the last failure
            # (same operation, same call id) after the monitor passed again
            latest = latest_monitor(mon, rsc, node, intervals[-1]) if intervals else None
            if (len(intervals) < 2 or latest is None or latest.get("rc") in ("193", "190")
                    or (failed_is_pending and latest.get("rc") != "0")):
                pending.append(f"{rsc}@{node}")   # not run yet, degraded, or being recovered: wait for a pass
            elif latest.get("rc") != "0":
                raise ClusterError(f"{rsc} depth-10 monitor failed on {node}: {latest}")
    return f"depth-10 monitors pending: {pending}" if pending else None
