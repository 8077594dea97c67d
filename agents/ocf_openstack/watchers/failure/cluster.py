"""The failure watcher's calls to Pacemaker: one bounded crm_mon before a report (would
Pacemaker act on it?), and the report itself (the node's failed mark, then
``crm_resource --fail``, as resource-agents' ``sfex_daemon`` does)."""

from typing import Callable, List

from . import mark
from .machine import ClusterView, judge_cluster
from .state import CLEAN_PATH

CRM_MON = "/usr/sbin/crm_mon"
CRM_RESOURCE = "/usr/sbin/crm_resource"
CLUSTER_QUERY_TIMEOUT = 5.0
REPORT_TIMEOUT = 10.0


def _crm(argv: List[str], timeout: float):
    import subprocess

    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, env={"PATH": CLEAN_PATH, "LANG": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None


def report_failure(service: str, pid: str, instance: str, node: str, reason: str,
                   warn: Callable[[str], None]) -> bool:
    """Mark this node (``mark``), then tell Pacemaker ``instance`` failed on ``node``; log
    it. Whether Pacemaker took the failure."""
    # the mark first: the IP may leave in the transition the failure starts (clone snippet)
    marked = mark.mark(service)
    proc = _crm([CRM_RESOURCE, "--fail", "--resource", instance, "--node", node], REPORT_TIMEOUT)
    ok = proc is not None and proc.returncode == 0
    detail = "" if ok else f" (crm_resource failed: {(proc.stderr.strip() if proc else 'did not run')[:200]})"
    unmarked = "" if marked else f" (node attribute {mark.attribute(service)} not set)"
    warn(f"watcher: {service} (pid {pid}) {reason}: reported to Pacemaker as a failure of {instance} "
         f"on {node}{detail}{unmarked}")
    return ok


def query_cluster(instance: str, node: str) -> ClusterView:
    proc = _crm([CRM_MON, "--output-as=xml", "-1"], CLUSTER_QUERY_TIMEOUT)
    if proc is None or proc.returncode != 0:
        return ClusterView(False, "crm_mon did not answer (no cluster here?)")
    return judge_cluster(proc.stdout, instance, node)
