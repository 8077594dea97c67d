"""The active/active snippet (crm/openstack-ha-clone.crm) on two controllers, with the
failure watcher on (watch=true):

  - kill -9 of the Keystone master and of the Glance parent on the active node: the
    watcher reports it under the instance name Pacemaker gave (an asyncmon failure) before
    the next 10 s monitor could have run, and Pacemaker restarts that instance while the
    floating IP moves to the other controller (the watcher's node attribute);
  - the watcher's own drills: routine administration records no failure, a killed
    watcher is replaced by the monitor;
  - drill 4 (hard loss of the node with the floating IP): only the IP moves; the
    survivor's Keystone and Glance instances keep running (same PIDs) and the floating IP
    answers from the survivor.
"""

import pytest

from labtest import make_lab, show
from raolab import drills
from raolab.drills import watch as watchdrills


@pytest.fixture(scope="module")
def clone_lab(request, lab_root):
    yield from make_lab(request, "clone", watch=True)


@pytest.mark.parametrize("drill", [drills.keystone_kill, drills.glance_kill], ids=["keystone", "glance-api"])
def test_a_killed_instance_is_reported_by_its_watcher(clone_lab, drill):
    res = drill(clone_lab)
    show(res)
    assert res.ok, res.line()
    assert "failed asyncmon" in res.event, f"not reported by the failure watcher: {res.event}"
    assert res.detection < watchdrills.MONITOR_INTERVAL, res.line()
    # the watcher marked the node (openstack-<service>-failed): the IP left for the other
    # controller's running instance instead of waiting for the restart
    ip = res.extra["floating_ip"]
    assert ip["after"] and ip["after"] != [ip["before"]], ip


def test_routine_administration_records_no_failure(clone_lab):
    res = watchdrills.watch_quiet(clone_lab)
    show(res)
    assert len(res.extra["steps"]) == len(watchdrills.QUIET_STEPS), res.line()
    assert res.extra["failures"] == [], res.extra["failures"]
    assert res.ok, res.line()


def test_a_killed_watcher_is_replaced_without_a_failure(clone_lab):
    res = watchdrills.watch_killed(clone_lab)
    show(res)
    assert res.event, "the monitor did not log the missing watcher"
    assert res.extra["failures"] == [], res.extra["failures"]
    assert res.ok, res.line()


def test_clone_active_node_lost(clone_lab):
    res = drills.node_loss(clone_lab)
    show(res)
    assert res.ok, res.line()
    assert clone_lab.where("FloatingIP") == [res.extra["survivor"]]
    assert res.extra["survivor_kept_running"] == {"keystone": True, "glance-api": True}, res.extra
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()
    # back to two instances of each service
    assert clone_lab.where("keystone") == ["node1", "node2"]
    assert clone_lab.where("glance-api") == ["node1", "node2"]


def test_clone_split_brain_ends_in_one_fence_and_the_ip_node_wins(clone_lab):
    res = drills.split_brain(clone_lab)
    show(res)
    assert res.ok, res.line()
    active, loser = res.extra["active"], res.extra["loser"]
    assert [(r["caller"], r["target"], r["result"]) for r in res.extra["fencing"]] == [(active, loser, "ok")]
    assert res.extra["doubled"] == [] and res.extra["ip"] == [active]
    assert res.extra["starts"] == {} and all(res.extra["kept_running"].values()), res.extra
    assert all(n == 0 for n, _ in res.failed.values()), res.failed
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()


def test_clone_frozen_controller_only_the_ip_moves_after_the_fence(clone_lab):
    res = drills.frozen(clone_lab)
    show(res)
    assert res.ok, res.line()
    assert [(r["target"], r["result"]) for r in res.extra["fencing"]] == [(res.extra["lost"], "ok")]
    # the survivor's instances were running: only the floating IP starts, after the off
    assert set(res.extra["starts"]) == {"FloatingIP"}, res.extra
    assert res.extra["starts"]["FloatingIP"] >= res.extra["off_verified"], res.extra
    assert res.extra["doubled"] == []
    assert res.phases["data"].ok and res.phases["rejoin"].ok
