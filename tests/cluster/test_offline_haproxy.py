"""crm/openstack-ha-haproxy.crm (the HA guide's topology), checked offline with crm_verify
and crm_simulate on two and on three nodes (no daemons).

HAProxy, Keystone and Glance run as clones on every node; the floating IP runs on one
node whose HAProxy runs. What must hold, and what each test provokes:
  - everything starts, the IP after its node's HAProxy and after nothing else;
  - the IP runs only where HAProxy runs: HAProxy banned from the IP's node, or failed to
    start there, moves the IP;
  - a failed Keystone or Glance instance (monitor rc 1 or 7) restarts in place and moves
    nothing; even a service that can run nowhere leaves the IP where it is;
  - a lost node moves only the IP (if it had it): the survivors' instances are neither
    stopped nor started; a node that comes back gets its instances and not the IP.
The snippet is loaded exactly as an operator would load it (crmsh checks it against the
installed agents' meta-data); every assertion is on parsed XML (pcmk_sim).
"""

import ipaddress
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from pcmk_common import REPO
from pcmk_sim import (NO_FENCING, SimResult, ban, base_rsc, build_cib, cluster_properties, crm_verify,
                      forget_node_history, meta_attributes, node_names, nodes_crm, primitive_params,
                      simulate, with_fail_count)
from raolab.lab import operator_edits
from test_offline_sim import lab_cib, lab_start

SNIPPET = "openstack-ha-haproxy.crm"


def agent_check_port() -> str:
    """The port ocf:openstack:agent-check listens on by default, from its installed meta-data."""
    import subprocess
    import xml.etree.ElementTree as ET

    meta = subprocess.run(["/usr/lib/ocf/resource.d/openstack/agent-check", "meta-data"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    return ET.fromstring(meta).find("./parameters/parameter[@name='port']/content").get("default")
SERVICES = ("keystone", "glance-api")
# what a controller publishes, and the agent-check responder that tells HAProxy
WATCHERS = ("database-watch", "keys-watch", "agent-check")
CLONED = ("haproxy",) + SERVICES + WATCHERS
ALL = ("FloatingIP",) + CLONED
PLACEHOLDER_NET = ipaddress.ip_network("192.0.2.0/24")  # RFC 5737 TEST-NET-1
CREDENTIALS = {"os_username", "os_password", "os_project_name"}
# what each agent sets besides the credentials: the internal-port layout
LAYOUT = {"keystone": {"bind", "url"}, "glance-api": {"url", "os_auth_url"}}


class Cluster:
    """The snippet in an N-node CIB, all nodes up and everything started."""

    def __init__(self, workdir: Path, crm_dir: Path, count: int):
        self.workdir = workdir
        self.nodes = node_names(count)
        t0 = time.monotonic()
        self.cib = build_cib(workdir, "base", [crm_dir / SNIPPET], preamble=nodes_crm(count) + NO_FENCING)
        self.verify = crm_verify(self.cib)
        ups = [arg for node in self.nodes for arg in ("-u", node)]
        self.started = simulate(workdir, self.cib, "start", "-q", "true", *ups)
        self.ip_node = self.started.where("FloatingIP")
        print(f"\n[{SNIPPET}, {count} nodes] CIB built, verified and started in "
              f"{time.monotonic() - t0:.2f}s: {self.started.summary()}", flush=True)

    def others(self, node: str) -> List[str]:
        return [n for n in self.nodes if n != node]

    def sim(self, name: str, *args: str, cib: Optional[Path] = None) -> SimResult:
        result = simulate(self.workdir, cib or self.started.out_cib, name, *args)
        print(f"  {result.summary()}", flush=True)
        return result

    def assert_untouched(self, res: SimResult, *, except_nodes=(), except_rscs=()) -> None:
        """Every clone but ``except_rscs`` still runs on every node but ``except_nodes``, and
        nothing starts or stops but ``except_rscs``."""
        for rsc in CLONED:
            if rsc not in except_rscs:
                assert res.nodes_of(rsc) == [n for n in self.nodes if n not in except_nodes], res.summary()
        moved = [t for t in res.graph.start_stop() if t[0] not in except_rscs]
        assert moved == [], f"unexpected starts/stops {moved}: {res.summary()}"


@pytest.fixture(scope="module", params=[2, 3], ids=["2-nodes", "3-nodes"])
def cl(request, installed_agents, crm_dir, tmp_path_factory) -> Cluster:
    return Cluster(tmp_path_factory.mktemp(f"sim-haproxy-{request.param}"), crm_dir, request.param)


# ---------------------------------------------------------------- loading

def test_loads_and_verifies(cl):
    assert cl.verify.returncode == 0, f"crm_verify -x failed:\n{cl.verify.stdout}\n{cl.verify.stderr}"
    # the snippet sets no cluster property: only what the preamble set is there
    assert cluster_properties(cl.cib) == {"stonith-enabled": "false"}
    params = primitive_params(cl.cib)
    assert set(params) == set(ALL)
    assert set(params["FloatingIP"]) == {"ip", "cidr_netmask"}
    assert ipaddress.ip_address(params["FloatingIP"]["ip"]) in PLACEHOLDER_NET
    assert params["haproxy"] == {}
    for svc in SERVICES:
        assert set(params[svc]) == CREDENTIALS | LAYOUT[svc], f"{svc} sets {sorted(params[svc])}"
    # behind HAProxy every Keystone issues tokens: keys-watch compares with the keystone clone
    assert params["keys-watch"] == {"issuer": "keystone"}
    assert params["database-watch"] == params["agent-check"] == {}
    # as in the other snippets: the IP does not move back when a node returns
    assert int(meta_attributes(cl.cib, "FloatingIP").get("resource-stickiness", "0")) > 0
    for clone in [f"{rsc}-clone" for rsc in CLONED]:
        assert meta_attributes(cl.cib, clone).get("interleave") == "true", clone


def test_services_listen_on_internal_ports(cl):
    """HAProxy holds 5000 and 9292: the agents bind, poll and authenticate on other ports."""
    params = primitive_params(cl.cib)
    ks, gl = params["keystone"], params["glance-api"]
    ks_port = int(ks["bind"].rsplit(":", 1)[1])
    assert ks["bind"].startswith(":"), "keystone must listen on every address (HAProxy's servers)"
    assert ks_port not in (5000, 9292)
    assert ks["url"] == f"http://127.0.0.1:{ks_port}"
    assert gl["os_auth_url"] == f"http://127.0.0.1:{ks_port}/v3"
    gl_port = int(gl["url"].rsplit(":", 1)[1])
    assert gl["url"] == f"http://127.0.0.1:{gl_port}" and gl_port not in (5000, 9292, ks_port)


def test_operator_edits_apply(installed_agents, crm_dir, tmp_path):
    """The lab's and the live tests' operator edits (floating IP, credentials) fit this snippet
    exactly as they fit the others, and the edited snippet still loads and verifies."""
    edited = tmp_path / SNIPPET
    edited.write_text(operator_edits((crm_dir / SNIPPET).read_text(), "10.20.30.40", "s3cret"))
    cib = build_cib(tmp_path, "edited", [edited], preamble=nodes_crm(2) + NO_FENCING)
    assert crm_verify(cib).returncode == 0
    params = primitive_params(cib)
    assert params["FloatingIP"]["ip"] == "10.20.30.40"
    assert params["keystone"]["os_password"] == params["glance-api"]["os_password"] == "s3cret"


def haproxy_sections(text: str) -> Dict[str, List[List[str]]]:
    """'listen keystone' -> its directives (split into words), comments dropped."""
    sections: Dict[str, List[List[str]]] = {}
    current: List[List[str]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if not line[0].isspace():
            current = sections.setdefault(" ".join(words), [])
        else:
            current.append(words)
    return sections


def test_haproxy_example_matches_the_snippet(cl):
    """haproxy/haproxy.cfg binds the snippet's floating IP on the public ports and sends
    requests to the ports the snippet's agents listen on, on three controllers."""
    params = primitive_params(cl.cib)
    vip = params["FloatingIP"]["ip"]
    internal = {"keystone": int(params["keystone"]["bind"].rsplit(":", 1)[1]),
                "glance-api": int(params["glance-api"]["url"].rsplit(":", 1)[1])}
    sections = haproxy_sections((REPO / "haproxy" / "haproxy.cfg").read_text())
    for svc, public in (("keystone", 5000), ("glance-api", 9292)):
        lines = sections[f"listen {svc}"]
        assert [w[1:] for w in lines if w[0] == "bind"] == [[f"{vip}:{public}"]]
        servers = [w[2] for w in lines if w[0] == "server"]
        assert len(servers) == 3, servers
        for server in servers:
            addr, port = server.rsplit(":", 1)
            assert int(port) == internal[svc], server
            assert ipaddress.ip_address(addr) in PLACEHOLDER_NET and addr != vip, server
        assert ["option", "httpchk", "GET", "/healthcheck"] in lines
        # every server asks the agent-check responder, naming its backend (the responder's table)
        agent = [w for w in lines if w[0] == "server"]
        assert all(w[3:] == ["check", "agent-check", "agent-send", f'"{svc}\\n"'] for w in agent), agent
    defaults = " ".join(" ".join(w) for w in sections["defaults"] if w[0] == "default-server")
    assert f"agent-port {agent_check_port()}" in defaults and "agent-inter 1s" in defaults, defaults


# ---------------------------------------------------------------- start

def test_everything_starts_ip_with_haproxy(cl):
    res = cl.started
    assert not res.failed
    for rsc in CLONED:
        assert res.nodes_of(rsc) == cl.nodes, res.summary()
    assert cl.ip_node in res.nodes_of("haproxy")
    g = res.graph
    ip = g.one("FloatingIP", "start")
    assert g.before(g.one("haproxy", "start", ip.node), ip), "the IP starts before its node's HAProxy"
    # the IP waits for no Keystone or Glance instance: HAProxy health-checks them
    for svc in SERVICES:
        for node in cl.nodes:
            assert not g.before(g.one(svc, "start", node), ip), f"the IP waits for {svc} on {node}"


# ---------------------------------------------------------------- the IP follows HAProxy

def test_haproxy_banned_from_ip_node_moves_the_ip(cl):
    cib = ban(cl.workdir, cl.started.out_cib, "ban-haproxy", "haproxy-clone", cl.ip_node)
    res = cl.sim("haproxy-banned", cib=cib)
    new = res.where("FloatingIP")
    assert new in cl.others(cl.ip_node) and new in res.nodes_of("haproxy"), res.summary()
    assert res.nodes_of("haproxy") == cl.others(cl.ip_node)
    assert res.graph.start_stop() == sorted([("FloatingIP", "start", new), ("FloatingIP", "stop", cl.ip_node),
                                             ("haproxy", "stop", cl.ip_node)]), res.summary()
    # and the IP leaves before that HAProxy stops
    g = res.graph
    assert g.before(g.one("FloatingIP", "stop", cl.ip_node), g.one("haproxy", "stop", cl.ip_node))
    cl.assert_untouched(res, except_rscs=("FloatingIP", "haproxy"))


def test_haproxy_that_failed_to_start_moves_the_ip(cl):
    """A failed start makes the fail-count INFINITY (start-failure-is-fatal): HAProxy cannot
    run there any more, so neither can the IP."""
    cib = with_fail_count(cl.workdir, cl.started.out_cib, "fc-haproxy", "haproxy", "start_0", cl.ip_node)
    res = cl.sim("haproxy-start-failed", cib=cib)
    assert res.where("FloatingIP") in cl.others(cl.ip_node), res.summary()
    assert res.nodes_of("haproxy") == cl.others(cl.ip_node), res.summary()
    cl.assert_untouched(res, except_rscs=("FloatingIP", "haproxy"))


@pytest.mark.parametrize("where", ["ip-node", "other-node"])
def test_haproxy_monitor_failure_restarts_it_in_place(cl, where):
    """The order is Optional: restarting HAProxy does not stop and start the IP too."""
    node = cl.ip_node if where == "ip-node" else cl.others(cl.ip_node)[0]
    res = cl.sim(f"haproxy-mon-fail-{where}", "-i", f"haproxy_monitor_5000@{node}=7")
    assert res.graph.start_stop() == [("haproxy", "start", node), ("haproxy", "stop", node)], res.summary()
    assert res.where("FloatingIP") == cl.ip_node
    cl.assert_untouched(res, except_rscs=("haproxy",))


# ---------------------------------------------------------------- a backend never moves the IP

@pytest.mark.parametrize("rc", [1, 7], ids=["rc1-unhealthy", "rc7-not-running"])
@pytest.mark.parametrize("where", ["ip-node", "other-node"])
@pytest.mark.parametrize("svc", SERVICES)
def test_service_failure_restarts_only_that_instance(cl, svc, where, rc):
    node = cl.ip_node if where == "ip-node" else cl.others(cl.ip_node)[-1]
    res = cl.sim(f"{svc}-{where}-fail-{rc}", "-i", f"{svc}_monitor_10000@{node}={rc}")
    assert res.graph.start_stop() == [(svc, "start", node), (svc, "stop", node)], res.summary()
    assert [(a, base_rsc(r), n) for a, r, n in res.planned] == [("recover", svc, node)], res.summary()
    g = res.graph
    assert g.before(g.one(svc, "stop", node), g.one(svc, "start", node))
    assert res.where("FloatingIP") == cl.ip_node
    cl.assert_untouched(res, except_rscs=(svc,))
    assert res.nodes_of(svc) == cl.nodes


@pytest.mark.parametrize("svc", SERVICES)
def test_service_banned_from_ip_node_leaves_the_ip(cl, svc):
    """Unlike openstack-ha-clone.crm, where the IP leaves a node without Keystone."""
    cib = ban(cl.workdir, cl.started.out_cib, f"ban-{svc}-ip-node", f"{svc}-clone", cl.ip_node)
    res = cl.sim(f"{svc}-banned-ip-node", cib=cib)
    assert res.where("FloatingIP") == cl.ip_node
    assert res.graph.start_stop() == [(svc, "stop", cl.ip_node)], res.summary()
    assert res.nodes_of(svc) == cl.others(cl.ip_node)


def test_keystone_nowhere_leaves_everything_else(cl):
    """Even a service that can run on no node moves nothing: HAProxy answers 503 for it and
    keeps serving the other one."""
    cib = ban(cl.workdir, cl.started.out_cib, "ban-ks-all", "keystone-clone", *cl.nodes)
    res = cl.sim("keystone-nowhere", cib=cib)
    assert res.nodes_of("keystone") == []
    assert res.where("FloatingIP") == cl.ip_node
    assert res.graph.start_stop() == sorted(("keystone", "stop", n) for n in cl.nodes), res.summary()
    cl.assert_untouched(res, except_rscs=("keystone",))


# ---------------------------------------------------------------- node loss

def test_ip_node_loss_moves_only_the_ip(cl):
    res = cl.sim("ip-node-lost", "-f", cl.ip_node)
    new = res.where("FloatingIP")
    assert new in cl.others(cl.ip_node)
    # the survivors' HAProxies and instances are neither stopped nor started: only the IP starts
    assert res.graph.start_stop() == [("FloatingIP", "start", new)], res.summary()
    assert res.planned == [("start", "FloatingIP", new)], res.summary()
    cl.assert_untouched(res, except_nodes=(cl.ip_node,), except_rscs=("FloatingIP",))


def test_other_node_loss_changes_nothing(cl):
    lost = cl.others(cl.ip_node)[0]
    res = cl.sim("other-node-lost", "-f", lost)
    assert res.where("FloatingIP") == cl.ip_node
    cl.assert_untouched(res, except_nodes=(lost,))


def test_returning_node_gets_its_instances_not_the_ip(cl):
    """After the IP's node was lost (fenced and rebooted: no resource history), it comes
    back: its instances start there, and the IP stays where it went."""
    lost = cl.sim("lost-before-return", "-f", cl.ip_node)
    new = lost.where("FloatingIP")
    cib = forget_node_history(cl.workdir, lost.out_cib, "rebooted", cl.ip_node)
    res = cl.sim("node-returns", "-u", cl.ip_node, cib=cib)
    assert res.where("FloatingIP") == new, res.summary()
    assert res.graph.start_stop() == sorted((rsc, "start", cl.ip_node) for rsc in CLONED), res.summary()
    cl.assert_untouched(res, except_rscs=CLONED)
    for rsc in CLONED:
        assert res.nodes_of(rsc) == cl.nodes


# ---------------------------------------------------------------- the lab sequence

def test_lab_properties_then_snippet(installed_agents, crm_dir, tmp_path):
    """The documented lab order into an empty CIB, as test_offline_sim.py does for the other
    snippets (its lab_cib and lab_start): the nodes, a fence device per node and
    lab-two-node.crm in one load, then this snippet. Everything starts, and the started CIB
    (with fencing on, an empty status has no quorum) verifies."""
    cib = lab_cib(tmp_path, crm_dir, crm_dir / SNIPPET)
    assert cluster_properties(cib).get("stonith-enabled") == "true"
    res = lab_start(tmp_path, cib)
    devices = {f"fence-{node}" for node in node_names(2)}
    assert set(res.placement) == set(ALL) | devices and not res.failed, res.summary()
    verify = crm_verify(res.out_cib)
    assert verify.returncode == 0, verify.stdout + verify.stderr

