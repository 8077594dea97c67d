"""The HA guide's topology (crm/openstack-ha-haproxy.crm and the packaged haproxy.cfg, with
only the operator's edits): two controllers, HAProxy on each, Keystone and Glance
active/active behind the floating IP (`rao-lab up --haproxy`). (Three controllers work
the same way; on the 2-core CI machine three cold Keystones behind HAProxy's short
timeouts are mostly a load test of the machine.)

Drills, each followed by the proof that the client's requests reach the Keystone and the
Glance of every active controller again (HAProxy's per-server counters):
  keystone-kill, glance-kill  one controller's instance killed: Pacemaker restarts it in
                              place, the IP stays, and no client request fails (HAProxy
                              replays or redispatches what met the dead instance)
  keystone-hang               one controller's Keystone SIGSTOPped: Pacemaker restarts it;
                              a read that meets it is replayed after 1 s (no failed poll)
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
    yield from make_lab(request, "haproxy")


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


def test_data_survives_node_loss_and_standby(hlab):
    res = drills.data(hlab)
    show(res)
    assert res.ok, res.line()
    loss = res.phases["node-loss"]
    assert loss.extra["survivor_kept_running"] == {"keystone": True, "glance-api": True}, loss.extra
    assert loss.phases["rejoin"].ok and res.phases["switchover"].ok
    serves_everywhere(hlab)
