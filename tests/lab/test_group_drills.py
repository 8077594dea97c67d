"""Failover drills 1-6 on the active/passive snippet (crm/openstack-ha.crm), through our
agents, with the failure watcher on (watch=true, as the operator guide tells an operator to turn it
on), then the watcher's own drills.

One two-node lab for the whole module (labtest.make_lab); the drills run in order, each
leaves the lab settled for the next. Every drill polls Keystone and Glance through the
floating IP from the client namespace; the assertions are about recovery and data, not
about timings (bench/failover.py measures those), except that a killed service must be
reported by the watcher, before the next 10 s monitor could have run. The other lab
modules run the snippets as shipped (watcher off).
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
