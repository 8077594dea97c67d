"""Start, monitor, stop and failure handling of both agents against real services."""

import os
import signal
import time
from pathlib import Path

import pytest
from agent_harness import PORTS, Agent, group_of, listening, wait_for


def test_start_monitor_both_depths_stop(running: Agent):
    assert running.run("monitor").rc == 0
    deep = running.run("monitor", depth=10)
    assert deep.rc == 0, deep.reason
    pgid = running.leader()
    members = group_of(pgid)
    assert len(members) >= 2, f"expected a parent and workers, got {members}"
    assert running.run("stop").rc == 0
    assert group_of(pgid) == [], "stop left processes (workers included) behind"
    assert not os.path.exists(running.pidfile)
    assert running.run("monitor").rc == 7
    assert running.run("monitor", probe=True).rc == 7


def test_double_start_and_double_stop(running: Agent):
    leader = running.leader()
    again = running.run("start")
    assert again.rc == 0
    assert running.leader() == leader, "a second start must not spawn another daemon"
    assert running.run("stop").rc == 0
    second = running.run("stop")
    assert second.rc == 0 and second.reason == ""
    assert running.run("monitor").rc == 7


def test_kill_9_of_whole_group_is_not_running(running: Agent):
    pgid = running.leader()
    os.killpg(pgid, signal.SIGKILL)
    wait_for(lambda: not group_of(pgid), 10, "the killed group to disappear")
    assert running.run("monitor").rc == 7
    assert running.run("stop").rc == 0
    assert not os.path.exists(running.pidfile), "stop must remove the stale pidfile"
    assert not listening(PORTS[running.name])


def test_kill_9_of_keystone_master_is_not_running(running_keystone: Agent):
    master = running_keystone.leader()
    os.kill(master, signal.SIGKILL)
    # uwsgi's no-orphans makes the workers follow their master within ~1.3 s.
    wait_for(lambda: not group_of(master), 15, "uwsgi workers to exit after their master")
    assert running_keystone.run("monitor").rc == 7
    assert running_keystone.run("start").rc == 0
    assert running_keystone.leader() != master


def test_kill_9_of_glance_parent_orphans_are_failed_then_cleaned(running_glance: Agent):
    parent = running_glance.leader()
    workers = [p for p in group_of(parent) if p != parent]
    assert workers, "glance-api should run at least one worker"
    os.kill(parent, signal.SIGKILL)
    time.sleep(0.5)
    result = running_glance.run("monitor")
    # The orphaned worker still serves the port: not "cleanly stopped" (7) but failed.
    assert result.rc == 1, result
    assert "main process is gone" in result.reason
    assert running_glance.run("stop").rc == 0
    assert group_of(parent) == [] and not listening(PORTS["glance-api"])
    assert not os.path.exists(running_glance.pidfile)
    assert running_glance.run("monitor").rc == 7


def test_sigstop_makes_monitor_fail_within_its_timeout(running: Agent):
    pgid = running.leader()
    os.killpg(pgid, signal.SIGSTOP)
    try:
        result = running.run("monitor", timeout_ms=5000)
    finally:
        os.killpg(pgid, signal.SIGCONT)
    assert result.rc == 1
    assert result.seconds < 5.0, f"monitor took {result.seconds:.1f}s, past its 5 s timeout"
    assert "did not answer" in result.reason


def test_sigstopped_service_is_stopped_within_the_stop_timeout(running: Agent):
    pgid = running.leader()
    os.killpg(pgid, signal.SIGSTOP)
    result = running.run("stop", timeout_ms=10000)
    assert result.rc == 0, result.reason
    assert result.seconds < 10.0
    assert group_of(pgid) == []
    assert not os.path.exists(running.pidfile) and not listening(PORTS[running.name])


def test_healthcheck_disabled_by_file_fails_monitor(running: Agent):
    disable = Path("/etc/keystone/healthcheck_disable" if running.name == "keystone"
                   else "/etc/glance/healthcheck_disable")
    disable.touch()
    try:
        result = running.run("monitor")
    finally:
        disable.unlink()
    assert result.rc == 1
    assert "503" in result.reason
    assert running.run("monitor").rc == 0


def test_wrong_password_fails_depth_10_only(running: Agent):
    wrong = {"OCF_RESKEY_os_password": "not-the-password"}
    deep = running.run("monitor", depth=10, **wrong)
    assert deep.rc == 1
    assert "credentials were rejected" in deep.reason
    assert "not-the-password" not in deep.stderr
    assert running.run("monitor", **wrong).rc == 0


def test_depth_10_without_credentials_is_not_configured(running: Agent):
    result = running.run("monitor", depth=10, OCF_RESKEY_os_password="")
    assert result.rc == 6
    assert "os_password" in result.reason


def test_probe_of_running_service_is_cheap_and_succeeds(running: Agent):
    # A probe never makes the remote (authenticated) call, even at depth 10.
    result = running.run("monitor", probe=True, depth=10, OCF_RESKEY_os_password="wrong")
    assert result.rc == 0


def test_start_refuses_a_port_someone_else_serves(running_keystone: Agent):
    other = Agent("keystone", "it-keystone-other", running_keystone.params)
    result = other.run("start", timeout_ms=20000)
    assert result.rc == 1
    assert f"in use by pid {running_keystone.leader()}" in result.reason
    assert not os.path.exists(other.pidfile), "nothing may be started for the refused resource"


def test_start_failure_reports_the_exit_and_the_log(keystone: Agent):
    assert keystone.run("stop").rc == 0
    bad = Agent("keystone", "it-keystone-bad", dict(keystone.params,
                additional_parameters="--no-such-uwsgi-option"))
    result = bad.run("start", timeout_ms=20000)
    assert result.rc == 1
    assert "exited with code" in result.reason
    assert "last lines of /var/log/keystone/keystone.log" in result.reason
    assert bad.run("stop").rc == 0


def test_glance_depth_10_is_degraded_while_keystone_is_down(running_glance, keystone, tmp_path):
    # Restarting Glance can not bring Keystone back: degraded (190), no failure, no restart loop.
    assert keystone.run("stop").rc == 0
    log = tmp_path / "ha.log"
    # No cached token: the monitor has to ask Keystone for one (test_token_cache covers the other way).
    result = running_glance.run("monitor", depth=10, HA_LOGFILE=str(log), OCF_RESKEY_token_max_age="0")
    assert result.rc == 190, result.reason
    assert "Keystone at http://127.0.0.1:5000/v3 is unavailable" in result.reason
    assert "Keystone at http://127.0.0.1:5000/v3 is unavailable" in log.read_text()
    assert keystone.run("start").rc == 0
    wrong = running_glance.run("monitor", depth=10, OCF_RESKEY_os_auth_url="http://127.0.0.1:5000/v2.0")
    assert wrong.rc == 1, "a Keystone that answers but refuses us is still a failure"


@pytest.mark.parametrize("settle", [0, 3], ids=["right-after-start", "settled"])
def test_stop_is_quick_even_frozen_or_right_after_start(running: Agent, settle: float):
    time.sleep(settle)  # 0: keystone's lazy workers may still be loading the app
    pgid = running.leader()
    os.killpg(pgid, signal.SIGSTOP)
    result = running.run("stop", timeout_ms=90000)
    assert result.rc == 0
    # SIGCONT after SIGTERM, and uwsgi's worker mercy cut to 5 s: well before the
    # agent's 20 s SIGKILL, let alone uwsgi's default 60 s.
    assert result.seconds < 10, f"stop took {result.seconds:.1f}s"
    assert group_of(pgid) == []
