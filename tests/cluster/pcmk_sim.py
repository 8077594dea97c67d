"""Offline Pacemaker simulation of a crm snippet: CIB file, crm_verify, crm_simulate.

No daemons. A snippet is loaded into a CIB *file* (``cibadmin --empty``, then
``CIB_file=... crm configure load update``). crm_simulate runs the scheduler on it
and writes three things, all parsed here rather than matched as text:
  - its XML result: the planned actions (start, stop, recover, ...) and the
    resulting placement (revised_cluster_status);
  - the transition graph (-G): every action with its inputs, so we can check
    ordering: "A before B" means A is a transitive input of B;
  - the resulting CIB (-O), the starting point of the next scenario.
"""

import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from pcmk_common import clean_env

TWO_NODES = "node 1: node1\nnode 2: node2\n"
NO_FENCING = "property stonith-enabled=false\n"
TIMEOUT = 60


class SimError(AssertionError):
    pass


def node_names(count: int) -> List[str]:
    """node1 .. nodeN: the names ``nodes_crm`` gives."""
    return [f"node{i}" for i in range(1, count + 1)]


def nodes_crm(count: int) -> str:
    """crm node lines for node1 .. nodeN (``nodes_crm(2) == TWO_NODES``)."""
    return "".join(f"node {i}: {name}\n" for i, name in enumerate(node_names(count), 1))


def run(argv: Sequence[str], cib: Optional[Path] = None, check: bool = True) -> subprocess.CompletedProcess:
    env = clean_env(**({"CIB_file": str(cib)} if cib else {}))
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise SimError(f"{' '.join(argv)} (CIB_file={cib}) exited {proc.returncode}\n"
                       f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
    return proc


def base_rsc(name: str) -> str:
    """keystone:1 -> keystone (clone instance -> primitive)."""
    return name.split(":", 1)[0]


def seconds(value: Optional[str]) -> int:
    """A Pacemaker duration as whole seconds: "90s", "10" (seconds), "1m"/"1min", "500ms" (-> 0)."""
    match = re.fullmatch(r"(\d+)(ms|s|m|min)?", value or "0")
    assert match, f"unexpected duration {value!r}"
    scale = {"ms": 0.001, "m": 60, "min": 60}.get(match.group(2) or "s", 1)
    return int(int(match.group(1)) * scale)


# ---------------------------------------------------------------- building a CIB

def build_cib(workdir: Path, name: str, snippets: Sequence[Path], preamble: str = TWO_NODES + NO_FENCING) -> Path:
    """An empty CIB with two nodes (and, by default, fencing off), then each snippet."""
    cib = workdir / f"{name}.xml"
    with open(cib, "w") as f:
        subprocess.run(["cibadmin", "--empty"], stdout=f, check=True, env=clean_env(), timeout=TIMEOUT)
    pre = workdir / f"{name}.preamble.crm"
    pre.write_text(preamble)
    for snippet in [pre, *snippets]:
        run(["crm", "configure", "load", "update", str(snippet)], cib=cib)
    return cib


def crm_verify(cib: Path) -> subprocess.CompletedProcess:
    return run(["crm_verify", "-x", str(cib), "-V"], check=False)


def cluster_properties(cib: Path) -> Dict[str, str]:
    root = ET.parse(cib).getroot()
    return {nv.get("name"): nv.get("value")
            for nv in root.iterfind("./configuration/crm_config/cluster_property_set/nvpair")}


# ---------------------------------------------------------------- transition graph

@dataclass(frozen=True)
class Action:
    id: str
    kind: str            # rsc_op, pseudo_event, crm_event
    key: str             # operation_key, e.g. keystone:0_start_0
    operation: str       # start, stop, monitor, ...
    rsc: str             # primitive id without clone suffix ("" for pseudo events)
    node: str            # on_node ("" for pseudo events)
    interval: int        # ms, for monitors

    def __str__(self) -> str:
        return f"{self.key}@{self.node}" if self.node else self.key


@dataclass
class Graph:
    actions: Dict[str, Action] = field(default_factory=dict)
    inputs: Dict[str, Set[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: Path) -> "Graph":
        graph = cls()
        root = ET.parse(path).getroot()
        for synapse in root.iter("synapse"):
            for elem in synapse.find("action_set"):
                action = _action(elem)
                graph.actions[action.id] = action
                trig = synapse.find("inputs")
                ids = set()
                if trig is not None:
                    for t in trig.iter("trigger"):
                        for dep in t:
                            ids.add(dep.get("id"))
                graph.inputs.setdefault(action.id, set()).update(ids)
        return graph

    def ops(self, rsc: Optional[str] = None, operation: Optional[str] = None,
            node: Optional[str] = None, recurring: Optional[bool] = None) -> List[Action]:
        """Real (non-pseudo) resource operations matching the filters."""
        found = []
        for a in self.actions.values():
            if a.kind != "rsc_op":
                continue
            if rsc is not None and a.rsc != rsc:
                continue
            if operation is not None and a.operation != operation:
                continue
            if node is not None and a.node != node:
                continue
            if recurring is not None and (a.interval > 0) != recurring:
                continue
            found.append(a)
        return sorted(found, key=lambda a: (a.rsc, a.operation, a.node, a.interval))

    def one(self, rsc: str, operation: str, node: Optional[str] = None) -> Action:
        ops = self.ops(rsc, operation, node, recurring=False if operation == "monitor" else None)
        if len(ops) != 1:
            raise SimError(f"expected exactly one {rsc} {operation} in the graph, found {[str(o) for o in ops]}")
        return ops[0]

    def before(self, first: Action, then: Action) -> bool:
        """True if ``first`` is a (transitive) input of ``then``."""
        seen, todo = set(), [then.id]
        while todo:
            for dep in self.inputs.get(todo.pop(), ()):
                if dep == first.id:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False

    def start_stop(self) -> List[Tuple[str, str, str]]:
        """(rsc, operation, node) of every start and stop, sorted."""
        return sorted((a.rsc, a.operation, a.node) for a in self.actions.values()
                      if a.kind == "rsc_op" and a.operation in ("start", "stop"))


def _action(elem: ET.Element) -> Action:
    key = elem.get("operation_key") or elem.get("operation") or ""
    prim = elem.find("primitive")
    rsc = base_rsc(prim.get("id")) if prim is not None else ""
    attrs = elem.find("attributes")
    interval = int(attrs.get("CRM_meta_interval", "0")) if attrs is not None else 0
    return Action(id=elem.get("id"), kind=elem.tag, key=key, operation=elem.get("operation", ""),
                  rsc=rsc, node=elem.get("on_node", ""), interval=interval)


# ---------------------------------------------------------------- one simulation

@dataclass
class SimResult:
    name: str
    out_cib: Path                    # the resulting CIB (-O): input of the next scenario
    graph: Graph
    planned: List[Tuple[str, str, str]]   # (action, resource as printed, node) from <actions>
    placement: Dict[str, List[str]]  # primitive id -> nodes where it is Started, sorted
    failed: List[str]                # resources reported failed after the transition
    graph_file: Optional[Path] = None  # the transition graph (-G) ``graph`` was parsed from

    def nodes_of(self, rsc: str) -> List[str]:
        return self.placement.get(rsc, [])

    def where(self, rsc: str) -> str:
        """The single node ``rsc`` runs on (asserts that it runs on exactly one)."""
        nodes = self.nodes_of(rsc)
        if len(nodes) != 1:
            raise SimError(f"{self.name}: {rsc} runs on {nodes}, expected exactly one node")
        return nodes[0]

    def summary(self) -> str:
        return (f"{self.name}: planned={self.planned} placement={self.placement} "
                f"start/stop={self.graph.start_stop()}")


def simulate(workdir: Path, cib: Path, name: str, *args: str) -> SimResult:
    """crm_simulate -S on ``cib`` with extra args (-u/-f/-i ...), everything parsed."""
    out_cib, graph, out_xml = (workdir / f"{name}.{ext}" for ext in ("cib.xml", "graph.xml", "out.xml"))
    source = cib
    if args:
        # Pacemaker 3.0.0 (Debian 13) leaves <transition>, <actions> and
        # <revised_cluster_status> out of the XML when the same run also applies
        # modifications (-u/-d/-f/-i/-q): apply them first, then simulate the result.
        source = workdir / f"{name}.modified.xml"
        run(["crm_simulate", "-x", str(cib), *args, "-O", str(source)])
    proc = run(["crm_simulate", "-x", str(source), "-S", "-O", str(out_cib), "-G", str(graph),
                "--output-as=xml"])
    out_xml.write_text(proc.stdout)
    root = ET.fromstring(proc.stdout)
    status = root.find("status")
    if status is None or status.get("code") != "0":
        raise SimError(f"crm_simulate {name}: {proc.stdout[-2000:]}")
    planned = [(a.get("action"), a.get("resource"), a.get("node") or a.get("source") or "")
               for a in root.iterfind("./actions/rsc_action")]
    placement: Dict[str, List[str]] = {}
    failed = []
    revised = root.find("revised_cluster_status")
    if revised is None:
        raise SimError(f"crm_simulate {name}: no revised_cluster_status in its output")
    for res in revised.iter("resource"):
        rid = base_rsc(res.get("id"))
        if res.get("failed") == "true":
            failed.append(rid)
        if res.get("role") == "Started" and res.get("active") == "true":
            placement.setdefault(rid, []).extend(n.get("name") for n in res.iter("node"))
    placement = {k: sorted(v) for k, v in placement.items()}
    return SimResult(name, out_cib, Graph.parse(graph), planned, placement, failed, graph_file=graph)


def fence_delays(res: SimResult) -> Dict[str, int]:
    """node -> the priority-fencing-delay (s) the scheduler put on its fencing action
    (CRM_meta_priority_fencing_delay in the graph; Pacemaker 2.1.5 and 3.0 both write it)."""
    if res.graph_file is None:
        raise SimError(f"{res.name}: no transition graph file")
    delays = {}
    for event in ET.parse(res.graph_file).getroot().iter("crm_event"):
        attrs = event.find("attributes")
        if event.get("operation") == "stonith" and attrs is not None:
            delays[event.get("on_node")] = int(attrs.get("CRM_meta_priority_fencing_delay", "0"))
    return delays


def ban(workdir: Path, cib: Path, name: str, rsc: str, *nodes: str) -> Path:
    """A copy of ``cib`` with ``rsc`` banned from ``nodes`` (crm_resource --ban on the file)."""
    out = workdir / f"{name}.xml"
    out.write_bytes(cib.read_bytes())
    for node in nodes:
        run(["crm_resource", "--ban", "-r", rsc, "-N", node], cib=out)
    return out


def with_fail_count(workdir: Path, cib: Path, name: str, rsc: str, op: str, node: str,
                    value: str = "INFINITY") -> Path:
    """A copy of ``cib`` where ``rsc``'s ``op`` (e.g. start_0) failed ``value`` times on ``node``.

    crm_simulate's own failure injection (-i, -F) only ever adds 1 to a fail-count; the
    controller sets INFINITY when a start fails (start-failure-is-fatal, the default), which
    bans the resource from that node. This writes that transient attribute directly.
    """
    return with_node_attribute(workdir, cib, name, node, f"fail-count-{rsc}#{op}", value)


def with_node_attribute(workdir: Path, cib: Path, name: str, node: str, attribute: str, value: str) -> Path:
    """A copy of ``cib`` where ``node`` has the transient attribute ``attribute``=``value``
    (as attrd_updater sets it on a live node)."""
    out = workdir / f"{name}.xml"
    out.write_bytes(cib.read_bytes())
    run(["crm_attribute", "-N", node, "-n", attribute, "-v", value, "-l", "reboot"], cib=out)
    return out


def forget_node_history(workdir: Path, cib: Path, name: str, node: str) -> Path:
    """A copy of ``cib`` without ``node``'s resource history, as after the node was fenced and
    rebooted: the next simulation with ``-u node`` probes it as an empty node."""
    out = workdir / f"{name}.xml"
    out.write_bytes(cib.read_bytes())
    run(["cibadmin", "-D", "-A", f"//node_state[@uname='{node}']/lrm"], cib=out)
    return out


def other(node: str, nodes: Sequence[str] = ("node1", "node2")) -> str:
    rest = [n for n in nodes if n != node]
    assert len(rest) == 1, (node, nodes)
    return rest[0]



def primitive_params(cib: Path) -> Dict[str, Dict[str, str]]:
    """primitive id -> its instance attributes, as loaded into the CIB."""
    root = ET.parse(cib).getroot()
    return {prim.get("id"): {nv.get("name"): nv.get("value")
                             for nv in prim.iterfind("./instance_attributes/nvpair")}
            for prim in root.iter("primitive")}


def meta_attributes(cib: Path, rsc_id: str) -> Dict[str, str]:
    """The meta attributes of the resource (primitive, clone, group) ``rsc_id``."""
    root = ET.parse(cib).getroot()
    for elem in root.iterfind("./configuration/resources//*[@id]"):
        if elem.get("id") == rsc_id and elem.tag in ("primitive", "clone", "group"):
            return {nv.get("name"): nv.get("value") for nv in elem.iterfind("./meta_attributes/nvpair")}
    raise SimError(f"no resource {rsc_id} in {cib}")
