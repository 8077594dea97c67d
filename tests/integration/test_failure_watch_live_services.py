"""The failure watcher beside real Keystone and Glance, outside a cluster.

Here crm_mon does not answer, so the watcher can never verify that Pacemaker would act: it
must see every death at once and every hang within its misses, and report nothing (what
reaching Pacemaker looks like is tests/cluster/test_live_watcher.py). Its log lines go to
HA_LOGFILE, which it inherits from the agent as it would from Pacemaker.
"""

import os
import signal
import time
from pathlib import Path

import pytest
from agent_harness import RSCTMP, Agent, alive, group_of, wait_for, watch_state, watcher_pid

WATCH = {"watch": "true", "watch_interval": "1", "watch_misses": "2"}


def argv(pid: int) -> list:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.fixture
def logfile(tmp_path) -> Path:
    path = tmp_path / "ha.log"
    path.touch()
    return path


def watched(agent: Agent, logfile: Path) -> Agent:
    agent.params.update(WATCH)
    agent.run("stop")
    extra = {"HA_LOGFILE": str(logfile)}
    orig = agent.run

    def run(action, **kw):
        return orig(action, **{**extra, **kw})
    agent.run = run
    assert agent.run("start").rc == 0
    return agent


def unwatched(agent: Agent) -> None:
    """Stopped, and the module's resource as it was."""
    agent.run("stop")
    del agent.run
    for key in WATCH:
        agent.params.pop(key)


@pytest.fixture
def keystone_watched(keystone, logfile):
    yield watched(keystone, logfile)
    unwatched(keystone)


@pytest.fixture
def glance_watched(glance, keystone, logfile):
    assert keystone.run("start").rc == 0
    yield watched(glance, logfile)
    unwatched(glance)


def test_start_leaves_a_watcher_and_stop_ends_it_first(keystone_watched: Agent):
    agent = keystone_watched
    pid = watcher_pid(agent)
    assert pid, "start left no watcher"
    assert argv(pid)[1:4] == ["-s", "-m", "ocf_openstack.watchers.failure.loop"]
    assert watch_state(agent)["pid"] == str(agent.leader())
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"OCF_RESKEY" not in environ and agent.params["os_password"].encode() not in environ
    assert agent.params["os_password"] not in (Path(RSCTMP) / f"openstack-{agent.instance}.watch").read_text()
    assert agent.run("monitor").rc == 0 and watcher_pid(agent) == pid
    master = agent.leader()
    assert agent.run("stop").rc == 0
    assert not alive(pid) and not group_of(master)


def test_a_killed_watcher_is_restarted_by_the_monitor_and_logged(keystone_watched: Agent, logfile: Path):
    agent = keystone_watched
    pid = watcher_pid(agent)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not watcher_pid(agent), 5, "the watcher to die")
    result = agent.run("monitor")
    assert result.rc == 0
    assert watcher_pid(agent) not in (0, pid)
    assert f"failure watcher missing (pid {pid} is gone): starting a new one" in logfile.read_text()


@pytest.mark.parametrize("which", ["keystone", "glance"])
def test_kill_9_of_the_main_process_is_seen_at_once(which, request, logfile: Path):
    agent = request.getfixturevalue(f"{which}_watched")
    pid = watcher_pid(agent)
    master = agent.leader()
    killed = time.monotonic()
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: "main process exited; not reported" in logfile.read_text(), 5, "the watcher's verdict")
    seen = time.monotonic() - killed
    text = logfile.read_text()
    assert "crm_mon did not answer" in text, text      # no cluster here: nothing is reported
    wait_for(lambda: not alive(pid), 5, "the watcher to exit")
    assert seen < 1.0, f"the death was handled {seen:.2f}s after the kill"
    assert agent.run("monitor").rc in (1, 7)


def test_sigstop_of_keystone_is_a_hang_within_the_misses(keystone_watched: Agent, logfile: Path):
    agent = keystone_watched
    master = agent.leader()
    members = group_of(master)
    stopped = time.monotonic()
    for pid in members:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: "2 consecutive health checks failed while its dependencies answer" in logfile.read_text(),
                 10, "the watcher to judge the hang")
        seen = time.monotonic() - stopped
    finally:
        for pid in members:
            os.kill(pid, signal.SIGCONT)
    assert seen < 1 + 2 * 1 + 1.5, f"the hang was judged {seen:.1f}s after SIGSTOP"
    assert "not reported: crm_mon did not answer" in logfile.read_text()
    assert watcher_pid(agent), "a hang that was not reported must not end the watch"
    assert agent.run("monitor").rc == 0
