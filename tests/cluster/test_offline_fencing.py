"""The operator guide's fencing recipes (doc/operator-guide.md, section 4), checked offline.

Every crmsh and pcs block of that section carries an HTML comment right above it,
``<!-- fencing-test: NAME -->``; the blocks are read from the guide itself, so what an
operator copies is what is tested, and a new unmarked block in the section fails. No daemons:
  - crmsh: the nodes, a device block and the guide's properties go into an empty CIB file in
    ONE load (as the guide says: crmsh 5 needs it), then a shipped snippet. crmsh checks
    every device parameter against the fence agent's meta-data (fence-agents, fence-virt);
  - ``crm_verify -x`` accepts the CIB once the nodes are up (with fencing on, an empty status,
    which has no quorum, is a warning);
  - crm_simulate: a failed node is fenced, and the IP and the services start on the survivor
    only after that fence; the fence race of two controllers: the fencing of the IP's node
    carries priority-fencing-delay, the other node's none; with three controllers no delay;
  - ``pcs -f``: the pcs blocks configure the same devices, operations, constraints and
    properties as the crmsh blocks.
Debian 12 only (pcs and the fence agents); test_offline_sim.py checks the lab's fencing
properties on Debian 13 too.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from pcmk_common import CLEAN_PATH, REPO
from pcmk_sim import (
    TWO_NODES,
    SimResult,
    build_cib,
    cluster_properties,
    crm_verify,
    fence_delays,
    node_names,
    nodes_crm,
    other,
    primitive_params,
    run,
    seconds,
    simulate,
)
from test_offline_sim import ALL, LAB_DEVICES, assert_fenced_before_starts
from test_pcs import constraints, operations, pcs_cib, resources

GUIDE = REPO / "doc/operator-guide.md"
MARKED = re.compile(r"^<!-- fencing-test: (\S+) -->\n```\n(.*?)^```$", re.M | re.S)
# The controller writes have-watchdog=true when sbd runs: what watchdog-only SBD needs.
HAVE_WATCHDOG = "property cib-bootstrap-options: have-watchdog=true\n"
FENCE_AGENTS = ("fence_ipmilan", "fence_virsh", "fence_xvm", "fence_sbd")


@dataclass(frozen=True)
class Setup:
    """One way to fence, as the guide gives it: its blocks and how many controllers."""
    crm: Tuple[str, ...]     # crmsh blocks, loaded in one commit
    pcs: Tuple[str, ...]     # the pcs blocks of the same (empty: no offline pcs form)
    nodes: int = 2
    preamble: str = ""       # what the cluster itself would have written (loaded first)

    def crm_text(self, blocks: Dict[str, str]) -> str:
        return nodes_crm(self.nodes) + "".join(blocks[b] for b in self.crm)

    def pcs_text(self, blocks: Dict[str, str]) -> str:
        return "".join(blocks[b] for b in self.pcs + ("properties.pcs",))


# crmsh takes one `property` statement per file: the watchdog-only block is the whole set.
SETUPS: Dict[str, Setup] = {
    "ipmi": Setup(("ipmi.crm", "properties.crm"), ("ipmi.pcs",)),
    "ipmi-three": Setup(("ipmi.crm", "ipmi-third.crm", "properties.crm"), ("ipmi.pcs", "ipmi-third.pcs"), nodes=3),
    "virsh": Setup(("virsh.crm", "properties.crm"), ("virsh.pcs",)),
    "xvm": Setup(("xvm.crm", "properties.crm"), ("xvm.pcs",)),
    "sbd-disk": Setup(("sbd-disk.crm", "properties.crm"), ("sbd-disk.pcs",)),
    "sbd-watchdog": Setup(("sbd-watchdog.crm",), (), nodes=3, preamble=HAVE_WATCHDOG),
}
WITH_PCS = [name for name, setup in SETUPS.items() if setup.pcs]


# ---------------------------------------------------------------- the guide's blocks

def guide_blocks(text: str) -> Dict[str, str]:
    """Block name -> its text, for every marked block of the guide's ``text``."""
    found: Dict[str, str] = {}
    for name, body in MARKED.findall(text):
        assert name not in found, f"two blocks marked {name}"
        found[name] = body
    return found


def section_blocks(text: str, number: int) -> List[str]:
    """The text of every fenced block of section ``number`` of the guide's ``text``."""
    start = text.index(f"\n## {number}. ")
    end = text.index(f"\n## {number + 1}. ", start)
    return re.findall(r"^```\n(.*?)^```$", text[start:end], re.M | re.S)


def is_configuration(block: str) -> bool:
    """A block an operator would load or run to configure the cluster (crmsh or pcs)."""
    return re.match(r"(primitive|location|property|pcs) ", block) is not None


@pytest.fixture(scope="module")
def blocks() -> Dict[str, str]:
    return guide_blocks(GUIDE.read_text())


@pytest.fixture(scope="module")
def fence_agents(installed_agents) -> None:
    missing = [a for a in FENCE_AGENTS if not shutil.which(a, path=CLEAN_PATH)]
    if missing:
        pytest.fail(f"fence agents missing: {', '.join(missing)} (apt-get install fence-agents fence-virt; "
                    "tests/setup/install-deps.sh does)", pytrace=False)


# ---------------------------------------------------------------- a cluster of the guide's

@dataclass
class Fenced:
    """A cluster of the guide's: its nodes, all up, and the state after the first start."""
    workdir: Path
    nodes: List[str]
    started: SimResult

    @classmethod
    def build(cls, workdir: Path, crm_dir: Path, setup: Setup, blocks: Dict[str, str], snippet: str) -> "Fenced":
        """The setup's crmsh blocks with the properties in one load, then ``snippet``; started."""
        fencing = workdir / "fencing.crm"
        fencing.write_text(setup.crm_text(blocks))
        cib = build_cib(workdir, "fenced", [fencing, crm_dir / snippet], preamble=setup.preamble)
        nodes = node_names(setup.nodes)
        up = [arg for node in nodes for arg in ("-u", node)]
        return cls(workdir, nodes, simulate(workdir, cib, "start", "-q", "true", *up))

    def lose(self, node: str) -> SimResult:
        """The transition after ``node`` failed (from the started state)."""
        return simulate(self.workdir, self.started.out_cib, f"lost-{node}", "-f", node)

    def without_ip_priority(self) -> "Fenced":
        """The same started cluster, but the floating IP has no ``priority`` meta attribute."""
        cib = self.workdir / "nopriority.xml"
        cib.write_bytes(self.started.out_cib.read_bytes())
        run(["crm_resource", "-r", "FloatingIP", "--meta", "--delete-parameter", "priority"], cib=cib)
        return Fenced(self.workdir, self.nodes, simulate(self.workdir, cib, "nopriority-start"))


@pytest.fixture(scope="module")
def fenced(fence_agents, crm_dir, blocks, tmp_path_factory):
    """(setup name, snippet) -> its started cluster, built once per module."""
    built: Dict[Tuple[str, str], Fenced] = {}

    def get(setup: str, snippet: str = "openstack-ha.crm") -> Fenced:
        if (setup, snippet) not in built:
            workdir = tmp_path_factory.mktemp(f"fence-{setup}-{snippet.replace('.', '-')}")
            built[setup, snippet] = Fenced.build(workdir, crm_dir, SETUPS[setup], blocks, snippet)
        return built[setup, snippet]
    return get


# ---------------------------------------------------------------- the guide has what is tested

def test_every_configuration_block_of_the_section_is_tested(blocks) -> None:
    """A crmsh or pcs block added to section 4 without a marker is not tested: refuse it."""
    configuration = [b for b in section_blocks(GUIDE.read_text(), 4) if is_configuration(b)]
    untested = [b.splitlines()[0] for b in configuration if b not in blocks.values()]
    assert untested == []
    named = {b for setup in SETUPS.values() for b in setup.crm + setup.pcs} | {"properties.pcs"}
    assert set(blocks) == named, f"marked in the guide: {sorted(blocks)}; tested: {sorted(named)}"


def test_the_block_reader_finds_marked_blocks_only() -> None:
    """Control for the reader: an unmarked block is not taken, a marked one is, and the
    section check sees both."""
    text = "## 4. F\n<!-- fencing-test: a.crm -->\n```\nproperty x=1\n```\n```\npcs y\n```\n## 5. G\n"
    assert guide_blocks(text) == {"a.crm": "property x=1\n"}
    assert [b for b in section_blocks("\n" + text, 4) if is_configuration(b)] == ["property x=1\n", "pcs y\n"]


def properties_of(workdir: Path, name: str, crm: str) -> Dict[str, str]:
    """The cluster properties ``crm`` sets, as crmsh loads them (with the lab's stand-in
    devices, so that crmsh 5 commits them too)."""
    return cluster_properties(build_cib(workdir, name, [], preamble=TWO_NODES + LAB_DEVICES + crm))


def test_the_guide_properties_are_the_lab_file(blocks, crm_dir, tmp_path) -> None:
    """The guide's fencing properties and crm/lab-two-node.crm say the same, and the timeout
    leaves room after the delay (2.1.5 does not add it) for an off of 40 s (the lab switch's
    worst case, a reboot, is 40 s)."""
    props = properties_of(tmp_path, "guide", blocks["properties.crm"])
    assert props == properties_of(tmp_path, "lab", (crm_dir / "lab-two-node.crm").read_text())
    assert props["stonith-enabled"] == "true" and "no-quorum-policy" not in props
    assert seconds(props["stonith-timeout"]) >= seconds(props["priority-fencing-delay"]) + 40, props


def test_the_watchdog_properties_are_the_others_plus_the_watchdog_timeout(blocks, tmp_path) -> None:
    plain = properties_of(tmp_path, "plain", blocks["properties.crm"])
    watchdog = properties_of(tmp_path, "watchdog", blocks["sbd-watchdog.crm"])
    assert watchdog == {**plain, "stonith-watchdog-timeout": "10s"}


# ---------------------------------------------------------------- crmsh forms

@pytest.mark.parametrize("setup", list(SETUPS))
def test_crm_form_loads_starts_and_verifies(fenced, setup: str) -> None:
    cluster = fenced(setup)
    res = cluster.started
    assert not res.failed and res.where("FloatingIP") in cluster.nodes, res.summary()
    proc = crm_verify(res.out_cib)
    assert proc.returncode == 0, f"crm_verify -x failed:\n{proc.stdout}\n{proc.stderr}"


def banned_from(cib: Path) -> Dict[str, List[str]]:
    """resource -> the nodes its -INFINITY location constraints keep it off."""
    found: Dict[str, List[str]] = {}
    for loc in ET.parse(cib).getroot().iterfind("./configuration/constraints/rsc_location"):
        if loc.get("score") == "-INFINITY" and loc.get("node"):
            found.setdefault(loc.get("rsc"), []).append(loc.get("node"))
    return found


@pytest.mark.parametrize("setup", ["ipmi", "ipmi-three"])
def test_each_ipmi_device_is_kept_off_the_node_it_fences(fenced, setup: str) -> None:
    """Each device fences its own node only, and runs (monitors its BMC) elsewhere."""
    cluster = fenced(setup)
    devices = primitive_params(cluster.started.out_cib)
    banned = banned_from(cluster.started.out_cib)
    for node in cluster.nodes:
        assert devices[f"fence-{node}"]["pcmk_host_list"] == node
        assert banned.get(f"fence-{node}") == [node], banned
        where = cluster.started.nodes_of(f"fence-{node}")
        assert len(where) == 1 and where != [node], cluster.started.summary()


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_lost_node_is_fenced_before_its_services_start_elsewhere(fenced, setup: str) -> None:
    cluster = fenced(setup)
    active = cluster.started.where("FloatingIP")
    res = cluster.lose(active)
    survivor = res.where("FloatingIP")
    assert survivor != active and all(res.nodes_of(s) == [survivor] for s in ALL), res.summary()
    assert_fenced_before_starts(res, active, survivor)


def test_the_node_fence_check_can_fail(fenced) -> None:
    """Control: a transition without a lost node has no fencing to wait for."""
    cluster = fenced("ipmi")
    active = cluster.started.where("FloatingIP")
    moved = simulate(cluster.workdir, cluster.started.out_cib, "node-down", "--node-down", active)
    with pytest.raises(AssertionError, match="no fencing"):
        assert_fenced_before_starts(moved, active, other(active))


# ---------------------------------------------------------------- the fence race

@pytest.mark.parametrize("snippet", ["openstack-ha.crm", "openstack-ha-clone.crm", "openstack-ha-haproxy.crm"])
def test_two_controllers_the_ip_node_is_fenced_last(fenced, snippet: str) -> None:
    """Each side of a cut link schedules the other's fencing: the IP node's carries the 5 s
    (so the node that serves shoots first), the other's none."""
    cluster = fenced("ipmi", snippet)
    active = cluster.started.where("FloatingIP")
    assert fence_delays(cluster.lose(active)) == {active: 5}
    assert fence_delays(cluster.lose(other(active))) == {other(active): 0}


def test_without_the_ip_priority_no_node_wins(fenced) -> None:
    """Control: equal priorities (no priority on the IP) put no delay on either fencing."""
    cluster = fenced("ipmi").without_ip_priority()
    assert all(fence_delays(cluster.lose(node)) == {node: 0} for node in cluster.nodes)


def test_three_controllers_the_majority_fences_at_once(fenced) -> None:
    """priority-fencing-delay applies only to a partition without the majority: with three
    controllers the two left fence the lost IP node without waiting."""
    cluster = fenced("ipmi-three")
    active = cluster.started.where("FloatingIP")
    assert fence_delays(cluster.lose(active)) == {active: 0}


def test_without_a_device_the_properties_do_not_verify(fence_agents, blocks, tmp_path) -> None:
    """Control: the properties without any device (crmsh 4.4 loads them; crm_verify refuses)."""
    cib = build_cib(tmp_path, "nodevice", [], preamble=nodes_crm(2) + blocks["properties.crm"])
    started = simulate(tmp_path, cib, "nodevice-start", "-q", "true", "-u", "node1", "-u", "node2")
    proc = crm_verify(started.out_cib)
    assert proc.returncode != 0 and "STONITH" in proc.stderr, proc.stderr


# ---------------------------------------------------------------- pcs forms

@pytest.fixture(scope="module", params=WITH_PCS)
def pcs_pair(request, fence_agents, blocks, tmp_path_factory) -> Tuple[Path, Path]:
    """(the pcs blocks run with ``pcs -f``, the crmsh blocks loaded), both on empty CIBs."""
    setup, workdir = SETUPS[request.param], tmp_path_factory.mktemp(f"pcs-fence-{request.param}")
    crm_cib = build_cib(workdir, "crm", [], preamble=setup.crm_text(blocks))
    return pcs_cib(workdir, "pcs", setup.pcs_text(blocks)), crm_cib


def test_pcs_form_configures_what_the_crm_form_does(pcs_pair) -> None:
    pcs, crm = pcs_pair
    fence_devices = {rsc for rsc, facts in resources(crm).items() if facts[0].startswith("stonith:")}
    assert fence_devices and set(primitive_params(pcs)) == fence_devices
    assert resources(pcs) == resources(crm)
    assert operations(pcs) == operations(crm)
    assert constraints(pcs) == constraints(crm)
    assert cluster_properties(pcs) == cluster_properties(crm)


def test_pcs_form_verifies(pcs_pair) -> None:
    pcs, _ = pcs_pair
    started = simulate(pcs.parent, pcs, "pcs-start", "-q", "true", "-u", "node1", "-u", "node2")
    proc = crm_verify(started.out_cib)
    assert proc.returncode == 0, f"crm_verify -x failed:\n{proc.stdout}\n{proc.stderr}"
