"""A database outage never becomes a restart storm; a controller cut off from the database
alone gives up the floating IP (and the group's services) to one that reaches it.

The clone snippet on a two-controller lab with one plain database node (the group
snippet's database drills run on the Galera lab: test_galera_drills.py), whose depth-10
monitors run every 15 s (the snippet's own parameter, shortened so that a 37 s outage meets every depth-10 monitor
at least twice), with migration-threshold=3 on both services (drill 4 of the issue: a
threshold must not turn the outage into bans either):
  db-stop    mariadbd killed, then started again
  db-freeze  mariadbd SIGSTOPped, then SIGCONT
  db-cut     the active controller alone loses its route to the database node
Asserted for the outages: no service process restarted (same PIDs), no fail-count, nothing
moved, stopped or banned, crm_mon listed the degraded results (190) with a reason that
names the database, and both APIs answer through the floating IP after the database's
return without any operator action. For the cut: the IP (and in the group the services)
moved away from the cut controller, and the APIs answer.
"""

import pytest

from labtest import make_lab, show
from raolab.drills import database as dbdrills

DEPTH10 = 15


@pytest.fixture(scope="module")
def dblab(request, lab_root):
    yield from make_lab(request, "clone", depth10_interval=DEPTH10, migration_threshold=3, database="single")


@pytest.mark.parametrize("drill", ["db-stop", "db-freeze"])
def test_database_outage_is_degraded_not_restarted(dblab, drill):
    res = dbdrills.DRILLS[drill](dblab)
    show(res)
    assert res.extra["restarted"] == [], res.line()
    assert res.extra["fail_counts"] == {}, res.line()
    assert not res.extra["moved"] and res.extra["bans"] == [], res.line()
    assert res.extra["degraded"], "crm_mon never listed a degraded result during the outage"
    assert all("database " in why and "would not help" in why for why in res.extra["degraded"].values()), \
        res.extra["degraded"]
    assert res.ok, res.line()
    # back with no operator action within one depth-10 interval plus its timeout
    assert res.recovered is not None and res.recovered <= DEPTH10 + 40, res.line()


def test_controller_cut_off_from_the_database_gives_way(dblab):
    res = dbdrills.db_cut(dblab)
    show(res)
    assert res.ok, res.line()
    assert res.extra["now"] and res.extra["now"] != [res.extra["cut"]], res.extra
