"""Three controllers: real quorum (no two_node, Pacemaker's default no-quorum-policy=stop),
each controller with its own copy of Keystone's keys, MariaDB on the lab's database node.

One lab for the module (the installed openstack-ha.crm, loaded unchanged but for the
operator's edits; the one test_key_drills.py's group drills leave up, cleaned up and
settled, when they passed): it comes up with quorum on every node and identical keys; `keys rotate`
then `keys sync` converge the fingerprints; key commands refuse a node that is down and
change nothing; losing the active node moves the services to one of the two others, and
an image and a token made before survive it; losing two nodes stops everything on the
survivor until one comes back, then the services return with no operator action.
"""

import time

import pytest

from labtest import make_lab, show
from raolab import drills, keys
from raolab.cib import online_nodes
from raolab.cluster import ClusterError
from raolab.drills.common import node_gone, wait_until


@pytest.fixture(scope="module")
def lab3(request, lab_root):
    yield from make_lab(request, "group", nodes=3)


def _prints(lab):
    return {i: keys.fingerprints(lab.cluster, i) for i in (1, 2, 3)}


def _key_bytes(lab):
    return [p.read_bytes().strip() for i in (1, 2, 3) for repo in keys.REPOSITORIES
            for p in keys.repo_dir(lab.cluster, i, repo).iterdir() if p.is_file()]


def test_three_controllers_up_with_quorum_and_the_same_keys(lab3):
    mon = lab3.mon()
    assert online_nodes(mon, standby=False) == ["node1", "node2", "node3"]
    assert drills.quorum(mon)
    assert lab3.settled(mon) is None
    prints = _prints(lab3)
    assert prints[1]["fernet"] and prints[1]["credential"], prints
    assert prints[1] == prints[2] == prints[3], prints
    table = lab3.node_table()
    assert all(", quorum, " in line for line in table), table
    # fingerprints only: no key reaches the status output
    assert not [k for k in _key_bytes(lab3) if k.decode() in "\n".join(table)]


def test_keys_rotate_then_sync(lab3):
    # as an operator does: rotate where Keystone issues tokens, then sync from there (the
    # lab may come from test_key_drills.py with Keystone on any node)
    a = lab3.active_node()
    others = [i for i in (1, 2, 3) if i != a]
    before = _prints(lab3)
    lines = keys.rotate(lab3.cluster, a)
    rotated = _prints(lab3)
    assert rotated[a]["fernet"] != before[a]["fernet"], lines
    assert rotated[others[0]] == rotated[others[1]] == before[others[0]], f"rotate must touch node{a} only"
    assert rotated[a]["credential"] == before[a]["credential"]
    lines = keys.sync(lab3.cluster, a, others)
    assert len(lines) == 2 and all("fernet:" in line for line in lines), lines
    after = _prints(lab3)
    assert after[1] == after[2] == after[3] == rotated[a], after
    # a second sync has nothing to do
    assert all(line.endswith("already the same") for line in keys.sync(lab3.cluster, a, others))
    lab3.wait_settled(120, expect_nodes=["node1", "node2", "node3"])


def test_key_commands_refuse_a_node_that_is_down(lab3):
    spare = [i for i in (1, 2, 3) if i != lab3.active_node()][-1]
    before = _prints(lab3)
    t_crash = time.time()
    lab3.cluster.crash(spare, stays_down=True)   # down until revive, even once fenced
    try:
        for call in (lambda: keys.rotate(lab3.cluster, spare), lambda: keys.sync(lab3.cluster, 1 if spare != 1 else 2, [spare]),
                     lambda: keys.sync(lab3.cluster, spare, [])):
            with pytest.raises(ClusterError, match=f"node{spare} is down: nothing was changed"):
                call()
        assert _prints(lab3) == before
    finally:
        # the majority fences the lost node: boot it only once that is done, or the fence
        # would power off the node just booted
        wait_until(f"node{spare} fenced", 60, lambda: node_gone(lab3, spare, t_crash, lab3.active_node()), lab3)
        lab3.cluster.revive(spare)
        lab3.wait_settled(180, expect_nodes=["node1", "node2", "node3"], allow_failures=True)


def test_active_node_of_three_lost(lab3):
    lab3.wait_settled(120, expect_nodes=["node1", "node2", "node3"])
    seed = drills.seed_data(lab3)
    res = drills.node_loss(lab3)
    show(res)
    assert res.ok, res.line()
    assert res.extra["survivor"] != res.extra["lost"]
    assert lab3.where("FloatingIP") == [res.extra["survivor"]]
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()
    data = drills.verify_data(lab3, seed)
    show(data)
    assert data.ok, data.line()


def test_two_of_three_lost_then_quorum_back(lab3):
    res = drills.quorum_loss(lab3)
    show(res)
    assert res.phases["alone"].ok, res.phases["alone"].line()
    assert res.phases["quorum back"].ok, res.phases["quorum back"].line()
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()
    assert res.ok, res.line()
    mon = lab3.mon()
    assert drills.quorum(mon) and online_nodes(mon, standby=False) == ["node1", "node2", "node3"]


def test_the_active_node_cut_off_stops_and_is_fenced_by_the_majority(lab3):
    res = drills.cut_off(lab3)
    show(res)
    assert res.ok, res.line()
    loser = res.extra["loser"]
    assert loser == res.extra["active"]
    assert [(r["target"], r["result"]) for r in res.extra["fencing"]] == [(loser, "ok")], res.extra["fencing"]
    assert res.extra["loser_quorum_lost"] is not None, "the cut-off node never said it lost quorum"
    assert res.extra["loser_quorum_lost"] <= res.extra["off_verified"], res.extra   # on its own, before its fence
    assert res.extra["doubled"] == [], "two MACs answered for the floating IP"
    assert res.extra["ip"] and res.extra["ip"] != [loser]
    assert min(res.extra["starts"].values()) >= res.extra["off_verified"], res.extra
    assert res.phases["rejoin"].ok, res.phases["rejoin"].line()
