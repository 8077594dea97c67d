"""The drills' wait_until: done as soon as the check passes, a ClusterError at the bound, and
progress lines that say each new reason but repeat an unchanged one only every 30 s (CI's
log of stop 27 held the same 600-character reason thirteen times a minute)."""

import pytest
from raolab.cluster import ClusterError
from raolab.drills import common


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SayingLab:
    def __init__(self) -> None:
        self.said = []

    def say(self, line: str) -> None:
        self.said.append(line)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(common.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(common.time, "sleep", clock.sleep)
    return clock


def test_an_unchanged_reason_is_said_once_then_every_30_s(clock):
    lab = SayingLab()
    with pytest.raises(ClusterError, match=r"node2 back: not within 120s \(failed actions: x\)"):
        common.wait_until("node2 back", 120, lambda: "failed actions: x", lab)
    assert lab.said[0] == "  waiting for node2 back: failed actions: x"
    assert set(lab.said[1:]) == {"  waiting for node2 back: still so"}
    assert len(lab.said) == 4           # at 0, 30, 60 and 90 s


def test_a_new_reason_is_said_at_most_every_5_s(clock):
    lab = SayingLab()
    reasons = iter([f"reason {i // 4}" for i in range(40)] + [None])   # a new one each second
    took = common.wait_until("it", 120, lambda: next(reasons), lab)
    assert took == pytest.approx(10.0)
    assert lab.said == ["  waiting for it: reason 0", "  waiting for it: reason 5"]


def test_a_failing_check_counts_as_a_reason(clock):
    lab = SayingLab()
    answers = iter([ClusterError("crm_mon: connection refused\nmore"), None])

    def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert common.wait_until("crm_mon", 60, check, lab) == pytest.approx(0.25)
    assert lab.said == ["  waiting for crm_mon: crm_mon: connection refused"]
