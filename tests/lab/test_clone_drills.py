"""Drill 4 (hard loss of the node with the floating IP) on the active/active snippet
(crm/openstack-ha-clone.crm): only the IP moves; the survivor's Keystone and Glance
instances keep running (same PIDs) and the floating IP answers from the survivor."""

import pytest

from labtest import make_lab, show
from raolab import drills


@pytest.fixture(scope="module")
def clone_lab(request, lab_root):
    yield from make_lab(request, "clone")


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
