"""Failover drills 1-6 on the active/passive snippet (crm/openstack-ha.crm), through our
agents, with the failure watcher on (watch=true, as the operator guide tells an operator to turn it
on), then the watcher's own drills.

One two-node lab for the whole module (labtest.make_lab); the drills run in order, each
leaves the lab settled for the next. Every drill polls Keystone and Glance through the
floating IP from the client namespace; the assertions are about recovery and data, not
about timings (bench/failover.py measures those), except that a killed service must be
reported by the watcher, before the next 10 s monitor could have run. The other lab
modules run the snippets as shipped (watcher off).

Then the fencing drills (the lab fences by default, as production must): a split brain
ends in one fence and the node with the floating IP wins; a frozen controller is fenced
before anything starts on the survivor; a stop that cannot finish costs the node, and the
services start elsewhere only after its fence; a fence device that fails leaves nothing
started twice until it works again.
"""

import re

import pytest

from labtest import make_lab, show
from raolab import drills
from raolab.drills import watch as watchdrills


@pytest.fixture(scope="module")
def lab(request, lab_root):
    yield from make_lab(request, "group", watch=True)


@pytest.fixture(scope="module")
def seed(lab):
    """An image and a token made through the floating IP before drills 4 and 5."""
    return drills.seed_data(lab)


def test_1_keystone_master_killed(lab):
    res = drills.keystone_kill(lab)
    show(res)
    assert res.ok, res.line()
    assert "failed asyncmon" in res.event, f"not reported by the failure watcher: {res.event}"
    assert res.detection < watchdrills.MONITOR_INTERVAL, res.line()
    assert res.downtime["keystone"] is not None
    # the group has no rule for the watcher's node attribute: the restart happens in place
    assert res.extra["floating_ip"]["after"] == [res.extra["floating_ip"]["before"]], res.extra


def test_2_glance_parent_killed(lab):
    res = drills.glance_kill(lab)
    show(res)
    assert res.ok, res.line()
    assert "failed asyncmon" in res.event, f"not reported by the failure watcher: {res.event}"
    assert res.detection < watchdrills.MONITOR_INTERVAL, res.line()
    # the worker a SIGKILLed glance parent leaves behind went with the stop
    assert not [n for n in res.notes if "process trees" in n or "still run" in n], res.notes


def test_3_keystone_hung(lab):
    res = drills.keystone_hang(lab)
    show(res)
    assert res.ok, res.line()
    # the monitor noticed the hang (timed out or failed its health check), or the failure
    # watcher did (an asyncmon failure), and Pacemaker replaced every frozen process
    assert re.search(r"health check failed|did not answer|Timed Out|timed out|failed asyncmon", res.event), res.event


def test_4_active_node_lost(lab, seed):
    res = drills.node_loss(lab)
    show(res)
    assert res.ok, res.line()
    assert res.detection is not None, "the survivor never declared the node lost"
    survivor = res.extra["survivor"]
    assert lab.where("FloatingIP") == [survivor]
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()
    data = drills.verify_data(lab, seed, "data after node-loss", delete=False)
    show(data)
    assert data.ok, data.line()


def test_5_switchover_and_back(lab, seed):
    before = lab.active_node()
    res = drills.switchover(lab)
    show(res)
    assert res.ok, res.line()
    assert res.phases["online"].ok, res.phases["online"].line()
    assert lab.active_node() != before, "the services did not switch over"


def test_6_nothing_lost(lab, seed):
    res = drills.verify_data(lab, seed)
    show(res)
    assert res.ok, res.line()


def test_7_routine_administration_records_no_failure(lab):
    res = watchdrills.watch_quiet(lab)
    show(res)
    assert len(res.extra["steps"]) == len(watchdrills.QUIET_STEPS), res.line()
    assert res.extra["failures"] == [], res.extra["failures"]
    assert res.ok, res.line()


def test_8_a_killed_watcher_is_replaced_without_a_failure(lab):
    res = watchdrills.watch_killed(lab)
    show(res)
    assert res.event, "the monitor did not log the missing watcher"
    assert res.extra["failures"] == [], res.extra["failures"]
    assert res.ok, res.line()


# ---------------------------------------------------------------- fencing (the lab fences by default)

def _fenced(res):
    """(caller, action, target, result) of every fencing action the switch logged in the drill."""
    return [(r["caller"], r["action"], r["target"], r["result"]) for r in res.extra["fencing"]]


def test_9_split_brain_ends_in_one_fence_and_the_ip_node_wins(lab):
    res = drills.split_brain(lab)
    show(res)
    assert res.ok, res.line()
    active, loser = res.extra["active"], res.extra["loser"]
    assert _fenced(res) == [(active, "reboot", loser, "ok")], res.extra["fencing"]
    assert res.extra["doubled"] == [], "two MACs answered for the floating IP"
    assert res.extra["ip"] == [active]
    # the services never left the IP's node, and answered through it all along
    assert res.extra["starts"] == {} and all(res.extra["kept_running"].values()), res.extra
    assert all(n == 0 for n, _ in res.failed.values()), res.failed
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()   # and no second fence (above)


def test_10_frozen_controller_is_fenced_before_the_takeover(lab):
    res = drills.frozen(lab)
    show(res)
    assert res.ok, res.line()
    assert _fenced(res) == [(next(n for n in ("node1", "node2") if n != res.extra["lost"]), "reboot",
                             res.extra["lost"], "ok")], res.extra["fencing"]
    # the frozen node's kernel answered ARP until the fence; the survivor's IP only after it
    assert set(res.extra["starts"]) == {"FloatingIP", "keystone", "glance-api"}, res.extra
    assert min(res.extra["starts"].values()) >= res.extra["off_verified"], res.extra
    assert res.extra["doubled"] == []
    assert res.phases["data"].ok, res.phases["data"].line()
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()


def test_11_a_stop_that_cannot_finish_costs_the_node_not_the_services(lab):
    res = drills.stop_failed(lab)
    show(res)
    assert res.ok, res.line()
    assert res.extra["frozen_stops"], "the drill never saw keystone's stop"
    assert [f[2] for f in _fenced(res)] == [res.extra["lost"]], res.extra["fencing"]
    assert set(res.extra["starts"]) == {"FloatingIP", "keystone", "glance-api"}, res.extra
    assert min(res.extra["starts"].values()) >= res.extra["off_verified"], res.extra
    assert res.phases["online"].ok, res.phases["online"].line()


def test_12_a_fence_device_that_fails_leaves_nothing_started_twice(lab):
    res = drills.fence_failed(lab)
    show(res)
    for line in res.extra.get("crm_mon", "").splitlines():
        show_line = line.strip()
        if show_line:
            print(f"    crm_mon while unplugged: {show_line}")
    assert res.ok, res.line()
    lost = res.extra["lost"]
    failed = [f for f in _fenced(res) if f[3] == "error"]
    assert len(failed) >= 2, "Pacemaker did not retry the failed fencing"
    assert [f for f in _fenced(res) if f[3] == "ok"] == [(f[0], "reboot", lost, "ok") for f in failed[:1]]
    # while the device failed, nothing ran on the survivor: the frozen node alone held everything
    assert all(where in ([lost], []) for where in res.extra["while_unplugged"].values()), res.extra
    assert "UNCLEAN" in res.extra["crm_mon"], res.extra["crm_mon"]
    assert res.extra["doubled"] == []
    assert min(res.extra["starts"].values()) >= res.extra["off_verified"], res.extra
