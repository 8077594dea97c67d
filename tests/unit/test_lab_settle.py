"""The lab's "depth-10 monitors passed" check on crm_mon's node history.

The node history below is what crm_mon --output-as=xml printed (trimmed) for a three-node
clone lab whose bring-up never settled: Glance's first depth-10 monitor met a Keystone still
warming up (degraded, 190) and passed a minute later, and crm_mon lists both results of that
one recurring operation (same call id): the failure record and the current one.
"""

import xml.etree.ElementTree as ET

import pytest
from raolab.cib import latest_operation, moves, placement
from raolab.cluster import ClusterError
from raolab.lab import Lab, LabOptions
from raolab.topology.settle import depth10_pending

HISTORY = """<pacemaker-result><nodes>
  <node name="node1" online="true" standby="false"/>
</nodes><node_history><node name="node1">
  <resource_history id="glance-api">
    <operation_history call="22" task="start" rc="0" last-rc-change="Wed Dec  2 04:19:57 2026"/>
    <operation_history call="23" task="monitor" rc="{first}" interval="60000ms" last-rc-change="Wed Dec  2 04:20:28 2026"/>
    <operation_history call="23" task="monitor" rc="{second}" interval="60000ms" last-rc-change="Wed Dec  2 04:21:33 2026"/>
    <operation_history call="26" task="monitor" rc="0" interval="10000ms" last-rc-change="Wed Dec  2 04:20:30 2026"/>
  </resource_history>
</node></node_history></pacemaker-result>"""


def pending(first: str, second: str, failed_is_pending: bool = False):
    mon = ET.fromstring(HISTORY.format(first=first, second=second))
    return depth10_pending(mon, failed_is_pending)


def test_a_degraded_result_followed_by_a_pass_is_settled():
    assert pending("190", "0") is None


def test_a_pass_followed_by_a_degraded_result_is_pending():
    assert pending("0", "190") == "depth-10 monitors pending: ['glance-api@node1']"


def test_a_failed_depth10_monitor_is_an_error():
    with pytest.raises(ClusterError, match="depth-10 monitor failed on node1"):
        pending("190", "1")


def test_at_bring_up_a_failed_one_is_waited_for_until_it_passes():
    # a Glance that started before any Keystone answered: failed, restarted by Pacemaker
    assert pending("0", "1", failed_is_pending=True) == "depth-10 monitors pending: ['glance-api@node1']"
    assert pending("1", "0", failed_is_pending=True) is None


def test_the_newest_entry_wins_a_tie_by_position():
    same = "Wed Dec  2 04:20:27 2026"
    first, second = {"rc": "190", "last-rc-change": same}, {"rc": "0", "last-rc-change": same}
    assert latest_operation([first, second]) is second
    assert latest_operation([second, first]) is first
    assert latest_operation([]) is None


# ---------------------------------------------------------------- every resource and clone instance
# crm_mon --output-as=xml (trimmed; the element shapes as a live lab prints them, a Stopped
# clone instance has no <node>) of a two-node group lab the moment CI's bring-up said
# "resources Started: ..., database-watch@-:Stopped, keys-watch@-:Stopped": the group runs on
# node1, the watcher clones had started on node2 only. The drill that followed killed the
# database 0.3 s later and counted the watchers' first start on node1 as a move.

def _instance(rsc: str, node: str = "", role: str = "Started", failed: str = "false") -> str:
    where = f'<node name="{node}" id="{node[-1]}" cached="true"/>' if node else ""
    active = "true" if node else "false"
    agent = ("ocf:heartbeat:IPaddr2" if rsc == "FloatingIP" else "stonith:fence_raolab" if rsc.startswith("fence-")
             else f"ocf:openstack:{rsc}")
    return (f'<resource id="{rsc}" resource_agent="{agent}" role="{role}" active="{active}" '
            f'orphaned="false" blocked="false" managed="true" failed="{failed}" failure_ignored="false" '
            f'nodes_running_on="{1 if node else 0}">{where}</resource>')


def _clone(rsc: str, *instances: str) -> str:
    return (f'<clone id="{rsc}-clone" multi_state="false" unique="false" maintenance="false" managed="true" '
            f'disabled="false" failed="false" failure_ignored="false">{"".join(instances)}</clone>')


def _clone_on(rsc: str, on) -> str:
    """rsc's clone on two nodes: Started on ``on``, a Stopped instance for each other node."""
    return _clone(rsc, *[_instance(rsc, n) for n in on], *[_instance(rsc, role="Stopped") for _ in range(2 - len(on))])


def _two_nodes(resources: str) -> ET.Element:
    return ET.fromstring(
        '<pacemaker-result api-version="2.25"><summary>'
        '<current_dc present="true" name="node2" id="2" with_quorum="true"/></summary><nodes>'
        '<node name="node1" id="1" online="true" standby="false" maintenance="false" type="member"/>'
        '<node name="node2" id="2" online="true" standby="false" maintenance="false" type="member"/>'
        f"</nodes><resources>{resources}</resources></pacemaker-result>")


def group_lab(watchers_on=("node1", "node2")) -> ET.Element:
    """The group on node1; each watcher clone Started on watchers_on, Stopped elsewhere."""
    return _two_nodes(_instance("FloatingIP", "node1") + _instance("keystone", "node1")
                      + _instance("glance-api", "node1")
                      + _clone_on("database-watch", watchers_on) + _clone_on("keys-watch", watchers_on))


def clone_lab(keystone_on=("node1", "node2"), watchers_on=("node1", "node2")) -> ET.Element:
    """The clone snippet on two nodes: the IP on node1."""
    return _two_nodes(_instance("FloatingIP", "node1") + _clone_on("keystone", keystone_on)
                      + _clone_on("glance-api", ("node1", "node2"))
                      + _clone_on("database-watch", watchers_on) + _clone_on("keys-watch", watchers_on))


def lab_in(mode: str) -> Lab:
    lab = Lab.__new__(Lab)          # no __init__: it reads the host's settings and makes a Cluster
    lab.opts = LabOptions(mode=mode)
    return lab


def test_a_watcher_clone_instance_still_stopped_is_not_settled():
    why = lab_in("group").settled(group_lab(watchers_on=("node2",)))
    assert why is not None and "database-watch" in why and "node1" in why, why


def test_every_resource_and_clone_instance_started_is_settled():
    assert lab_in("group").settled(group_lab()) is None
    assert lab_in("clone").settled(clone_lab()) is None


def test_a_clone_instance_missing_on_one_node_is_not_settled_in_the_clone_lab():
    assert "keys-watch" in (lab_in("clone").settled(clone_lab(watchers_on=("node1",))) or "")
    assert "keystone" in (lab_in("clone").settled(clone_lab(keystone_on=("node2",))) or "")


def test_a_failed_clone_instance_is_not_settled():
    mon = group_lab()
    mon.find("./resources/clone/resource").set("failed", "true")
    assert "database-watch" in (lab_in("group").settled(mon) or "")


def test_a_first_start_is_not_a_move():
    before, after = placement(group_lab(watchers_on=("node2",))), placement(group_lab())
    assert moves(before, after) == {}


def test_a_resource_that_left_a_node_moved():
    before = placement(group_lab())
    after = {**before, "FloatingIP": ["node2"], "keys-watch": ["node2"]}
    assert moves(before, after) == {"FloatingIP": ["node1"], "keys-watch": ["node1"]}


def fencing_group_lab(node2_online: bool) -> ET.Element:
    """rao-lab --fencing: fence-nodeI may run anywhere but on nodeI. With node2 down,
    fence-node1 (which only node2 may run) has nowhere to run."""
    mon = _two_nodes(_instance("fence-node1", "node2" if node2_online else "") + _instance("fence-node2", "node1")
                     + _instance("FloatingIP", "node1") + _instance("keystone", "node1") + _instance("glance-api", "node1")
                     + _clone_on("database-watch", ("node1", "node2") if node2_online else ("node1",))
                     + _clone_on("keys-watch", ("node1", "node2") if node2_online else ("node1",)))
    if not node2_online:
        mon.find("./nodes/node[@name='node2']").set("online", "false")
    return mon


def test_a_fence_device_with_nowhere_to_run_does_not_keep_the_lab_unsettled():
    assert lab_in("group").settled(fencing_group_lab(node2_online=False), expect_nodes=["node1"]) is None
    assert lab_in("group").settled(fencing_group_lab(node2_online=True)) is None


def test_a_fence_device_stopped_while_every_node_is_up_is_not_settled():
    mon = fencing_group_lab(node2_online=True)
    device = mon.find("./resources/resource[@id='fence-node1']")
    device.set("role", "Stopped")
    device.set("active", "false")
    device.remove(device.find("node"))
    assert "fence-node1" in (lab_in("group").settled(mon) or "")


# ---------------------------------------------------------------- a degraded result that passed since
# CI (stop 27, HAProxy lab, the data drill's "node2 online again"): Glance's first depth-10
# monitor on node2 met the local Keystone still starting and returned degraded (190).
# crm_mon keeps that result among the failures after the monitor passed again (same call
# id; only a cleanup forgets it), so the wait never settled and the drill failed after 120 s.
# The failure entry and node history as crm_mon --output-as=xml printed them (trimmed).

def degraded_glance_lab(latest_rc: str) -> ET.Element:
    mon = clone_lab()
    ET.SubElement(ET.SubElement(mon, "failures"), "failure", {
        "op_key": "glance-api_monitor_60000", "node": "node2", "exitstatus": "OCF_DEGRADED",
        "exitreason": "glance-api depth-10 check: Keystone at http://127.0.0.1:4990/v3 is unavailable",
        "exitcode": "190", "call": "99", "status": "complete", "last-rc-change": "2026-12-06 14:06:21Z",
        "queued": "1", "exec": "10456", "interval": "60000", "task": "monitor"})
    history = ET.SubElement(ET.SubElement(ET.SubElement(mon, "node_history"), "node", {"name": "node2"}),
                            "resource_history", {"id": "glance-api"})
    for rc, when in (("190", "Sun Dec  6 14:06:21 2026"), (latest_rc, "Sun Dec  6 14:07:31 2026")):
        ET.SubElement(history, "operation_history", {"call": "99", "task": "monitor", "rc": rc,
                                                     "interval": "60000ms", "last-rc-change": when})
    return mon


def test_a_degraded_monitor_that_passed_since_is_settled():
    assert lab_in("clone").settled(degraded_glance_lab(latest_rc="0")) is None


def test_a_degraded_monitor_not_passed_since_is_not_settled():
    why = lab_in("clone").settled(degraded_glance_lab(latest_rc="190"))
    assert why is not None and "glance-api_monitor_60000" in why, why
    # bring-up accepts it (the monitor passes a minute later; nothing is restarted)
    assert lab_in("clone").settled(degraded_glance_lab(latest_rc="190"), allow_degraded=True) is None


def test_any_other_failure_is_not_settled_whatever_came_after():
    mon = degraded_glance_lab(latest_rc="0")
    mon.find("./failures/failure").set("exitcode", "1")
    assert "glance-api_monitor_60000" in (lab_in("clone").settled(mon) or "")
