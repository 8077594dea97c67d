"""The split-brain check of the fencing drills (lab/raolab/drills/arpwatch.py): ARP replies
for the floating IP grouped into probes, and two MACs answering one probe caught."""

import unit_support  # noqa: F401 (puts lab/ on sys.path)
from raolab.drills import arpwatch

A, B = "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:02"


def _watch(replies):
    watch = arpwatch.ArpWatch.__new__(arpwatch.ArpWatch)   # no lab: the grouping alone
    import threading
    watch.lock = threading.Lock()
    watch.replies = [(0, t, mac) for t, mac in replies] + [(3, 5.0, B)]   # a quiet prober's line is ignored
    watch.macs = {A: "node1", B: "node2"}
    watch.started, watch.ended, watch.exited = 0.0, 0.8, [None] * arpwatch.PROBERS
    return watch


def test_one_holder_at_a_time_is_never_doubled_and_the_handover_is_seen():
    watch = _watch([(0.0, A), (0.2, A), (0.4, B), (0.6, B)])
    assert watch.doubled() == []
    assert watch.owners() == [(0.0, "node1"), (0.4, "node2")]
    assert "never two MACs" in watch.summary(0.0)


def test_two_macs_answering_one_probe_are_caught():
    watch = _watch([(0.0, A), (0.2, A), (0.2005, B), (0.4, B)])
    assert watch.doubled() == [(0.2, ["node1", "node2"])]
    assert "TWO MACs answered 1 probe(s)" in watch.summary(0.0)


def test_replies_a_probe_apart_are_two_probes():
    assert arpwatch.group_replies([(0.0, A), (arpwatch.INTERVAL, B)]) == [(0.0, {A}), (arpwatch.INTERVAL, {B})]
    assert arpwatch.WINDOW < arpwatch.INTERVAL


def test_a_watch_that_saw_nothing_is_not_a_verdict():
    """"Never two MACs" from an arping that never ran (not installed, or exited) or saw
    almost nothing must fail the drill, not pass it."""
    assert _watch([(0.0, A), (0.2, A), (0.4, B), (0.6, B)]).blind() is None
    silent = _watch([])
    silent.ended = 10.0
    assert silent.doubled() == [] and "only 0 of ~50 ARP probes" in silent.blind()
    gone = _watch([(0.0, A)])
    gone.exited = [2] + [None] * (arpwatch.PROBERS - 1)
    assert "arping exited early" in gone.blind()
