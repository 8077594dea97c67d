"""The HA guide's topology (crm/openstack-ha-haproxy.crm and the packaged haproxy.cfg, with
only the operator's edits): three controllers, HAProxy on each, Keystone and Glance
active/active behind the floating IP, and on each controller the watchers and the
agent-check responder that tells HAProxy who cannot serve (`rao-lab up --haproxy --nodes 3`).

Drills, each followed by the proof that the client's requests reach the Keystone and the
Glance of every active controller again (HAProxy's per-server counters):
  keystone-kill, glance-kill  one controller's instance killed: Pacemaker restarts it in
                              place, the IP stays, and no client request fails (HAProxy
                              replays or redispatches what met the dead instance)
  keystone-hang               one controller's Keystone SIGSTOPped: Pacemaker restarts it;
                              a read that meets it is replayed after 1 s (no failed poll)
  rotation-db-cut             one controller cut off from the database leaves the rotation
                              within 3 s of database-watch's verdict, no request fails after
                              that, and it returns within 3 s of the verdict that it can serve
  rotation-keys               two key rotations on one controller: it leaves Keystone's
                              rotation within 3 s of keys-watch's verdict, tokens issued
                              before and during the drift validate with no 401, a sync returns it
  rotation-db-outage          the database down for everyone: nobody leaves, nothing restarts,
                              the calls that need no database keep working
  rotation-agent-kill         a killed responder comes back; no server changes state
  data                        an image and a token made before the loss of the node that
                              holds the IP and a `crm node standby` of the next one survive
                              both; the survivors' instances keep running (same PIDs)
"""

import pytest

from labtest import make_lab, show
from raolab import drills
from raolab.topology import haproxy


@pytest.fixture(scope="module")
def hlab(request, lab_root):
    yield from make_lab(request, "haproxy", nodes=3)


def serves_everywhere(lab) -> None:
    why = drills.serves_everywhere(lab)
    assert why is None, why


def failed(res) -> int:
    return sum(n for n, _ in res.failed.values())


def test_up_spreads_requests_over_every_controller(hlab):
    nodes = [f"node{i}" for i in range(1, hlab.opts.nodes + 1)]
    assert hlab.where("haproxy") == hlab.where("keystone") == hlab.where("glance-api") == nodes
    ip = hlab.where("FloatingIP")
    assert len(ip) == 1 and ip[0] in hlab.where("haproxy")
    serves_everywhere(hlab)
    spread = haproxy.spread(hlab.cluster)
    assert set(spread) == {"keystone", "glance-api"}
    assert all(sorted(servers) == nodes for servers in spread.values()), spread


@pytest.mark.parametrize("drill", ["keystone-kill", "glance-kill"])
def test_killed_instance_costs_no_request(hlab, drill):
    ip = hlab.where("FloatingIP")
    res = drills.DRILLS[drill](hlab)
    show(res)
    assert res.ok, res.line()
    assert failed(res) == 0, res.line()
    assert res.failed["keystone"][1] > 0 and res.failed["glance"][1] > 0, res.line()
    assert hlab.where("FloatingIP") == ip, "a failed instance moved the floating IP"
    serves_everywhere(hlab)


def test_hung_keystone_costs_at_most_a_second(hlab):
    ip = hlab.where("FloatingIP")
    res = drills.keystone_hang(hlab)
    show(res)
    assert res.ok, res.line()
    assert res.detection is not None, "Pacemaker never noticed the hung Keystone"
    assert res.downtime["keystone"] is not None and res.downtime["keystone"] <= 1.0, res.line()
    assert res.failed["glance"][0] == 0, res.line()
    assert hlab.where("FloatingIP") == ip
    serves_everywhere(hlab)


# the bound: out of (and back into) the rotation within 3 s of the watcher's verdict;
# the drill's times come from samples every 0.25 s taken after the fact, never before it
WITHIN = 3.0


def rotation_drill(hlab, name):
    res = drills.DRILLS[name](hlab)
    show(res)
    assert res.ok, res.line()
    return res


def test_controller_cut_off_from_the_database_leaves_the_rotation(hlab):
    res = rotation_drill(hlab, "rotation-db-cut")
    x = res.extra
    assert x["left_after_verdict"] <= WITHIN and x["back_after_verdict"] <= WITHIN, res.line()
    assert all("database" in said for said in x["agent_said"].values()), x["agent_said"]
    assert all(n == 0 for n, _ in x["failed_while_out"].values()), x["failed_while_out"]
    assert all(total > 0 for _, total in x["failed_while_out"].values()), x["failed_while_out"]
    assert x["restarted"] == [] and x["fail_counts"] == {} and x["other_changes"] == [], res.line()
    assert all(n == 0 for n, _ in x["failed_after_back"].values()), x["failed_after_back"]
    serves_everywhere(hlab)


def test_controller_with_drifted_keys_leaves_keystones_rotation(hlab):
    res = rotation_drill(hlab, "rotation-keys")
    x = res.extra
    assert x["left_after_verdict"] <= WITHIN and x["back_after_verdict"] <= WITHIN, res.line()
    assert "keys" in x["agent_said"]["keystone"], x["agent_said"]
    assert x["validations_while_out"] and set(x["validations_while_out"]) == {200}, x
    assert x["failed_while_out"]["keystone"][0] == 0 < x["failed_while_out"]["keystone"][1], x["failed_while_out"]
    assert x["leaks"] == [] and x["restarted"] == [], res.line()
    serves_everywhere(hlab)


def test_database_outage_takes_no_controller_out(hlab):
    res = rotation_drill(hlab, "rotation-db-outage")
    assert res.extra["changes"] == [] and res.extra["db_zero"] == [] and res.extra["not_up"] == [], res.line()
    assert all(n == 0 < total for n, total in res.failed.values()), res.line()
    assert res.extra["restarted"] == [] and res.extra["fail_counts"] == {}, res.line()
    serves_everywhere(hlab)


def test_killed_responder_comes_back_and_changes_nothing(hlab):
    res = rotation_drill(hlab, "rotation-agent-kill")
    assert res.extra["changes"] == [] and res.extra["new_pid"], res.line()
    assert all(n == 0 < total for n, total in res.failed.values()), res.line()
    serves_everywhere(hlab)


def test_data_survives_node_loss_and_standby(hlab):
    res = drills.data(hlab)
    show(res)
    assert res.ok, res.line()
    loss = res.phases["node-loss"]
    assert loss.extra["survivor_kept_running"] == {"keystone": True, "glance-api": True}, loss.extra
    assert loss.phases["rejoin"].ok and res.phases["switchover"].ok
    serves_everywhere(hlab)
