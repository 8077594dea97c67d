"""The controller lab under test (two or three controllers and a database node): lab/rao-lab's Lab, held by a watchdog session.

Each test module brings up its own lab (netns prefix raolabt-, so a lab started by hand
with rao-lab, prefix raolab-, is left alone; same subnet 10.232.0.0/24, which exists only
inside each lab's own namespaces) and tears it down at the end, whatever happened. If
pytest dies, the harness session notices its closed stdin and tears the lab down itself.
Root only; needs the installed .deb and tests/setup/openstack-setup.sh.
"""

import os

import pytest

# conftest.py (pytest loads it first) puts lab/ on sys.path
from raolab.cluster import ClusterError, log, reset_clock
from raolab.lab import Lab, LabOptions

PFX = os.environ.get("RAOLAB_TEST_PFX", "raolabt")


def make_lab(request, mode: str, nodes: int = 2, **options):
    """Generator for a module fixture: the lab up, then always down (options: LabOptions')."""
    reset_clock()
    lab = Lab(LabOptions(pfx=PFX, mode=mode, nodes=nodes, **options), say=lambda msg: log(msg, "lab"))
    try:
        lab.preflight()
    except ClusterError as err:
        pytest.fail(str(err), pytrace=False)
    failed_before = request.session.testsfailed
    lab.up(session=True)   # on failure it tears itself down (logs kept)
    try:
        yield lab
    finally:
        failed = request.session.testsfailed != failed_before
        if failed:
            lab.diagnostics()
        keep = failed or os.environ.get("RAOLAB_KEEP_STATE") == "1"
        log(f"tearing the {mode} lab down" + (f" (logs kept in {lab.opts.base})" if keep else ""))
        lab.cluster.close(keep_state=keep)
        assert not lab.cluster.netns_left(), f"namespaces left behind: {lab.cluster.netns_left()}"
        assert not lab.cluster.live_nodes(), "a node init still runs"
        assert lab.cluster.db_pid() is None, "the database node still runs"


def show(res) -> None:
    from raolab.drills import report
    for line in report(res):
        log(line, "drill")
