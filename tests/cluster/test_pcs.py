"""The pcs recipes, run for real, against the crm snippets they stand for.

pcs 0.11 (Debian 12) builds a CIB *file* with ``pcs -f FILE`` (no pcsd, no cluster). Each
layout's recipe runs as an operator types it (bash, with ``pcs`` meaning ``pcs -f FILE``)
on pcmk_sim's empty two-node CIB; the crm snippet of the same layout is loaded into
another one by pcmk_sim, as the offline tests do. Then:
  - crm_verify accepts the pcs CIB;
  - both CIBs hold the same resources, operations and constraints (ids aside; pcs also
    copies the agent's advertised actions that the command does not set);
  - crm_simulate plans the same actions, in the same order, and places everything the
    same way, from the first start through node and monitor failures to a weak location
    preference (which only resource-stickiness resists).
And for every agent: its meta-data validates against pcs's own OCF 1.0 schema, and
``pcs resource describe`` lists every parameter.

A new layout (e.g. HAProxy) is one more entry in LAYOUTS.
"""

from __future__ import annotations

import os
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from pcmk_common import AGENT_NAMES, OCF_DIR, REPO
from pcmk_sim import (Graph, SimResult, build_cib, crm_verify, other, primitive_params, run,
                      seconds, simulate)

PCS_RNG = Path("/usr/share/pcs/data/ocf-1.0.rng")

# The operator guide's recipe (doc/operator-guide.md, section 5, "The same with pcs"): openstack-ha.crm.
GROUP_RECIPE = r"""
pcs resource create FloatingIP ocf:heartbeat:IPaddr2 ip=192.0.2.10 cidr_netmask=32 \
    op monitor interval=5s timeout=20s meta resource-stickiness=100 priority=10
for svc in keystone glance-api; do
  pcs resource create $svc ocf:openstack:$svc os_username=admin os_password=SECRET \
      os_project_name=admin op start timeout=90s op stop timeout=90s \
      op monitor interval=10s timeout=20s \
      op monitor interval=60s timeout=40s OCF_CHECK_LEVEL=10 \
      meta resource-stickiness=100
done
pcs constraint order set FloatingIP set keystone glance-api sequential=false
pcs constraint colocation set keystone glance-api sequential=false set FloatingIP
pcs resource create database-watch ocf:openstack:database-watch \
    op monitor interval=10s timeout=20s clone interleave=true
pcs constraint location FloatingIP rule score=1000 not_defined openstack-db or openstack-db ne 0
pcs resource create keys-watch ocf:openstack:keys-watch \
    op monitor interval=10s timeout=20s clone interleave=true
pcs constraint location FloatingIP rule score=1000 not_defined openstack-keys or openstack-keys ne 0
"""

# The same for openstack-ha-clone.crm: interleaved clones, the IP with (and Optional
# after) both of them.
CLONE_RECIPE = r"""
pcs resource create FloatingIP ocf:heartbeat:IPaddr2 ip=192.0.2.10 cidr_netmask=32 \
    op monitor interval=5s timeout=20s meta resource-stickiness=100 priority=10
for svc in keystone glance-api; do
  pcs resource create $svc ocf:openstack:$svc os_username=admin os_password=SECRET \
      os_project_name=admin op start timeout=90s op stop timeout=90s \
      op monitor interval=10s timeout=20s \
      op monitor interval=60s timeout=40s OCF_CHECK_LEVEL=10 \
      clone interleave=true
  pcs constraint colocation add FloatingIP with $svc-clone INFINITY
  pcs constraint location FloatingIP rule score=1000 \
      not_defined openstack-$svc-failed or openstack-$svc-failed ne 1
done
pcs resource create database-watch ocf:openstack:database-watch \
    op monitor interval=10s timeout=20s clone interleave=true
pcs constraint location FloatingIP rule score=1000 not_defined openstack-db or openstack-db ne 0
pcs resource create keys-watch ocf:openstack:keys-watch \
    op monitor interval=10s timeout=20s clone interleave=true
pcs constraint location FloatingIP rule score=1000 not_defined openstack-keys or openstack-keys ne 0
"""


# The same for openstack-ha-haproxy.crm: HAProxy (lsb) and both services cloned on every
# controller, the services on internal ports, the IP with (and Optional after) HAProxy.
HAPROXY_RECIPE = r"""
pcs resource create FloatingIP ocf:heartbeat:IPaddr2 ip=192.0.2.10 cidr_netmask=32 \
    op monitor interval=5s timeout=20s meta resource-stickiness=100 priority=10
pcs resource create haproxy lsb:haproxy op start timeout=20s op stop timeout=20s \
    op monitor interval=5s timeout=20s clone interleave=true
pcs resource create keystone ocf:openstack:keystone os_username=admin os_password=SECRET \
    os_project_name=admin bind=:4990 url=http://127.0.0.1:4990 \
    op start timeout=90s op stop timeout=90s op monitor interval=10s timeout=20s \
    op monitor interval=60s timeout=40s OCF_CHECK_LEVEL=10 clone interleave=true
pcs resource create glance-api ocf:openstack:glance-api os_username=admin os_password=SECRET \
    os_project_name=admin url=http://127.0.0.1:9282 os_auth_url=http://127.0.0.1:4990/v3 \
    op start timeout=90s op stop timeout=90s op monitor interval=10s timeout=20s \
    op monitor interval=60s timeout=40s OCF_CHECK_LEVEL=10 clone interleave=true
pcs constraint colocation add FloatingIP with haproxy-clone INFINITY
pcs constraint order start haproxy-clone then start FloatingIP kind=Optional
pcs resource create database-watch ocf:openstack:database-watch \
    op monitor interval=10s timeout=20s clone interleave=true
pcs resource create keys-watch ocf:openstack:keys-watch issuer=keystone \
    op monitor interval=10s timeout=20s clone interleave=true
pcs resource create agent-check ocf:openstack:agent-check op start timeout=20s \
    op stop timeout=20s op monitor interval=5s timeout=10s clone interleave=true
"""


@dataclass(frozen=True)
class Layout:
    snippet: str    # the crm snippet (crm/) the recipe must be equivalent to
    recipe: str     # pcs commands, as the README shows them
    in_readme: bool  # the README shows this recipe verbatim


LAYOUTS: Dict[str, Layout] = {
    "group": Layout("openstack-ha.crm", GROUP_RECIPE, True),
    "clone": Layout("openstack-ha-clone.crm", CLONE_RECIPE, True),
    "haproxy": Layout("openstack-ha-haproxy.crm", HAPROXY_RECIPE, True),
}

# crm_simulate scenarios, each from the state after the first start (crm_simulate args,
# built from where that start put the floating IP); "start" is the first start itself.
SCENARIOS = ("start", "ip-node-fails", "other-node-fails", "keystone-fails", "glance-api-fails",
             "weak-preference")


def pcs_cib(workdir: Path, name: str, recipe: str) -> Path:
    """pcmk_sim's empty two-node CIB (fencing off), then ``recipe`` run by bash with
    every ``pcs`` writing to that file."""
    cib = build_cib(workdir, name, [])
    script = f"pcs() {{ command pcs -f {shlex.quote(str(cib))} \"$@\"; }}\nset -e\n{recipe}"
    run(["bash", "-c", script], cib=cib)
    return cib


# ---------------------------------------------------------------- what a CIB configures

def _nvpairs(elem: ET.Element, tag: str) -> Dict[str, str]:
    return {nv.get("name"): nv.get("value") for nv in elem.iterfind(f"./{tag}/nvpair")}


def resources(cib: Path) -> Dict[str, tuple]:
    """Primitive id -> (agent, params, meta, (its clone, the clone's meta)), ids aside.
    A password's value is left out (the README says SECRET, the snippets CHANGE_ME)."""
    return {rsc: facts[:4] for rsc, facts in _primitives(cib).items()}


def operations(cib: Path) -> Dict[str, Set[tuple]]:
    """Primitive id -> its operations as (name, interval s, timeout s, OCF_CHECK_LEVEL)."""
    return {rsc: facts[4] for rsc, facts in _primitives(cib).items()}


def _primitives(cib: Path) -> Dict[str, tuple]:
    root = ET.parse(cib).getroot()
    found = {}
    for parent in [root.find("./configuration/resources"), *root.iter("clone")]:
        for prim in parent.findall("primitive"):
            params = _nvpairs(prim, "instance_attributes")
            if "os_password" in params:
                params["os_password"] = "<password>"
            ops = {(op.get("name"), seconds(op.get("interval")), seconds(op.get("timeout")),
                    _nvpairs(op, "instance_attributes").get("OCF_CHECK_LEVEL", ""))
                   for op in prim.iterfind("./operations/op")}
            clone_meta = _nvpairs(parent, "meta_attributes") if parent.tag == "clone" else None
            # lsb:haproxy has no provider: class:type, as crm_resource --show-metadata takes it
            agent = ":".join(part for part in (prim.get("class"), prim.get("provider"), prim.get("type")) if part)
            found[prim.get("id")] = (agent, params, _nvpairs(prim, "meta_attributes"),
                                     (parent.get("id"), clone_meta), ops)
    return found


def advertised(agent: str) -> Set[tuple]:
    """The actions an agent's meta-data advertises, in the form of ``operations``."""
    proc = run(["crm_resource", "--show-metadata", agent])
    return {(a.get("name"), seconds(a.get("interval", "0")), seconds(a.get("timeout", "0")),
             "" if a.get("depth", "0") == "0" else a.get("depth"))
            for a in ET.fromstring(proc.stdout).iterfind("./actions/action")}


def constraints(cib: Path) -> List[tuple]:
    """Every constraint with Pacemaker's defaults spelled out, ids aside, sorted."""
    root = ET.parse(cib).getroot()
    found = []
    for con in root.find("./configuration/constraints"):
        if not isinstance(con.tag, str):   # crmsh keeps the snippet's comments
            continue
        sets = tuple((s.get("sequential", "true"), s.get("require-all", "true"), s.get("action"),
                      tuple(r.get("id") for r in s.iter("resource_ref")))
                     for s in con.iter("resource_set"))
        rules = tuple((r.get("score"), r.get("score-attribute"), r.get("boolean-op", "and"),
                       r.get("role"),
                       tuple(sorted((e.get("attribute"), e.get("operation"), e.get("value"), e.get("type"))
                                    for e in r.iter("expression"))))
                      for r in con.findall("rule"))
        first_action = con.get("first-action", "start")
        found.append((con.tag, con.get("score"), con.get("kind", "Mandatory"), con.get("node"),
                      con.get("rsc"), con.get("with-rsc"), con.get("first"), con.get("then"),
                      first_action if con.get("first") else None,
                      con.get("then-action", first_action) if con.get("then") else None, sets, rules))
    return sorted(found, key=repr)


# ---------------------------------------------------------------- what the scheduler does

def precedence(graph: Graph) -> Set[Tuple[tuple, tuple]]:
    """Every "A before B" between the starts and stops of a transition."""
    ops = [a for a in graph.actions.values() if a.kind == "rsc_op" and a.operation in ("start", "stop")]
    return {((a.rsc, a.operation, a.node), (b.rsc, b.operation, b.node))
            for a in ops for b in ops if a is not b and graph.before(a, b)}


def transition(res: SimResult) -> dict:
    return {"placement": res.placement, "planned": sorted(res.planned), "failed": sorted(res.failed),
            "start/stop": res.graph.start_stop(), "order": precedence(res.graph)}


def prefer(workdir: Path, cib: Path, name: str, rsc: str, node: str, score: int) -> Path:
    """A copy of ``cib`` where ``rsc`` prefers ``node`` by ``score`` (below the stickiness)."""
    out = workdir / f"{name}.xml"
    out.write_bytes(cib.read_bytes())
    run(["cibadmin", "-C", "-o", "constraints", "-X",
         f'<rsc_location id="prefer-{rsc}" rsc="{rsc}" node="{node}" score="{score}"/>'], cib=out)
    return out


class Pair:
    """One layout built twice, by pcs and by crmsh, and started in crm_simulate."""

    def __init__(self, workdir: Path, crm_dir: Path, layout: Layout) -> None:
        self.workdir = workdir
        self.cib = {"pcs": pcs_cib(workdir, "pcs", layout.recipe),
                    "crm": build_cib(workdir, "crm", [crm_dir / layout.snippet])}
        self.started = {tool: simulate(workdir, cib, f"{tool}-start", "-q", "true", "-u", "node1",
                                       "-u", "node2")
                        for tool, cib in self.cib.items()}

    def scenario(self, name: str) -> Dict[str, SimResult]:
        """The scenario run on both CIBs (node names from the crmsh CIB's first start)."""
        if name == "start":
            return self.started
        ip = self.started["crm"].where("FloatingIP")
        args = {"ip-node-fails": ("-f", ip), "other-node-fails": ("-f", other(ip)),
                "keystone-fails": ("-i", f"keystone_monitor_10000@{ip}=1"),
                "glance-api-fails": ("-i", f"glance-api_monitor_10000@{ip}=1")}
        results = {}
        for tool, start in self.started.items():
            if name == "weak-preference":
                cib = prefer(self.workdir, start.out_cib, f"{tool}-{name}", "FloatingIP", other(ip), 50)
                results[tool] = simulate(self.workdir, cib, f"{tool}-{name}")
            else:
                results[tool] = simulate(self.workdir, start.out_cib, f"{tool}-{name}", *args[name])
        return results


@pytest.fixture(scope="module", params=list(LAYOUTS))
def pair(request, installed_agents, crm_dir, tmp_path_factory) -> Pair:
    return Pair(tmp_path_factory.mktemp(f"pcs-{request.param}"), crm_dir, LAYOUTS[request.param])


# ---------------------------------------------------------------- the recipes

def test_pcs_cib_verifies(pair: Pair) -> None:
    proc = crm_verify(pair.cib["pcs"])
    assert proc.returncode == 0, f"crm_verify -x failed:\n{proc.stdout}\n{proc.stderr}"
    # the recipe configured what it says: no resource left out by a failed command
    assert {"FloatingIP", *AGENT_NAMES} <= set(primitive_params(pair.cib["pcs"]))


def test_same_resources_as_the_snippet(pair: Pair) -> None:
    assert resources(pair.cib["pcs"]) == resources(pair.cib["crm"])


def test_same_operations_as_the_snippet(pair: Pair) -> None:
    """Every operation of the snippet, and beyond them only what pcs copies from the agent:
    ``pcs resource create`` adds each advertised action the command does not set (design
    note 10), e.g. keystone's ``reload`` (10 s) or database-watch's start and stop."""
    pcs, crm = operations(pair.cib["pcs"]), operations(pair.cib["crm"])
    assert pcs.keys() == crm.keys()
    for rsc, agent in ((rsc, facts[0]) for rsc, facts in resources(pair.cib["pcs"]).items()):
        assert crm[rsc] <= pcs[rsc], rsc
        copied = pcs[rsc] - crm[rsc]
        assert copied <= advertised(agent), f"{rsc}: {sorted(copied - advertised(agent))}"
        assert {op[0] for op in copied}.isdisjoint({op[0] for op in crm[rsc]}), \
            f"{rsc}: pcs added a second {sorted(copied)} next to the snippet's"


def test_same_constraints_as_the_snippet(pair: Pair) -> None:
    assert constraints(pair.cib["pcs"]) == constraints(pair.cib["crm"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_transition_as_the_snippet(pair: Pair, scenario: str) -> None:
    results = pair.scenario(scenario)
    assert not results["crm"].failed and set(results["crm"].placement) >= {"FloatingIP"}, \
        results["crm"].summary()
    assert transition(results["pcs"]) == transition(results["crm"]), \
        f"{results['pcs'].summary()}\n{results['crm'].summary()}"


def test_weak_preference_control(pair: Pair) -> None:
    """Control: without resource-stickiness (the README's recipe before it said
    ``meta resource-stickiness=100``) a preference of 50 moves the running IP; the
    "weak-preference" comparison above then fails."""
    cib = pair.workdir / "nosticky.xml"
    cib.write_bytes(pair.started["crm"].out_cib.read_bytes())
    for rsc, (_, _, meta, _) in resources(cib).items():
        if "resource-stickiness" in meta:
            run(["crm_resource", "-r", rsc, "--meta", "--delete-parameter", "resource-stickiness"],
                cib=cib)
    assert not [m for _, _, m, _ in resources(cib).values() if "resource-stickiness" in m]
    ip = pair.started["crm"].where("FloatingIP")
    res = simulate(pair.workdir, prefer(pair.workdir, cib, "nosticky-pref", "FloatingIP", other(ip), 50),
                   "nosticky-pref")
    assert res.where("FloatingIP") == other(ip), res.summary()


def readme_pcs_blocks() -> List[str]:
    """The fenced blocks of doc/operator-guide.md that are pcs recipes."""
    blocks = re.findall(r"^```\n(.*?)^```", (REPO / "doc/operator-guide.md").read_text(), re.M | re.S)
    return [b for b in blocks if b.startswith("pcs resource create")]


def test_readme_shows_the_tested_recipes() -> None:
    expected = [layout.recipe.lstrip("\n") for layout in LAYOUTS.values() if layout.in_readme]
    assert readme_pcs_blocks() == expected


# ---------------------------------------------------------------- pcs and our meta-data

# Every agent the package installs (the executables in agents/), not only the two services.
TREE_AGENTS = sorted(p.name for p in (REPO / "agents").iterdir() if p.is_file() and os.access(p, os.X_OK))


def metadata(agent: str) -> str:
    return run([str(OCF_DIR / agent), "meta-data"]).stdout


@pytest.mark.parametrize("agent", TREE_AGENTS)
def test_describe_lists_every_parameter(installed_agents, agent: str) -> None:
    meta = ET.fromstring(metadata(agent))
    names = [p.get("name") for p in meta.iterfind("./parameters/parameter")]
    assert names
    out = run(["pcs", "resource", "describe", f"ocf:openstack:{agent}"]).stdout
    assert re.findall(r"^  (\w+)(?: \(unique\))?: ", out, re.M) == names, out
    # the deeper monitors too: pcs copies these into a CIB when `resource create` sets no op
    for depth in {a.get("depth") for a in meta.iterfind("./actions/action")} - {None, "0"}:
        assert f"\n    OCF_CHECK_LEVEL={depth}\n" in out + "\n", out


@pytest.mark.parametrize("agent", TREE_AGENTS)
def test_metadata_valid_for_pcs(installed_agents, agent: str, tmp_path: Path) -> None:
    xml = tmp_path / f"{agent}.xml"
    xml.write_text(metadata(agent))
    proc = run(["xmllint", "--noout", "--relaxng", str(PCS_RNG), str(xml)], check=False)
    assert proc.returncode == 0, proc.stderr


def test_pcs_schema_control(installed_agents, tmp_path: Path) -> None:
    """Control: an OCF 1.1 attribute (``reloadable``) in 1.0 meta-data fails pcs's schema."""
    xml = tmp_path / "keystone-1.1.xml"
    xml.write_text(metadata("keystone").replace('<parameter name="binary"',
                                                '<parameter reloadable="1" name="binary"', 1))
    proc = run(["xmllint", "--noout", "--relaxng", str(PCS_RNG), str(xml)], check=False)
    assert proc.returncode != 0 and "reloadable" in proc.stderr, proc.stderr
