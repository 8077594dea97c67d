"""Keystone keys that drift apart are caught before a failover lands on them.

Both snippets, each on its own three-controller lab (drills 2 and 3 need a controller with
the keys and one without besides the lost one; the group lab goes on to test_three_nodes.py):
  keys-rotate    one rotation on the active node is no finding; a second one marks the
                 others inconsistent (reason: the peer, the key, `sync the keys from nodeN`)
                 within one keys-watch monitor interval plus its timeout; the sync clears it
                 with nothing restarted
  keys-missing   the active node's fernet keys gone, Keystone restarted there: its start
                 refuses (5) with the path and Keystone runs elsewhere
  keys-failover  the active node lost after its keys went to one controller only: the
                 service moves to that one, never the stale one; an old token validates
  keys-none      the same with no sync: the service still moves; the reason says tokens
                 issued before will be rejected (and they are)
and after each: no key in the CIB, the nodes' pacemaker.log or the drill's output, and no
false finding once the keys are synced again.
"""

import pytest

from labtest import make_lab, show
from raolab.drills import keys as keydrills

BOUND = keydrills.MONITOR + keydrills.MONITOR_TIMEOUT


# clone first: the group lab is the one test_three_nodes.py wants next, kept up for it
@pytest.fixture(scope="module", params=["clone", "group"])
def klab(request, lab_root):
    yield from make_lab(request, request.param, nodes=3, keep=request.param == "group")


def test_rotate_once_is_no_finding_twice_is_reported_and_sync_clears(klab):
    res = keydrills.keys_rotate(klab)
    show(res)
    assert res.extra["healthy_before"] is None, "a finding on a healthy cluster after bring-up"
    assert res.extra["after_one_rotation"] == "" and res.extra["degraded_after_one"] == {}, res.line()
    a = res.extra["ip"][0]
    others = {f"node{i}" for i in range(1, 4)} - {a}
    assert set(res.extra["reasons"]) == others, res.extra["reasons"]
    for why in res.extra["reasons"].values():
        assert "lacks the primary fernet key" in why and f"of {a}: sync the keys from {a}: rsync" in why and f"sync the keys from {a}: rsync" in why, why
    assert all(res.extra["attributes"][n] == "0" for n in others) and res.extra["attributes"][a] == "1", res.extra
    assert res.extra["reported_after"] <= BOUND, res.line()
    if klab.opts.mode == "clone":
        assert set(res.extra["keystone_reasons"]) >= others, res.extra["keystone_reasons"]
    assert res.ok, res.line()
    assert res.extra["restarted"] == [], res.line()
    assert res.extra["healthy_after"] is None
    assert res.extra["leaks"] == [], res.line()


def test_missing_keys_refuse_the_start_and_keystone_runs_elsewhere(klab):
    res = keydrills.keys_missing(klab)
    show(res)
    assert res.ok, res.line()
    assert res.extra["start_failures"], res.line()
    f = res.extra["start_failures"][0]
    assert f["exitcode"] == "5" and "/etc/keystone/fernet-keys" in f["exitreason"], f
    assert res.extra["leaks"] == [], res.line()


def test_lost_active_node_goes_to_the_synced_controller(klab):
    res = keydrills.keys_failover(klab)
    show(res)
    assert res.ok, res.line()
    before = res.extra["before"]["attributes"]
    stale = [n for n, v in before.items() if v == "0"]
    assert len(stale) == 1, before
    assert stale[0] not in res.extra["ip_seen"] and res.extra["ip"] and res.extra["ip"] != stale, res.extra
    if klab.opts.mode == "group":
        assert res.extra["keystone"] == res.extra["ip"], res.extra
    assert res.extra["token_status"] == 200, res.line()
    assert res.extra["leaks"] == [], res.line()


def test_no_consistent_controller_still_moves_and_says_so(klab):
    res = keydrills.keys_none(klab)
    show(res)
    assert res.ok, res.line()
    assert res.extra["ip"], res.extra
    assert all(v == "1" for v in res.extra["after"]["attributes"].values()), res.extra["after"]
    assert res.extra["token_status"] != 200, "an old token validated on a controller without its key?"
    assert res.extra["leaks"] == [], res.line()
