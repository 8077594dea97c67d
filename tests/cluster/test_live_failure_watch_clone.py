"""The failure watcher of an anonymous clone instance, on a real one-node cluster
(openstack-ha-clone.crm, the operator's edits only): Pacemaker gives the agent the
primitive's id (OCF_RESOURCE_INSTANCE=keystone, no ":0"), the watcher reports that name,
and Pacemaker 2.1.5 records the asyncmon failure for the instance on this node and restarts
only that instance (Glance keeps its PID). Before it reports, the watcher sets the node
attribute openstack-keystone-failed (the clone snippet's rule moves the IP away from it:
here, with no other node, nothing moves) and the restarted instance's start deletes it.
See test_live_failure_watch.py for the rest."""

import time

import pytest

from pcmk_live import Harness, log
from test_live_failure_watch import (DETECTION_MAX, PIDFILE, asyncmon_lines, monkeypatch_module,  # noqa: F401
                                     recovered, sh, wait_reported, watched_cluster)
from test_live_one_node import openstack_env  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def cluster(request, installed_agents, openstack_env, monkeypatch_module):
    with watched_cluster(request, openstack_env, monkeypatch_module, "openstack-ha-clone.crm") as harness:
        yield harness


def test_kill_9_of_a_clone_instance_is_reported_under_the_name_pacemaker_gave(cluster: Harness):
    state = sh(cluster, "cat /run/resource-agents/openstack-keystone.watch")
    assert "\ninstance=keystone\n" in state, state
    glance = sh(cluster, f"cat {PIDFILE['glance-api']}").strip()
    before = len(asyncmon_lines(cluster))
    old = sh(cluster, f"cat {PIDFILE['keystone']}").strip()
    mark = len(cluster.pacemaker_log())
    killed = float(sh(cluster, f"date +%s.%N; kill -9 {old}").split()[0])
    recorded = wait_reported(cluster, before, "keystone", 10)
    log(f"kill -9 of the keystone clone instance: recorded {recorded - killed:.3f}s later")
    assert recorded - killed < DETECTION_MAX
    # the scheduler names the instance when it next runs (a moment after the controller's line)
    deadline = time.monotonic() + 15
    while "asyncmon of keystone:0 on node1" not in cluster.pacemaker_log():
        assert time.monotonic() < deadline, "the scheduler never recorded asyncmon of keystone:0 on node1"
        time.sleep(0.5)
    recovered(cluster, "keystone", old)
    assert sh(cluster, f"cat {PIDFILE['glance-api']}").strip() == glance, "Glance was restarted too"
    # the watcher marked the node before it reported, the restart's start deleted the mark;
    # with no other controller the IP had nowhere to go: it must not have stopped for it
    text = cluster.pacemaker_log()[mark:]
    set_at = text.find("Setting openstack-keystone-failed[node1]: (unset) -> 1")
    assert set_at >= 0, "the watcher did not set openstack-keystone-failed on node1"
    assert "Setting openstack-keystone-failed[node1]: 1 -> (unset)" in text[set_at:], \
        "the restarted instance's start did not delete openstack-keystone-failed"
    assert "FloatingIP_stop_0" not in text, "the IP stopped although no other node could take it"
