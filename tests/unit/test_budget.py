import pytest
from ocf_openstack.ocf.budget import Budget


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("raw, total", [("20000", 20.0), ("1500", 1.5), ("90000", 90.0)])
def test_from_env_reads_milliseconds(raw, total):
    assert Budget.from_env({"OCF_RESKEY_CRM_meta_timeout": raw}, 7).total == total


@pytest.mark.parametrize("env", [{}, {"OCF_RESKEY_CRM_meta_timeout": ""},
                                 {"OCF_RESKEY_CRM_meta_timeout": "abc"},
                                 {"OCF_RESKEY_CRM_meta_timeout": "20s"},
                                 {"OCF_RESKEY_CRM_meta_timeout": "0"},
                                 {"OCF_RESKEY_CRM_meta_timeout": "-5000"}])
def test_from_env_default_when_unset_or_garbage(env):
    assert Budget.from_env(env, 7).total == 7


@pytest.mark.parametrize("total, margin", [(3.0, 0.5), (10.0, 1.0), (20.0, 2.0), (120.0, 2.0)])
def test_margin_is_kept_back(total, margin):
    budget = Budget(total, clock=FakeClock())
    assert budget.remaining() == pytest.approx(total - margin)


def test_remaining_shrinks_with_the_clock_and_never_goes_negative():
    clock = FakeClock()
    budget = Budget(20.0, clock=clock)
    clock.now += 5
    assert budget.elapsed() == pytest.approx(5)
    assert budget.remaining() == pytest.approx(13.0)
    assert not budget.expired()
    clock.now += 100
    assert budget.remaining() == 0.0
    assert budget.expired()


def test_cap_never_exceeds_what_is_left():
    clock = FakeClock()
    budget = Budget(20.0, clock=clock)
    assert budget.cap(10) == 10           # plenty left
    clock.now += 14                       # 4 s left before the margin
    assert budget.cap(10) == pytest.approx(4.0)
    for step in (1, 1, 1, 0.9, 0.09, 5):
        clock.now += step
        capped = budget.cap(10)
        # a token 0.05 s is the floor, so a last request can still be tried
        assert capped <= max(budget.remaining(), 0.05)
        assert capped > 0
