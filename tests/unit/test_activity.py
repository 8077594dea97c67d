"""Busy or hung: the CPU verdict (pure) and the meter against real processes."""

import os
import signal
import time

from ocf_openstack.checks import activity
from ocf_openstack.host import process
from unit_support import needs_proc, wait_for


def test_verdict_idle_below_the_share_busy_above():
    assert activity.verdict(0.0, 6.0) == ""
    assert activity.verdict(0.11, 6.0) == ""                 # 1.8 % of a core
    assert activity.verdict(0.13, 6.0) == "its processes used 0.1s of CPU in 6.0s"
    assert activity.verdict(0.3, 0.4) == ""                  # too short to tell


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@needs_proc
def test_cpu_seconds_counts_what_a_process_used():
    before = process.cpu_seconds(os.getpid())
    burn(0.3)
    assert process.cpu_seconds(os.getpid()) - before >= 0.25
    assert process.cpu_seconds(2 ** 22 + 1) is None          # above pid_max: no such process


@needs_proc
def test_a_spinning_group_is_busy_a_sleeping_one_idle_a_frozen_one_idle(children):
    spin = children.start(["sh", "-c", "while :; do :; done"])
    nap = children.start(["sleep", "30"])
    meters = {name: activity.Meter([p.pid], lambda p=p: process.group_members(p.pid))
              for name, p in (("spin", spin), ("nap", nap))}
    time.sleep(0.6)
    assert "of CPU in" in meters["spin"].busy() and meters["nap"].busy() == ""
    os.kill(spin.pid, signal.SIGSTOP)
    assert wait_for(lambda: process.frozen(spin.pid))
    meters["spin"].reset()
    time.sleep(0.6)
    assert meters["spin"].busy() == ""                      # frozen: hung, not busy
    assert not process.frozen(nap.pid)


@needs_proc
def test_a_worker_started_after_the_reset_counts(children):
    """uwsgi respawns a worker: the new pid's CPU is activity, not a reason to call it idle."""
    shell = children.start(["sh", "-c", "sleep 0.2; while :; do :; done & wait"])
    meter = activity.Meter(process.group_members(shell.pid), lambda: process.group_members(shell.pid))
    time.sleep(0.8)
    assert "of CPU in" in meter.busy()


@needs_proc
def test_a_worker_replaced_before_the_reset_counts_from_the_reset(children):
    """A worker respawned long before a hang (its lifetime of CPU behind it) must not make a
    frozen service look busy: the reset notices the dead pid and reads the group again."""
    worker = children.start(["sh", "-c", "while :; do :; done"])
    pids = [worker.pid]
    meter = activity.Meter(pids, lambda: list(pids))
    time.sleep(0.6)                                   # the old worker works, then is replaced
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(5)
    busy_one = children.start(["sh", "-c", "while :; do :; done"])
    pids[:] = [busy_one.pid]
    time.sleep(0.8)                                   # the new worker's lifetime of CPU
    os.kill(busy_one.pid, signal.SIGSTOP)             # then the service freezes
    assert wait_for(lambda: process.frozen(busy_one.pid))
    meter.reset()
    time.sleep(0.6)
    assert meter.busy() == ""
