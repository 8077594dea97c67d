"""The failure watcher on a real one-node cluster (openstack-ha.crm, the operator's edits only).

The tests share one cluster and run in this order:

  quiet      every administrative cycle with the watchers on records no failure at all:
             crm resource restart (a stop and a start); node standby and online; and a Keystone
             frozen (SIGSTOP) for longer than the watcher's misses while the cluster is in
             maintenance-mode, while keystone is unmanaged, and while the node is in
             maintenance: the watcher sees the hang, reads the CIB and stands down. A killed
             watcher is restarted by the next recurring monitor, which logs it.
  death      kill -9 of the Keystone master and of the Glance parent: Pacemaker records the
             watcher's asyncmon failure within 3 s (long before the next 10 s monitor) and
             recovers the service. A cleanup just after such a recovery (the first monitors
             in flight) waits for them: Pacemaker 2.1.5 stalls and records a false failure
             when a cleanup kills a transition's first monitor.
  hang       SIGSTOP of Keystone: reported within ~8 s (2 s x 3 misses, each check may take
             2 s) and recovered.
  upgrade    dpkg -i of the package while the watched services run records no failure, the
             running watchers are kept (same version, same settings), and the one started
             before the upgrade still reports a kill -9 at once.

The agents are the installed ones when the package has the watcher; otherwise (a developer's
machine where another branch's package is installed) the node gets this source tree's agents
in private bind mounts of /usr/lib/ocf/resource.d/openstack and the package directory, and the
host's installation is left alone.
"""

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from pcmk_common import OCF_DIR, REPO
from pcmk_live import Harness, failures, log, log_count, resource_states, wait_log
from raolab.cluster import log_time
from test_live_one_node import load_snippet, openstack_env, running_cluster  # noqa: F401 (a fixture)

PACKAGE_DIR = Path("/usr/lib/python3/dist-packages/ocf_openstack")
PIDFILE = {"keystone": "/run/resource-agents/openstack-keystone.pid",
           "glance-api": "/run/resource-agents/openstack-glance-api.pid"}
SETTLE = 150
# kill -9: "before the next monitor could have run" (every 10 s), loosely: measured 0.2-0.4 s
# on a quiet machine, up to 1.6 s on a loaded CI machine (bench/failure_watch_cost.py measures)
DETECTION_MAX = 3.0
HANG_MAX = 9.0             # SIGSTOP: 2 s x 3 misses plus the interval and a loaded machine
STAND_DOWN_MAX = 30.0      # a frozen Keystone in maintenance: the misses, the dependency check, crm_mon
ASYNCMON = re.compile(r"Updating failcount for (\S+) on node1 after failed asyncmon")


def from_source() -> bool:
    return not (PACKAGE_DIR / "watchers" / "failure" / "loop.py").is_file()


def private_dir(harness: Harness, path: Path) -> Path:
    return harness.node_dir / ("private" + str(path).replace("/", "_"))


@contextlib.contextmanager
def watched_cluster(request, openstack_env, monkeypatch, snippet: str) -> Iterator[Harness]:
    """A one-node cluster running ``snippet`` with the failure watchers (of this tree if the
    installed package has none), Started, both watchers up."""
    private = f"{OCF_DIR}:root:root:0755 {PACKAGE_DIR}:root:root:0755" if from_source() else ""
    if private:   # the snippet of this tree too: the installed one may name agents this tree lacks
        monkeypatch.setenv("RAO_CRM_DIR", str(REPO / "crm"))
    with running_cluster(request, Harness(node_private=private)) as harness:
        if private:
            for name in ("keystone", "glance-api", "database-watch"):
                shutil.copy2(REPO / "agents" / name, private_dir(harness, OCF_DIR) / name)
            shutil.copytree(REPO / "agents" / "ocf_openstack", private_dir(harness, PACKAGE_DIR), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            log("the installed package has no failure watcher: node1 runs this source tree's agents and snippet")
        load_snippet(harness, openstack_env, snippet)
        for rsc in ("keystone", "glance-api"):   # on by default; set as an operator would (a reload): the same
            harness.node("crm_resource", "--resource", rsc, "--set-parameter", "watch", "--parameter-value", "true")
        settle(harness)   # (not wait_started: Glance's depth-10 check is degraded until Keystone answers)
        wait_watchers(harness)
        log(f"{snippet} loaded: all Started, both watchers run")
        yield harness


@pytest.fixture(scope="module")
def cluster(request, installed_agents, openstack_env, monkeypatch_module):
    with watched_cluster(request, openstack_env, monkeypatch_module, "openstack-ha.crm") as harness:
        yield harness


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# ---------------------------------------------------------------- helpers

def sh(cluster: Harness, script: str, timeout: float = 60) -> str:
    return cluster.node("bash", "-c", script, timeout=timeout).stdout


def watcher_pids(cluster: Harness) -> dict:
    out = sh(cluster, "for f in /run/resource-agents/*.watch; do [ -e \"$f\" ] && echo \"$f $(grep ^watcher_pid= "
                      "$f | cut -d= -f2)\"; done; true")
    pids = {}
    for line in out.splitlines():
        path, _, pid = line.partition(" ")
        rsc = Path(path).name[len("openstack-"):-len(".watch")]
        ours = f"grep -q ocf_openstack.watchers.failure.loop /proc/{pid}/cmdline 2>/dev/null && echo yes; true"
        if pid and sh(cluster, ours).strip() == "yes":
            pids[rsc] = int(pid)
    return pids


def wait_watchers(cluster: Harness, timeout: float = 30, exclude: dict = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        pids = watcher_pids(cluster)
        if set(pids) >= {"keystone", "glance-api"} and not (exclude and set(pids.items()) & set(exclude.items())):
            return pids
        assert time.monotonic() < deadline, f"watchers not (re)started: {pids}"
        time.sleep(0.5)


def asyncmon_lines(cluster: Harness) -> List[str]:
    return [line for line in cluster.pacemaker_log().splitlines() if ASYNCMON.search(line)]


def settle(cluster: Harness) -> None:
    """FloatingIP, keystone and glance-api Started."""
    deadline = time.monotonic() + SETTLE
    while True:
        states = resource_states(cluster.crm_mon())
        if all(states.get(r, {}).get("role") == "Started" for r in ("FloatingIP", "keystone", "glance-api")):
            break
        assert time.monotonic() < deadline, f"not Started again: {states}\n{recent_log(cluster)}"
        time.sleep(0.5)


def stopped_everywhere(cluster: Harness, rscs=("keystone", "glance-api")) -> None:
    """Every one of rscs stopped (no longer active, its stop finished)."""
    deadline = time.monotonic() + SETTLE
    while True:
        states = resource_states(cluster.crm_mon())
        if not any(states.get(r, {}).get("active") == "true" for r in rscs):
            return
        assert time.monotonic() < deadline, f"not stopped: {states}\n{recent_log(cluster)}"
        time.sleep(0.5)


def recent_log(cluster: Harness, lines: int = 40) -> str:
    """The last pacemaker.log lines about the services and the watchers (for a failure message)."""
    ours = [line for line in cluster.pacemaker_log().splitlines()
            if re.search(r"keystone|glance|watcher|transition|Transition", line)]
    return "pacemaker.log (end, filtered):\n" + "\n".join(ours[-lines:])


def real_failures(cluster: Harness) -> list:
    """Failed actions, without degraded results (190: Glance's depth-10 check while Keystone
    restarts; success for Pacemaker)."""
    return [f for f in failures(cluster.crm_mon()) if f.get("exitcode") != "190"]


def assert_quiet(cluster: Harness, before: int, what: str) -> None:
    failed = real_failures(cluster)
    assert not failed, f"{what}: failed actions {failed}"
    new = asyncmon_lines(cluster)[before:]
    assert not new, f"{what}: the watcher reported a failure: {new}"
    log(f"{what}: no failure recorded")


def crm(cluster: Harness, *args: str, timeout: float = 120) -> None:
    proc = cluster.node("crm", *args, timeout=timeout, check=False)
    assert proc.returncode == 0, f"crm {' '.join(args)}: {proc.stdout} {proc.stderr}"


def signal_group(cluster: Harness, rsc: str, sig: str) -> float:
    """Signal the service's whole process group on the node; the node's clock at that moment."""
    out = sh(cluster, f"p=$(cat {PIDFILE[rsc]}); date +%s.%N; kill -{sig} -- -$p")
    return float(out.split()[0])


def freeze_until(cluster: Harness, text: str, timeout: float) -> bool:
    """SIGSTOP Keystone until the watcher logs ``text`` (or ``timeout`` s); whether it did."""
    signal_group(cluster, "keystone", "STOP")
    try:
        deadline = time.monotonic() + timeout
        while not watcher_said(cluster, text):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True
    finally:
        signal_group(cluster, "keystone", "CONT")


def watcher_said(cluster: Harness, text: str) -> bool:
    return any("watcher:" in line and text in line for line in cluster.pacemaker_log().splitlines())


# ---------------------------------------------------------------- quiet: no false failure

def test_restart_and_standby_record_no_failure(cluster: Harness):
    before = len(asyncmon_lines(cluster))
    crm(cluster, "resource", "restart", "keystone")     # a stop, then a start
    settle(cluster)
    crm(cluster, "node", "standby", "node1")
    # as an operator does: online once standby has done its work (an online in the middle of
    # the stops once left Pacemaker 2.1.5 showing keystone "Stopping" for minutes in CI, its
    # pidfile already gone)
    stopped_everywhere(cluster)
    crm(cluster, "node", "online", "node1")
    settle(cluster)
    wait_watchers(cluster)
    assert_quiet(cluster, before, "restart, standby/online")


@pytest.mark.parametrize("enter,leave,why", [
    (("configure", "property", "maintenance-mode=true"), ("configure", "property", "maintenance-mode=false"),
     "the cluster is in maintenance mode"),
    (("resource", "unmanage", "keystone"), ("resource", "manage", "keystone"), "keystone is unmanaged"),
    (("node", "maintenance", "node1"), ("node", "ready", "node1"), "node node1 is in maintenance"),
], ids=["maintenance-mode", "unmanaged", "node-maintenance"])
def test_a_hang_while_pacemaker_would_not_act_is_not_reported(cluster: Harness, enter, leave, why):
    before = len(asyncmon_lines(cluster))
    crm(cluster, *enter)
    try:
        time.sleep(1)
        said = freeze_until(cluster, f"not reported: {why}", STAND_DOWN_MAX)
        assert said, f"the watcher did not stand down for: {why}\n{recent_log(cluster)}"
    finally:
        crm(cluster, *leave)
    time.sleep(3)
    settle(cluster)
    assert_quiet(cluster, before, why)


def test_a_killed_watcher_is_restarted_by_the_monitor(cluster: Harness):
    before = len(asyncmon_lines(cluster))
    pids = wait_watchers(cluster)
    sh(cluster, f"kill -9 {pids['keystone']}")
    t0 = time.monotonic()
    again = wait_watchers(cluster, timeout=25, exclude={"keystone": pids["keystone"]})
    log(f"the keystone watcher was restarted {time.monotonic() - t0:.1f}s after its kill (monitor every 10 s)")
    assert again["glance-api"] == pids["glance-api"]
    assert re.search(rf"failure watcher missing \(pid {pids['keystone']} is gone\)", cluster.pacemaker_log())
    assert_quiet(cluster, before, "watcher killed")


# ---------------------------------------------------------------- death and hang

def wait_reported(cluster: Harness, before: int, rsc: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        new = asyncmon_lines(cluster)[before:]
        if new:
            assert ASYNCMON.search(new[0]).group(1) == rsc, new
            return log_time(new[0])
        assert time.monotonic() < deadline, f"no asyncmon failure of {rsc} within {timeout}s\n{recent_log(cluster)}"
        time.sleep(0.2)


def recovered(cluster: Harness, rsc: str, old_pid: str) -> None:
    settle(cluster)
    deadline = time.monotonic() + SETTLE
    while sh(cluster, f"cat {PIDFILE[rsc]} 2>/dev/null; true").strip() in ("", old_pid):
        assert time.monotonic() < deadline, f"{rsc} was not restarted"
        time.sleep(0.5)
    # a failure is listed: the watcher's asyncmon (wait_reported saw it in pacemaker.log), or a
    # monitor that was already running when the service died and failed after it (the CIB keeps
    # a resource's last failure only; both count toward migration-threshold)
    assert [f for f in real_failures(cluster) if f.get("op_key", "").startswith(rsc)]
    cluster.cluster.cleanup(rsc)   # once the recovery's first monitors are done: see the next test
    settle(cluster)
    wait_watchers(cluster)


@pytest.mark.parametrize("rsc", ["keystone", "glance-api"])
def test_kill_9_of_the_main_process_is_reported_at_once(cluster: Harness, rsc):
    before = len(asyncmon_lines(cluster))
    old = sh(cluster, f"cat {PIDFILE[rsc]}").strip()
    killed = float(sh(cluster, f"date +%s.%N; kill -9 {old}").split()[0])
    recorded = wait_reported(cluster, before, rsc, 10)
    log(f"kill -9 of {rsc} pid {old}: Pacemaker recorded the failure {recorded - killed:.3f}s later")
    assert recorded - killed < DETECTION_MAX
    recovered(cluster, rsc, old)


FIRST_DEPTH10 = r"Initiating monitor operation glance-api_monitor_60000"
DEPTH10_RESULT = r"Result of monitor operation for glance-api on node1: (?!Cancelled).*glance-api_monitor_60000"


def test_a_cleanup_just_after_a_recovery_waits_for_the_first_monitors(cluster: Harness):
    """The moment an operator (or a test) runs a cleanup after a recovery: Glance restarted,
    its first depth-10 monitor (a token, ~1 s) in flight. A plain crm_resource --cleanup
    then kills that monitor and Pacemaker 2.1.5 waits for it until timeout + cluster-delay
    (100 s), records it as timed out and restarts Glance: seen here in every try. Cleanup
    waits for the monitor: its result arrives, nothing fails."""
    before = len(asyncmon_lines(cluster))
    old = sh(cluster, f"cat {PIDFILE['glance-api']}").strip()
    first = log_count(cluster, FIRST_DEPTH10)
    sh(cluster, f"kill -9 {old}")
    wait_reported(cluster, before, "glance-api", 10)
    wait_log(cluster, FIRST_DEPTH10, first, SETTLE)      # the restart's first depth-10 monitor runs
    results = log_count(cluster, DEPTH10_RESULT)
    cluster.cluster.cleanup("glance-api")
    wait_log(cluster, DEPTH10_RESULT, results, 40)     # its own timeout: the stall lasts 100 s
    settle(cluster)
    wait_watchers(cluster)
    assert not real_failures(cluster), f"after the cleanup: {real_failures(cluster)}"


def test_wait_idle_returns_once_the_cluster_carried_out_a_change(cluster: Harness):
    """The lab's helper for routine operations: right after a configuration change crm_mon
    still shows the old, settled state until the DC acts (the watch-quiet drill once read the
    floating IP's node in that window, mid-move, and found none). Cluster.wait_idle returns
    only once the change is carried out: checked here by reading crm_mon once, no polling."""
    before = len(asyncmon_lines(cluster))
    meta = ("crm_resource", "--resource", "glance-api", "--meta")
    for change, active in ((("--set-parameter", "target-role", "--parameter-value", "Stopped"), "false"),
                           (("--delete-parameter", "target-role"), "true")):
        cluster.node(*meta, *change)
        cluster.cluster.wait_idle(SETTLE, f"glance-api {change[0]}")
        state = resource_states(cluster.crm_mon()).get("glance-api", {})
        assert state.get("active", "false") == active, f"after {change} and wait_idle: {state}"
    settle(cluster)
    wait_watchers(cluster)
    assert_quiet(cluster, before, "a stop and start through target-role")


MONITOR_FAILED = re.compile(r"Updating failcount for keystone on node1 after failed monitor")


def freeze_reported(cluster: Harness) -> tuple:
    """SIGSTOP Keystone until Pacemaker records a failure: (seconds, by the watcher?, old pid)."""
    before = len(asyncmon_lines(cluster))
    monitors = len(MONITOR_FAILED.findall(cluster.pacemaker_log()))
    old = sh(cluster, f"cat {PIDFILE['keystone']}").strip()
    stopped = signal_group(cluster, "keystone", "STOP")
    try:
        deadline = time.monotonic() + 25
        while True:
            new = asyncmon_lines(cluster)[before:]
            if new:
                return log_time(new[0]) - stopped, True, old
            text = cluster.pacemaker_log()
            if len(MONITOR_FAILED.findall(text)) > monitors:
                line = [ln for ln in text.splitlines() if MONITOR_FAILED.search(ln)][-1]
                return log_time(line) - stopped, False, old
            assert time.monotonic() < deadline, f"no failure of keystone within 25s\n{recent_log(cluster)}"
            time.sleep(0.2)
    finally:
        sh(cluster, f"kill -CONT -- -{old} 2>/dev/null; true")


def test_sigstop_of_keystone_is_reported_within_seconds(cluster: Harness):
    # the recurring monitor (every 10 s, 10 s http timeout) may fail first when the freeze
    # lands just before it runs: a fair race the watcher loses (it then stands down, the
    # resource having failed already). That says nothing of the watcher: once more then.
    for attempt in (1, 2):
        took, by_watcher, old = freeze_reported(cluster)
        log(f"SIGSTOP of keystone: Pacemaker recorded the failure {took:.1f}s later "
            f"({'the watcher' if by_watcher else 'the recurring monitor'})")
        recovered(cluster, "keystone", old)
        if by_watcher:
            break
    assert by_watcher, f"the recurring monitor was first twice\n{recent_log(cluster)}"
    assert took < HANG_MAX


# ---------------------------------------------------------------- upgrade in place

def package_deb() -> Path:
    """The .deb of this tree: the one the packaging tests built in this session, else a new build."""
    built = os.environ.get("RAO_BUILT_DEB") or os.environ.get("RAO_DEB")
    if built and Path(built).is_file():
        return Path(built)
    outdir = tempfile.mkdtemp(prefix="rao-upgrade-deb-")
    log("building the .deb for the upgrade test (tests/setup/build-deb.sh)")
    proc = subprocess.run(["bash", str(REPO / "tests/setup/build-deb.sh"), outdir], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"build-deb.sh failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return Path(proc.stdout.strip().splitlines()[-1])


def test_an_upgrade_in_place_records_no_failure_and_the_running_watcher_still_reports(cluster: Harness):
    """dpkg -i while the services run: dpkg replaces the agent's files under the running
    watchers (which loaded their code when they started), the next recurring monitors run
    the new files. Nothing may fail, and the watcher from before the upgrade still works."""
    if from_source():
        pytest.skip("node1 runs this tree's agents in private mounts, not the package: nothing to upgrade")
    deb = package_deb()
    before = len(asyncmon_lines(cluster))
    pids = wait_watchers(cluster)
    proc = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert proc.returncode == 0, f"dpkg -i {deb}: {proc.stdout} {proc.stderr}"
    log(f"dpkg -i {deb.name} while the services run; waiting out two recurring monitors")
    time.sleep(25)
    assert wait_watchers(cluster) == pids, "the same version and settings: the monitors keep the watchers"
    assert_quiet(cluster, before, "dpkg -i while the services run")
    old = sh(cluster, f"cat {PIDFILE['keystone']}").strip()
    killed = float(sh(cluster, f"date +%s.%N; kill -9 {old}").split()[0])
    recorded = wait_reported(cluster, before, "keystone", 10)
    log(f"after the upgrade, kill -9 of keystone: the watcher started before it reported {recorded - killed:.3f}s later")
    assert recorded - killed < DETECTION_MAX
    recovered(cluster, "keystone", old)
