"""The crm snippets, checked offline with crm_verify and crm_simulate (no daemons).

Each snippet is loaded into a CIB file with two nodes, exactly as an operator would
load it (crmsh checks it against the installed agents' meta-data). Pacemaker's own
scheduler then decides placement, ordering and recovery. Every assertion is on parsed
XML: crm_simulate's result, its transition graph, or the CIB.
"""

import ipaddress
import time
from typing import Dict, Iterable

import pytest
from pcmk_sim import (
    NO_FENCING,
    TWO_NODES,
    Action,
    Graph,
    SimError,
    SimResult,
    ban,
    build_cib,
    cluster_properties,
    crm_verify,
    fence_delays,
    meta_attributes,
    node_names,
    nodes_crm,
    other,
    primitive_params,
    simulate,
    with_node_attribute,
)

SERVICES = ("keystone", "glance-api")
ALL = ("FloatingIP",) + SERVICES
WATCH = "database-watch"      # the clone that publishes openstack-db on every controller
KEYS = "keys-watch"           # the clone that publishes openstack-keys on every controller
PLACEHOLDER_NET = ipaddress.ip_network("192.0.2.0/24")  # RFC 5737 TEST-NET-1
CREDENTIALS = {"os_username", "os_password", "os_project_name"}


class Scenario:
    """One snippet in a two-node CIB, with both nodes up and the resources started."""

    def __init__(self, workdir, crm_dir, snippet):
        self.workdir = workdir
        t0 = time.monotonic()
        self.cib = build_cib(workdir, "base", [crm_dir / snippet])
        self.verify = crm_verify(self.cib)
        self.started = simulate(workdir, self.cib, "start", "-q", "true", "-u", "node1", "-u", "node2")
        print(f"\n[{snippet}] CIB built, verified and started in {time.monotonic() - t0:.2f}s: "
              f"{self.started.summary()}", flush=True)

    def sim(self, name: str, *args: str, cib=None) -> SimResult:
        result = simulate(self.workdir, cib or self.started.out_cib, name, *args)
        print(f"  {result.summary()}", flush=True)
        return result


@pytest.fixture(scope="module")
def group_sc(installed_agents, crm_dir, tmp_path_factory):
    return Scenario(tmp_path_factory.mktemp("sim-ha"), crm_dir, "openstack-ha.crm")


@pytest.fixture(scope="module")
def clone_sc(installed_agents, crm_dir, tmp_path_factory):
    return Scenario(tmp_path_factory.mktemp("sim-ha-clone"), crm_dir, "openstack-ha-clone.crm")


def assert_verify_clean(verify):
    assert verify.returncode == 0, f"crm_verify -x failed:\n{verify.stdout}\n{verify.stderr}"


def assert_operator_edits(cib):
    """Only the VIP and the credentials are set: valid placeholders, everything else default."""
    params = primitive_params(cib)
    assert set(params) == set(ALL) | {WATCH, KEYS}
    assert params[WATCH] == {} and params[KEYS] == {}, "the watchers run with their defaults"
    vip = params["FloatingIP"]
    assert set(vip) == {"ip", "cidr_netmask"}
    assert ipaddress.ip_address(vip["ip"]) in PLACEHOLDER_NET
    for svc in SERVICES:
        assert set(params[svc]) == CREDENTIALS, f"{svc} sets {sorted(params[svc])}"
        assert all(params[svc][k] for k in CREDENTIALS)


# ================================================================ openstack-ha.crm (active/passive)

def test_group_loads_and_verifies(group_sc):
    assert_verify_clean(group_sc.verify)
    # the snippet sets no cluster property: only what our preamble set is there
    assert cluster_properties(group_sc.cib) == {"stonith-enabled": "false"}
    assert_operator_edits(group_sc.cib)


def test_group_all_three_on_one_node(group_sc):
    res = group_sc.started
    assert not res.failed
    node = res.where("FloatingIP")
    for rsc in SERVICES:
        assert res.nodes_of(rsc) == [node], res.summary()


def test_group_ip_first_then_services_in_parallel(group_sc):
    g: Graph = group_sc.started.graph
    ip, ks, gl = (g.one(rsc, "start") for rsc in ALL)
    assert ip.node == ks.node == gl.node
    assert g.before(ip, ks), "keystone must start after FloatingIP"
    assert g.before(ip, gl), "glance-api must start after FloatingIP"
    assert not g.before(ks, gl), "glance-api waits for keystone: they must start in parallel"
    assert not g.before(gl, ks), "keystone waits for glance-api: they must start in parallel"
    # both monitor depths are scheduled after the start
    for rsc, start in (("keystone", ks), ("glance-api", gl)):
        intervals = sorted(a.interval for a in g.ops(rsc, "monitor", ks.node, recurring=True))
        assert len(intervals) == 2 and intervals[0] < intervals[1], intervals
        assert all(g.before(start, a) for a in g.ops(rsc, "monitor", ks.node, recurring=True))


def test_group_node_failure_moves_everything(group_sc):
    active = group_sc.started.where("FloatingIP")
    survivor = other(active)
    res = group_sc.sim("ha-node-fail", "-f", active)
    for rsc in ALL:
        assert res.nodes_of(rsc) == [survivor], res.summary()
    started = {(rsc, node) for rsc, op, node in res.graph.start_stop() if op == "start"}
    assert started == {(rsc, survivor) for rsc in ALL}
    # the order holds on the survivor too
    g = res.graph
    ip = g.one("FloatingIP", "start", survivor)
    assert all(g.before(ip, g.one(s, "start", survivor)) for s in SERVICES)


@pytest.mark.parametrize("rc", [1, 7], ids=["rc1-unhealthy", "rc7-not-running"])
@pytest.mark.parametrize("svc", SERVICES)
def test_group_service_monitor_failure_restarts_in_place(group_sc, svc, rc):
    node = group_sc.started.where(svc)
    res = group_sc.sim(f"ha-{svc}-mon-fail-{rc}", "-i", f"{svc}_monitor_10000@{node}={rc}")
    # exactly one stop and one start, of the failed service, on its node
    assert res.graph.start_stop() == [(svc, "start", node), (svc, "stop", node)], res.summary()
    g = res.graph
    assert g.before(g.one(svc, "stop", node), g.one(svc, "start", node))
    for rsc in ALL:
        assert res.nodes_of(rsc) == [node], res.summary()
    assert [(a, r) for a, r, _ in res.planned] == [("recover", svc)], res.summary()


def test_group_ip_moves_services_follow(group_sc):
    """The colocation points the right way: the services follow the IP."""
    node = group_sc.started.where("FloatingIP")
    cib = ban(group_sc.workdir, group_sc.started.out_cib, "ha-ban-ip", "FloatingIP", node)
    res = group_sc.sim("ha-ip-banned", cib=cib)
    for rsc in ALL:
        assert res.nodes_of(rsc) == [other(node)], res.summary()


def test_group_service_that_cannot_run_does_not_stop_the_rest(group_sc):
    """Keystone and Glance are not colocated with each other, and the IP needs neither."""
    node = group_sc.started.where("FloatingIP")
    cib = ban(group_sc.workdir, group_sc.started.out_cib, "ha-ban-ks", "keystone", "node1", "node2")
    res = group_sc.sim("ha-keystone-banned", cib=cib)
    assert res.nodes_of("keystone") == []
    assert res.nodes_of("FloatingIP") == [node] and res.nodes_of("glance-api") == [node], res.summary()
    assert res.graph.start_stop() == [("keystone", "stop", node)], res.summary()


# ================================================================ openstack-ha-clone.crm (active/active)

def test_clone_loads_and_verifies(clone_sc):
    assert_verify_clean(clone_sc.verify)
    assert cluster_properties(clone_sc.cib) == {"stonith-enabled": "false"}
    assert_operator_edits(clone_sc.cib)
    for clone in ("keystone-clone", "glance-api-clone"):
        assert meta_attributes(clone_sc.cib, clone).get("interleave") == "true", clone


def test_clone_instances_on_both_nodes_ip_on_one(clone_sc):
    res = clone_sc.started
    assert not res.failed
    for svc in SERVICES:
        assert res.nodes_of(svc) == ["node1", "node2"], res.summary()
    assert res.where("FloatingIP") in ("node1", "node2")
    # no order: the IP's start waits for no instance (so that its move away from a failed
    # instance never waits for that instance's restart; see the reported-failure tests)
    g = res.graph
    ip = g.one("FloatingIP", "start")
    for svc in SERVICES:
        assert not g.before(g.one(svc, "start", ip.node), ip), f"FloatingIP waits for {svc}"


def test_clone_ip_node_failure_moves_only_the_ip(clone_sc):
    active = clone_sc.started.where("FloatingIP")
    survivor = other(active)
    res = clone_sc.sim("clone-ip-node-fail", "-f", active)
    assert res.nodes_of("FloatingIP") == [survivor], res.summary()
    for svc in SERVICES:
        assert res.nodes_of(svc) == [survivor], res.summary()
    # the survivor's instances are neither stopped nor started: only the IP starts
    assert res.graph.start_stop() == [("FloatingIP", "start", survivor)], res.summary()
    assert [(a, r, n) for a, r, n in res.planned] == [("start", "FloatingIP", survivor)], res.summary()


def test_clone_other_node_failure_changes_nothing(clone_sc):
    active = clone_sc.started.where("FloatingIP")
    res = clone_sc.sim("clone-other-node-fail", "-f", other(active))
    assert res.nodes_of("FloatingIP") == [active]
    assert res.graph.start_stop() == [], res.summary()


@pytest.mark.parametrize("svc", SERVICES)
@pytest.mark.parametrize("where", ["ip-node", "other-node"])
def test_clone_instance_failure_restarts_only_that_instance(clone_sc, svc, where):
    ip_node = clone_sc.started.where("FloatingIP")
    node = ip_node if where == "ip-node" else other(ip_node)
    res = clone_sc.sim(f"clone-{svc}-{where}-fail", "-i", f"{svc}_monitor_10000@{node}=1")
    # that instance restarts where it is; the IP and every other instance are untouched
    assert res.graph.start_stop() == [(svc, "start", node), (svc, "stop", node)], res.summary()
    assert res.nodes_of("FloatingIP") == [ip_node]
    for s in SERVICES:
        assert res.nodes_of(s) == ["node1", "node2"]


def test_clone_no_keystone_means_no_ip(clone_sc):
    """The IP only runs where Keystone does: ban keystone from the IP's node -> the IP moves."""
    ip_node = clone_sc.started.where("FloatingIP")
    cib = ban(clone_sc.workdir, clone_sc.started.out_cib, "clone-ban-ks", "keystone-clone", ip_node)
    res = clone_sc.sim("clone-keystone-banned", cib=cib)
    assert res.nodes_of("FloatingIP") == [other(ip_node)], res.summary()
    assert res.nodes_of("keystone") == [other(ip_node)]
    assert res.nodes_of("glance-api") == ["node1", "node2"]


def failed_mark(svc: str) -> str:
    return f"openstack-{svc}-failed"   # set by the failure watcher (ocf_openstack/watchers/failure/mark.py)


@pytest.mark.parametrize("svc", SERVICES)
def test_clone_reported_failure_on_the_ip_node_moves_the_ip_at_once(clone_sc, svc):
    """The watcher marks its node, then reports (a failure of that instance): the IP goes to
    the other node's running instance in the same transition that restarts this one in
    place; no other instance is touched."""
    ip_node = clone_sc.started.where("FloatingIP")
    cib = with_node_attribute(clone_sc.workdir, clone_sc.started.out_cib, f"mark-{svc}", ip_node,
                              failed_mark(svc), "1")
    res = clone_sc.sim(f"clone-{svc}-reported", "-i", f"{svc}_monitor_10000@{ip_node}=1", cib=cib)
    assert res.where("FloatingIP") == other(ip_node), res.summary()
    assert sorted(res.graph.start_stop()) == sorted([
        ("FloatingIP", "stop", ip_node), ("FloatingIP", "start", other(ip_node)),
        (svc, "stop", ip_node), (svc, "start", ip_node)]), res.summary()
    # the IP does not wait for the local restart: its start needs no action of that instance
    ip_start = res.graph.one("FloatingIP", "start", other(ip_node))
    assert not res.graph.before(res.graph.one(svc, "start", ip_node), ip_start), res.summary()
    for s in SERVICES:
        assert res.nodes_of(s) == ["node1", "node2"]
    # the restarted instance's start deletes the mark: the IP stays where it went
    back = with_node_attribute(clone_sc.workdir, res.out_cib, f"unmark-{svc}", ip_node, failed_mark(svc), "0")
    again = clone_sc.sim(f"clone-{svc}-unmarked", cib=back)
    assert again.where("FloatingIP") == other(ip_node) and again.graph.start_stop() == [], again.summary()


def test_clone_reported_failure_elsewhere_or_everywhere_moves_nothing(clone_sc):
    ip_node = clone_sc.started.where("FloatingIP")
    cib = with_node_attribute(clone_sc.workdir, clone_sc.started.out_cib, "mark-other", other(ip_node),
                              failed_mark("keystone"), "1")
    res = clone_sc.sim("clone-marked-other", cib=cib)
    assert res.where("FloatingIP") == ip_node and res.graph.start_stop() == [], res.summary()
    both = with_node_attribute(clone_sc.workdir, cib, "mark-both", ip_node, failed_mark("glance-api"), "1")
    res = clone_sc.sim("clone-marked-both", cib=both)
    assert res.where("FloatingIP") == ip_node and res.graph.start_stop() == [], res.summary()


@pytest.mark.parametrize("svc", SERVICES)
def test_group_reported_failure_restarts_in_place_the_mark_changes_nothing(group_sc, svc):
    """The group snippet has no rule for the mark: the failed service restarts in place,
    nothing moves (moving all three would take longer than the restart)."""
    active = group_sc.started.where("FloatingIP")
    cib = with_node_attribute(group_sc.workdir, group_sc.started.out_cib, f"g-mark-{svc}", active,
                              failed_mark(svc), "1")
    res = group_sc.sim(f"ha-{svc}-reported", "-i", f"{svc}_monitor_10000@{active}=1", cib=cib)
    assert res.graph.start_stop() == [(svc, "start", active), (svc, "stop", active)], res.summary()
    assert res.where("FloatingIP") == active


# ================================================================ lab-two-node.crm (fencing on)

# A stand-in fence device per node for the offline CIB: cluster-glue's stonith:null ("FOR
# TESTING ONLY"), which Debian 12 and 13 install with pacemaker. The lab's own agent
# (fence_raolab) is not in the Debian 13 test root, nor is any agent of fence-agents; the
# operator guide's real devices are checked in test_offline_fencing.py.
LAB_DEVICES = "".join(f"primitive fence-{node} stonith:null params hostlist={node} op monitor interval=60s\n"
                      for node in node_names(2))


def fence_ops(res: SimResult) -> Dict[str, Action]:
    """node -> the action of the transition graph that fences it."""
    return {a.node: a for a in res.graph.actions.values() if a.kind == "crm_event" and a.operation == "stonith"}


def assert_fenced_before_starts(res: SimResult, lost: str, survivor: str, rscs: Iterable[str] = ALL) -> None:
    """``lost`` is fenced, and every start of ``rscs`` on ``survivor`` waits for that fence
    (fence devices need only quorum: they may start at once)."""
    fence = fence_ops(res).get(lost)
    assert fence is not None, f"no fencing of {lost}: {res.summary()}"
    starts = [a for a in res.graph.ops(operation="start", node=survivor) if a.rsc in set(rscs)]
    assert starts, res.summary()
    early = [str(a) for a in starts if not res.graph.before(fence, a)]
    assert early == [], f"started before {lost} was fenced: {early}"


def lab_cib(tmp_path, crm_dir, *snippets, devices: str = LAB_DEVICES):
    """The documented lab order: the nodes, a fence device per node and lab-two-node.crm in
    ONE load (crmsh 5 on Debian 13 refuses any commit that leaves fencing on without a
    device, even a bare node list), then the snippets."""
    lab = tmp_path / "lab.crm"
    lab.write_text(TWO_NODES + devices + (crm_dir / "lab-two-node.crm").read_text())
    return build_cib(tmp_path, "lab", [lab, *snippets], preamble="")


def lab_start(tmp_path, cib) -> SimResult:
    return simulate(tmp_path, cib, "lab-start", "-q", "true", "-u", "node1", "-u", "node2")


def test_lab_properties_with_devices_make_a_valid_cib(installed_agents, crm_dir, tmp_path):
    cib = lab_cib(tmp_path, crm_dir)
    props = cluster_properties(cib)
    assert props.get("stonith-enabled") == "true" and "no-quorum-policy" not in props, props
    assert {"stonith-timeout", "priority-fencing-delay"} <= set(props), props
    # it is only properties: the devices are ours, no resources, no constraints
    assert set(primitive_params(cib)) == {"fence-node1", "fence-node2"}
    # crm_verify of a CIB whose nodes are up (an empty status has no quorum: with fencing on
    # that is a warning, rc 78)
    started = lab_start(tmp_path, cib)
    assert_verify_clean(crm_verify(started.out_cib))


def test_lab_properties_without_devices_are_not_enough(installed_agents, crm_dir, tmp_path):
    """Control: lab-two-node.crm alone. crmsh 5 refuses the commit; crmsh 4.4 takes it, and
    then crm_verify finds no fence device."""
    try:
        cib = lab_cib(tmp_path, crm_dir, devices="")
    except SimError as refused:
        assert "STONITH" in str(refused) or "stonith" in str(refused), refused
        return
    proc = crm_verify(lab_start(tmp_path, cib).out_cib)
    assert proc.returncode != 0 and "STONITH" in proc.stderr, proc.stderr


@pytest.mark.parametrize("snippet", ["openstack-ha.crm", "openstack-ha-clone.crm"])
def test_lab_properties_with_each_snippet(installed_agents, crm_dir, tmp_path, snippet):
    """The documented lab sequence into an empty CIB; everything starts, the CIB verifies."""
    cib = lab_cib(tmp_path, crm_dir, crm_dir / snippet)
    res = lab_start(tmp_path, cib)
    assert set(res.placement) >= set(ALL) | {WATCH, KEYS} and not res.failed, res.summary()
    assert_verify_clean(crm_verify(res.out_cib))


@pytest.mark.parametrize("snippet", ["openstack-ha.crm", "openstack-ha-clone.crm"])
def test_lab_fence_race_the_ip_node_wins(installed_agents, crm_dir, tmp_path, snippet):
    """The fence race of a cut link, as each side schedules it: the fencing of the IP's node
    carries priority-fencing-delay (the IP's priority=10 makes it the node with the highest
    priority), the other node's none. A lost IP node is fenced before anything starts on the
    survivor."""
    started = lab_start(tmp_path, lab_cib(tmp_path, crm_dir, crm_dir / snippet))
    active = started.where("FloatingIP")
    lost_active = simulate(tmp_path, started.out_cib, "lab-lost-active", "-f", active)
    lost_other = simulate(tmp_path, started.out_cib, "lab-lost-other", "-f", other(active))
    assert fence_delays(lost_active) == {active: 5}, lost_active.summary()
    assert fence_delays(lost_other) == {other(active): 0}, lost_other.summary()
    assert_fenced_before_starts(lost_active, active, other(active))
    assert lost_active.where("FloatingIP") == other(active), lost_active.summary()
    assert lost_other.where("FloatingIP") == active, lost_other.summary()
    assert [op for op in lost_other.graph.start_stop() if op[0] in ALL] == [], lost_other.summary()


def test_without_fencing_the_snippet_is_refused(installed_agents, crm_dir, tmp_path):
    """Control: with fencing on (the default) and no fence device, crmsh refuses the
    snippet and commits nothing. The snippets set no cluster properties, so an operator
    loads the fence devices and the fencing properties first, in one commit."""
    with pytest.raises(SimError, match="STONITH"):
        build_cib(tmp_path, "nofence", [crm_dir / "openstack-ha.crm"], preamble=TWO_NODES)
    assert primitive_params(tmp_path / "nofence.xml") == {}


# ================================================================ the database watcher (both snippets)

@pytest.fixture(params=["group", "clone"])
def any_sc(request, group_sc, clone_sc):
    return group_sc if request.param == "group" else clone_sc


def test_database_watch_runs_on_every_controller(any_sc):
    assert any_sc.started.nodes_of(WATCH) == ["node1", "node2"], any_sc.started.summary()


@pytest.mark.parametrize("attribute", ["openstack-db", "openstack-keys"])
def test_controller_cut_off_from_the_database_gives_way(any_sc, group_sc, attribute):
    """openstack-db=0 on the IP's node (the watcher saw the other node reach the database
    while this one could not), or openstack-keys=0 (its keys lack an issuer's while the other
    node's do not): the IP moves, and in the group the services with it."""
    active = any_sc.started.where("FloatingIP")
    cib = with_node_attribute(any_sc.workdir, any_sc.started.out_cib, f"cut-{attribute}", active, attribute, "0")
    res = any_sc.sim(f"cut-{attribute}", cib=cib)
    assert res.where("FloatingIP") == other(active), res.summary()
    if any_sc is group_sc:
        assert all(res.nodes_of(svc) == [other(active)] for svc in SERVICES), res.summary()
    else:   # the clone instances keep running where they are
        assert all(res.nodes_of(svc) == ["node1", "node2"] for svc in SERVICES), res.summary()
        assert not [a for a in res.graph.start_stop() if a[0] in SERVICES], res.summary()


@pytest.mark.parametrize("attribute", ["openstack-db", "openstack-keys"])
def test_database_lost_everywhere_moves_nothing(any_sc, attribute):
    """The watchers publish 0 only when another controller reaches the database (has
    consistent keys); should every controller say 0 anyway, the finite score moves nothing
    and stops nothing."""
    active = any_sc.started.where("FloatingIP")
    cib = any_sc.started.out_cib
    for node in ("node1", "node2"):
        cib = with_node_attribute(any_sc.workdir, cib, f"all-{attribute}-{node}", node, attribute, "0")
    res = any_sc.sim(f"everywhere-{attribute}", cib=cib)
    assert res.where("FloatingIP") == active and res.graph.start_stop() == [], res.summary()


def test_database_reachable_again_moves_nothing_back(any_sc):
    active = any_sc.started.where("FloatingIP")
    cib = with_node_attribute(any_sc.workdir, any_sc.started.out_cib, "cut2", active, "openstack-db", "0")
    moved = any_sc.sim("db-cut2", cib=cib)
    back = with_node_attribute(any_sc.workdir, moved.out_cib, "back", active, "openstack-db", "1")
    res = any_sc.sim("db-back", cib=back)
    assert res.where("FloatingIP") == other(active) and res.graph.start_stop() == [], res.summary()


# ================================================================ the keys watcher (both snippets)

def test_keys_watch_runs_on_every_controller(any_sc):
    assert any_sc.started.nodes_of(KEYS) == ["node1", "node2"], any_sc.started.summary()


@pytest.fixture(scope="module", params=["openstack-ha.crm", "openstack-ha-clone.crm"])
def three(request, installed_agents, crm_dir, tmp_path_factory):
    """The snippet on three controllers, all started."""
    workdir = tmp_path_factory.mktemp("sim-keys3")
    cib = build_cib(workdir, "three", [crm_dir / request.param], preamble=nodes_crm(3) + NO_FENCING)
    started = simulate(workdir, cib, "start3", "-q", "true", *[a for n in node_names(3) for a in ("-u", n)])
    return request.param, workdir, started


def test_lost_active_node_goes_to_the_consistent_controller_not_the_stale_one(three):
    """Drill 2 offline: openstack-keys=0 on one standby (its keys lack the issuer's primary
    while the other standby's are consistent); the active node is lost: the IP (in the
    group, Keystone and Glance with it) goes to the consistent one, whatever node ids say."""
    snippet, workdir, started = three
    active = started.where("FloatingIP")
    for stale in (n for n in node_names(3) if n != active):
        good = next(n for n in node_names(3) if n not in (active, stale))
        cib = with_node_attribute(workdir, started.out_cib, f"stale-{stale}", stale, "openstack-keys", "0")
        res = simulate(workdir, cib, f"keys-lost-{stale}", "-f", active)
        assert res.where("FloatingIP") == good, res.summary()
        if snippet == "openstack-ha.crm":
            assert all(res.nodes_of(svc) == [good] for svc in SERVICES), res.summary()


def test_lost_active_node_with_no_consistent_controller_still_moves(three):
    """Drill 3 offline: both standbys stale (every watcher then publishes 1; should both say
    0 anyway): the IP still moves to one of them, nothing is prevented."""
    snippet, workdir, started = three
    active = started.where("FloatingIP")
    cib = started.out_cib
    for n in node_names(3):
        if n != active:
            cib = with_node_attribute(workdir, cib, f"all-stale-{n}", n, "openstack-keys", "0")
    res = simulate(workdir, cib, "keys-lost-all-stale", "-f", active)
    assert res.where("FloatingIP") in node_names(3) and res.where("FloatingIP") != active, res.summary()
