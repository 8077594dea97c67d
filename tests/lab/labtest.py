"""The controller lab under test (two or three controllers and a database node): lab/rao-lab's Lab, held by a watchdog session.

Each test module brings up its own lab (netns prefix raolabt-, so a lab started by hand
with rao-lab, prefix raolab-, is left alone; same subnet 10.232.0.0/24, which exists only
inside each lab's own namespaces) and tears it down at the end, whatever happened, unless
it asks to ``keep`` it for the next module that wants the very same lab (mode, nodes,
options): a module that passed hands its lab on, cleaned up and settled, and the session's
end tears down whatever is still kept. If pytest dies, the harness session notices its
closed stdin and tears the lab down itself.
Root only; needs the installed .deb and tests/setup/openstack-setup.sh.
"""

import os
from typing import Dict

import pytest

# conftest.py (pytest loads it first) puts lab/ on sys.path
from raolab.cluster import ClusterError, log, reset_clock
from raolab.lab import Lab, LabOptions

PFX = os.environ.get("RAOLAB_TEST_PFX", "raolabt")


_kept: Dict[tuple, Lab] = {}    # (mode, nodes, options) -> a lab a module left up for the next


def make_lab(request, mode: str, nodes: int = 2, keep: bool = False, **options):
    """Generator for a module fixture: the lab up, then down (options: LabOptions'); with
    ``keep``, a module that passed leaves it up for the next one asking for the same lab."""
    # one plain database node unless a module asks for Galera: the suite's time (a Galera
    # cluster adds its bootstrap and two state transfers to every lab)
    options.setdefault("database", "single")
    key = (mode, nodes, tuple(sorted(options.items())))
    lab = _kept.pop(key, None)
    close_kept()            # one lab at a time: the machine has two cores
    if lab is not None:
        log(f"the {mode} lab of {nodes} controllers the previous module left up: cleanup, settle")
        try:
            lab.cleanup()
            lab.wait_settled(180, expect_nodes=[f"node{i}" for i in range(1, nodes + 1)])
        except ClusterError as err:
            log(f"it did not settle ({err}): a new one")
            tear_down(lab, keep_state=True)
            lab = None
    if lab is None:
        reset_clock()
        lab = Lab(LabOptions(pfx=PFX, mode=mode, nodes=nodes, **options), say=lambda msg: log(msg, "lab"))
        try:
            lab.preflight()
        except ClusterError as err:
            pytest.fail(str(err), pytrace=False)
        lab.up(session=True)   # on failure it tears itself down (logs kept)
    failed_before = request.session.testsfailed
    try:
        yield lab
    finally:
        failed = request.session.testsfailed != failed_before
        if failed:
            lab.diagnostics()
        if keep and not failed:
            log(f"the {mode} lab stays up for the next module")
            _kept[key] = lab
        else:
            tear_down(lab, keep_state=failed)


def tear_down(lab: Lab, keep_state: bool = False) -> None:
    keep_state = keep_state or os.environ.get("RAOLAB_KEEP_STATE") == "1"
    log(f"tearing the {lab.opts.mode} lab down" + (f" (logs kept in {lab.opts.base})" if keep_state else ""))
    lab.cluster.close(keep_state=keep_state)
    assert not lab.cluster.netns_left(), f"namespaces left behind: {lab.cluster.netns_left()}"
    assert not lab.cluster.live_nodes(), "a node init still runs"
    assert all(lab.cluster.db_pid(name) is None for name in ("db", "db1", "db2", "db3")), "a database node still runs"


def close_kept() -> None:
    """Tear down every lab a module left up (before another lab, and at the session's end)."""
    while _kept:
        tear_down(_kept.popitem()[1])


def show(res) -> None:
    from raolab.drills import report
    for line in report(res):
        log(line, "drill")
