"""The failure watcher's decisions, without I/O: what to do next from what it saw
(``Machine``), and whether Pacemaker would act on a failure per crm_mon (``judge_cluster``).
The unit tests drive these directly."""

from typing import NamedTuple, Optional

CONTINUE = "continue"                # keep watching
CHECK_DEPENDENCIES = "dependencies"  # enough misses: ask the dependencies
CHECK_ACTIVITY = "activity"          # dependencies answer: busy or idle?
VERIFY = "verify"                    # about to report: check that it should
REPORT = "report"                    # tell Pacemaker, then exit
EXIT = "exit"                        # stop watching, no report


class Machine:
    """What the watcher does next, from what it saw. No I/O: every method takes an event
    and returns one of the actions above; ``reason`` says what would be reported."""

    def __init__(self, misses: int) -> None:
        self.limit = misses
        self.misses = 0
        self.reason = ""
        self.dead = False
        self.last_failure = ""
        self.stood_down = ""     # why the last report was not made ("" none)

    def exited(self) -> str:
        """The main process is gone."""
        self.dead = True
        self.reason = "main process exited"
        return VERIFY

    def checked(self, ok: bool, detail: str = "") -> str:
        """One /healthcheck answered (``ok``) or not."""
        if ok:
            self.misses = 0
            self.stood_down = ""
            return CONTINUE
        self.misses += 1
        self.last_failure = detail
        return CHECK_DEPENDENCIES if self.misses >= self.limit else CONTINUE

    def dependencies(self, down: str, unknown: str) -> str:
        """What the dependency check found ("" each when nothing is down / unchecked)."""
        if down or unknown:
            self.misses = 0      # a database outage never turns into a report: start over
            self.stood_down = down or f"its dependencies could not be checked: {unknown}"
            return CONTINUE
        return CHECK_ACTIVITY

    def activity(self, busy: str) -> str:
        """Whether the service's processes worked while the checks missed (``busy``: how, or "")."""
        if busy:
            self.misses = 0      # slow under load, not hung: start over
            self.stood_down = f"it is busy, not hung ({busy})"
            return CONTINUE
        self.reason = (f"{self.limit} consecutive health checks failed while its dependencies answer "
                       f"and its processes are idle (last: {self.last_failure})")
        return VERIFY

    def verified(self, report: bool, why: str, final: bool = False) -> str:
        """The re-check before a report: ``report`` True to go ahead; else ``why`` not.
        ``final``: what was found ends the watch (the agent stopped or replaced the service)."""
        if report:
            return REPORT
        self.stood_down = why
        self.misses = 0
        # nothing is left to watch after a death; a hang in maintenance may end: keep watching
        return EXIT if self.dead or final else CONTINUE


class ClusterView(NamedTuple):
    report: bool
    why: str       # why not (or what was found)


def _bool(value: Optional[str]) -> bool:
    return (value or "").lower() == "true"


def judge_cluster(xml: str, instance: str, node: str) -> ClusterView:
    """Whether Pacemaker, per ``crm_mon --output-as=xml``, would act on a failure of
    ``instance`` on ``node``: it runs there, managed, not failed already, and neither the
    cluster nor the node is in maintenance, nor the node in standby."""
    from xml.etree import ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ClusterView(False, "crm_mon's answer does not parse")
    options = root.find("./summary/cluster_options")
    if options is not None and _bool(options.get("maintenance-mode")):
        return ClusterView(False, "the cluster is in maintenance mode")
    for n in root.iterfind("./nodes/node"):
        if n.get("name") == node:
            if _bool(n.get("maintenance")):
                return ClusterView(False, f"node {node} is in maintenance")
            if _bool(n.get("standby")) or _bool(n.get("standby_onfail")):
                return ClusterView(False, f"node {node} is in standby")
            if not _bool(n.get("online")):
                return ClusterView(False, f"node {node} is not online")
            break
    else:
        return ClusterView(False, f"crm_mon does not list node {node}")
    base = instance.split(":", 1)[0]     # an anonymous clone's instances show the primitive's id
    for rsc in root.iter("resource"):
        if rsc.get("id") not in (instance, base):
            continue
        if not any(n.get("name") == node for n in rsc.iterfind("node")):
            continue
        if not _bool(rsc.get("managed")):
            return ClusterView(False, f"{instance} is unmanaged")
        if _bool(rsc.get("failed")):
            return ClusterView(False, f"{instance} has already failed (Pacemaker is recovering it)")
        if not _bool(rsc.get("active")) or rsc.get("role") not in ("Started", "Promoted", "Unpromoted",
                                                                    "Master", "Slave"):
            return ClusterView(False, f"{instance} is {rsc.get('role')} on {node}")
        return ClusterView(True, f"{instance} is {rsc.get('role')} on {node}, managed")
    return ClusterView(False, f"{instance} is not active on {node}")
