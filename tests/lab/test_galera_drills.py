"""The default lab's database is a Galera cluster (three nodes behind HAProxy, lab/raolab/
galera_lab.py), and the controllers ride out what Galera clusters do (issue 24).

One two-controller group lab on Galera whose depth-10 monitors run every 15 s, with
migration-threshold=3 on both services (a threshold must not turn a database fault into bans).
The drills (lab/raolab/drills/galera.py) keep a client load through the floating IP (a token
issued and an image list, once a second) and assert, for each:
  galera-node-lost     kill -9 of the frontend's node, then (it rejoined) of a backup: the
                       frontend moves on, the APIs serve again, nothing restarts, no fail-count
  galera-isolated      the frontend's node leaves the primary component: as above, and it rejoins
  galera-no-primary    no primary component anywhere: degraded (190) with a reason naming
                       Galera, nothing restarts, all back by itself when the isolation ends
  galera-direct        a controller reaching a non-Primary node directly: degraded naming Galera,
                       never restarted in place (database-watch may move the services away)
  galera-cluster-lost  every node killed, then bootstrapped: degraded meanwhile, serving again
                       with no restart; an image, a user and a token made before are there
and db-cut (the active controller alone cut off from the frontend: the services move), which
the clone lab of test_database_drills.py runs on one plain database node.
"""

import pytest

from labtest import make_lab, show
from raolab.drills import database as dbdrills
from raolab.drills import galera as galeradrills

DEPTH10 = 15


@pytest.fixture(scope="module")
def glab(request, lab_root):
    yield from make_lab(request, "group", depth10_interval=DEPTH10, migration_threshold=3, database="galera")


def test_the_lab_runs_galera_behind_its_frontend(glab):
    lines = glab.galera.status_lines()
    synced = [line for line in lines if "Synced, Primary, cluster size 3, ready ON" in line]
    assert len(synced) == 3, "\n".join(lines)
    assert glab.galera.frontend_server() == "db1", "\n".join(lines)
    states = glab.galera.frontend_states()
    assert all(states[n].startswith("UP") for n in ("db1", "db2", "db3")), states
    assert glab.galera.checked("db1"), "the frontend's check of db1 has not passed"


@pytest.mark.parametrize("drill", galeradrills.GALERA_DRILLS)
def test_galera_drill(glab, drill):
    res = galeradrills.DRILLS[drill](glab)
    show(res)
    assert res.extra["restarted"] == [] and res.extra["fail_counts"] == {} and res.extra["bans"] == [], res.line()
    spec = galeradrills.SPECS[drill]
    if spec.names_galera:
        assert res.extra["naming_galera"], f"no degraded result naming Galera: {res.extra['degraded']}"
    assert res.ok, res.line()


def test_controller_cut_off_from_the_galera_frontend_gives_way(glab):
    res = dbdrills.db_cut(glab)
    show(res)
    assert res.ok, res.line()
    assert res.extra["now"] and res.extra["now"] != [res.extra["cut"]], res.extra
