"""The failure watcher: its state machine (exit, hang, slow, stand-down), its reading of
crm_mon, its loop against a real process with a recorder in place of crm_resource, and what
the agent's actions do with it (launch, ensure, end)."""

import os
import signal
import subprocess
import time

import pytest
from ocf_openstack.host import privatefile, process
from ocf_openstack.watchers.failure import cluster
from ocf_openstack.watchers.failure import hooks as watcher
from ocf_openstack.watchers.failure.loop import Watcher
from ocf_openstack.watchers.failure.machine import (
    CHECK_ACTIVITY,
    CHECK_DEPENDENCIES,
    CONTINUE,
    EXIT,
    REPORT,
    VERIFY,
    ClusterView,
    Machine,
    judge_cluster,
)
from unit_support import PACKAGE_ROOT, PASSWORD, needs_proc, needs_root, run, wait_for

# ---------------------------------------------------------------- the state machine

def test_a_death_is_verified_then_reported():
    m = Machine(3)
    assert m.exited() == VERIFY
    assert m.verified(True, "keystone is Started on node1") == REPORT
    assert m.reason == "main process exited"


def test_a_death_not_to_be_reported_ends_the_watch():
    m = Machine(3)
    m.exited()
    assert m.verified(False, "the cluster is in maintenance mode") == EXIT
    assert m.stood_down == "the cluster is in maintenance mode"


def test_a_hang_is_reported_after_the_misses_when_dependencies_answer():
    m = Machine(3)
    assert [m.checked(False, "timeout") for _ in range(2)] == [CONTINUE, CONTINUE]
    assert m.checked(False, "http://127.0.0.1:5000/healthcheck did not answer within 2.0s") == CHECK_DEPENDENCIES
    assert m.dependencies("", "") == CHECK_ACTIVITY
    assert m.activity("") == VERIFY
    assert "3 consecutive health checks failed" in m.reason and "did not answer within 2.0s" in m.reason
    assert "its processes are idle" in m.reason
    assert m.verified(True, "ok") == REPORT


def test_a_busy_service_is_slow_not_hung_and_counting_starts_over():
    m = Machine(2)
    m.checked(False, "timeout")
    assert m.checked(False, "timeout") == CHECK_DEPENDENCIES
    assert m.dependencies("", "") == CHECK_ACTIVITY
    assert m.activity("its processes used 3.9s of CPU in 4.0s") == CONTINUE
    assert m.stood_down == "it is busy, not hung (its processes used 3.9s of CPU in 4.0s)"
    assert m.checked(False, "timeout") == CONTINUE           # counting starts over
    assert m.checked(False, "timeout") == CHECK_DEPENDENCIES
    assert m.dependencies("", "") == CHECK_ACTIVITY and m.activity("") == VERIFY


def test_a_slow_service_is_not_hung():
    """Misses that are not consecutive never add up."""
    m = Machine(3)
    for _ in range(20):
        assert m.checked(False, "slow") == CONTINUE
        assert m.checked(False, "slow") == CONTINUE
        assert m.checked(True) == CONTINUE


def test_a_dead_dependency_stands_the_watcher_down_and_it_starts_counting_again():
    m = Machine(2)
    m.checked(False, "timeout")
    assert m.checked(False, "timeout") == CHECK_DEPENDENCIES
    assert m.dependencies("database openstack-db:3306 does not answer", "") == CONTINUE
    assert "openstack-db" in m.stood_down
    assert m.checked(False, "timeout") == CONTINUE           # counting starts over
    assert m.checked(False, "timeout") == CHECK_DEPENDENCIES


def test_a_dependency_it_can_not_check_is_no_ground_for_a_report():
    m = Machine(1)
    assert m.checked(False, "timeout") == CHECK_DEPENDENCIES
    assert m.dependencies("", "database: a postgresql URL") == CONTINUE
    assert "could not be checked" in m.stood_down


def test_a_hang_during_maintenance_is_not_reported_and_the_watch_goes_on():
    m = Machine(1)
    m.checked(False, "timeout")
    m.dependencies("", "")
    assert m.verified(False, "keystone is unmanaged") == CONTINUE
    assert m.misses == 0
    assert m.checked(True) == CONTINUE and m.stood_down == ""


def test_what_the_agent_did_ends_the_watch_even_for_a_hang():
    m = Machine(1)
    m.checked(False, "timeout")
    m.dependencies("", "")
    assert m.verified(False, "the agent is stopping the service", final=True) == EXIT


# ---------------------------------------------------------------- crm_mon's view

def crm_mon(maintenance="false", node_attrs='standby="false" maintenance="false"', online="true",
            resources=None):
    resources = resources if resources is not None else (
        '<resource id="keystone" resource_agent="ocf:openstack:keystone" role="Started" active="true" '
        'orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" '
        'nodes_running_on="1"><node name="node1" id="1" cached="true"/></resource>')
    return (f'<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">'
            f'<summary><cluster_options stonith-enabled="false" maintenance-mode="{maintenance}"/></summary>'
            f'<nodes><node name="node1" id="1" online="{online}" {node_attrs} type="member"/>'
            f'<node name="node2" id="2" online="true" standby="false" maintenance="false" type="member"/></nodes>'
            f'<resources>{resources}</resources><status code="0" message="OK"/></pacemaker-result>')


def clone(managed="true", on="node1"):
    return ('<clone id="keystone-clone" multi_state="false" unique="false" managed="true" failed="false">'
            f'<resource id="keystone" role="Started" active="true" managed="{managed}" failed="false" '
            f'nodes_running_on="1"><node name="{on}" id="1" cached="true"/></resource>'
            '<resource id="keystone" role="Started" active="true" managed="true" failed="false" '
            'nodes_running_on="1"><node name="node2" id="2" cached="true"/></resource></clone>')


@pytest.mark.parametrize("xml,instance,report,why", [
    (crm_mon(), "keystone", True, "Started on node1"),
    (crm_mon(maintenance="true"), "keystone", False, "maintenance mode"),
    (crm_mon(node_attrs='standby="true" maintenance="false"'), "keystone", False, "standby"),
    (crm_mon(node_attrs='standby="false" maintenance="true"'), "keystone", False, "node node1 is in maintenance"),
    (crm_mon(online="false"), "keystone", False, "not online"),
    (crm_mon().replace('managed="true"', 'managed="false"'), "keystone", False, "unmanaged"),
    (crm_mon().replace('failed="false"', 'failed="true"'), "keystone", False, "already failed"),
    (crm_mon().replace('name="node1" id="1" cached', 'name="node2" id="2" cached'), "keystone", False,
     "not active on node1"),
    (crm_mon(resources=""), "keystone", False, "not active on node1"),
    (crm_mon(resources=clone()), "keystone:0", True, "Started on node1"),
    (crm_mon(resources=clone()), "keystone", True, "Started on node1"),
    (crm_mon(resources=clone(managed="false")), "keystone:1", False, "unmanaged"),
    (crm_mon(resources=clone(on="node3")), "keystone:0", False, "not active on node1"),
    ("<oops", "keystone", False, "does not parse"),
])
def test_judge_cluster(xml, instance, report, why):
    view = judge_cluster(xml, instance, "node1")
    assert view.report is report and why in view.why


# ---------------------------------------------------------------- the loop, with a real process

class Recorder:
    def __init__(self):
        self.reports = []
        self.lines = []

    def report(self, reason):
        self.reports.append((time.monotonic(), reason))
        return True

    def log(self, line):
        self.lines.append(line)


def watch_state(proc, pidfile, tmp_path, interval):
    """The state file of a watcher of ``proc``, and a recorder: (proc, state, path, recorder)."""
    info = process.proc_info(proc.pid)
    path = str(tmp_path / "openstack-unit.watch")
    state = {"format": "1", "instance": "unit", "node": "node1", "pidfile": pidfile, "pid": str(proc.pid),
             "pid_started": f"{info.started:.2f}", "watch_interval": interval, "watch_misses": "3",
             "http_timeout": "10", "watcher_pid": str(os.getpid())}
    watcher.write_state(path, state)
    return proc, state, path, Recorder()


@pytest.fixture
def watched(daemon, tmp_path):
    """A `sleep` to watch: (proc, state, path, recorder)."""
    proc, pidfile = daemon
    return watch_state(proc, pidfile, tmp_path, "0.1")


def make(state, path, rec, checks=None, deps=("", ""), view=ClusterView(True, "Started")):
    checks = checks if checks is not None else (lambda timeout: (True, "ok"))
    return Watcher(state, path, checks, lambda: deps, lambda: view, rec.report, rec.log)


def run_in_thread(w):
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", w.run()), daemon=True)
    t.start()
    return t, result


@needs_proc
def test_kill_9_is_reported_within_half_a_second(watched):
    proc, state, path, rec = watched
    t, _ = run_in_thread(make(state, path, rec))
    time.sleep(0.3)
    killed = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t.join(2)
    assert not t.is_alive() and len(rec.reports) == 1
    assert rec.reports[0][0] - killed < 0.5 and rec.reports[0][1] == "main process exited"


@needs_proc
def test_no_report_when_the_agent_stops_the_service(watched):
    proc, state, path, rec = watched
    t, _ = run_in_thread(make(state, path, rec))
    with open(watcher.stop_marker(path), "w") as f:
        f.write("stopping\n")
    os.kill(proc.pid, signal.SIGKILL)
    t.join(2)
    assert not t.is_alive() and rec.reports == []
    assert any("the agent is stopping the service" in line for line in rec.lines)


@needs_proc
def test_no_report_when_the_pidfile_names_another_process(watched):
    proc, state, path, rec = watched
    t, _ = run_in_thread(make(state, path, rec))
    process.write_pidfile(state["pidfile"], os.getpid())
    os.kill(proc.pid, signal.SIGKILL)
    t.join(2)
    assert rec.reports == [] and any("pidfile names another process" in line for line in rec.lines)


@needs_proc
def test_no_report_when_pacemaker_would_not_act(watched):
    proc, state, path, rec = watched
    t, _ = run_in_thread(make(state, path, rec, view=ClusterView(False, "the cluster is in maintenance mode")))
    os.kill(proc.pid, signal.SIGKILL)
    t.join(2)
    assert not t.is_alive() and rec.reports == []


@needs_proc
def test_a_process_that_is_not_the_recorded_one_is_not_watched(watched):
    proc, state, path, rec = watched
    state = dict(state, pid_started="12.34")     # the pid was reused by another process
    assert make(state, path, rec).run() == 0
    assert rec.reports == [] and "as the service the agent started" in rec.lines[0]


@needs_proc
def test_a_hang_is_reported_after_the_misses(watched):
    proc, state, path, rec = watched
    asked = []
    started = time.monotonic()
    t, _ = run_in_thread(make(state, path, rec, checks=lambda timeout: asked.append(timeout) or (False, "timeout")))
    t.join(3)
    assert not t.is_alive() and len(rec.reports) == 1 and len(asked) == 3
    assert "3 consecutive health checks failed" in rec.reports[0][1]
    assert 0.25 < rec.reports[0][0] - started < 1.0
    assert asked[0] == pytest.approx(0.1)         # each check may take the interval, no more


@needs_proc
def test_a_hang_with_its_database_down_is_not_reported(watched):
    proc, state, path, rec = watched
    t, _ = run_in_thread(make(state, path, rec, checks=lambda timeout: (False, "timeout"),
                              deps=("database openstack-db:3306 does not answer", "")))
    time.sleep(1.0)
    assert t.is_alive() and rec.reports == []
    assert [line for line in rec.lines if "openstack-db:3306" in line] == [
        "health checks fail, but not reported: database openstack-db:3306 does not answer"]   # once
    os.kill(proc.pid, signal.SIGKILL)     # and a death is still a death
    t.join(2)
    assert len(rec.reports) == 1


@needs_proc
def test_a_slow_service_is_never_reported(watched):
    proc, state, path, rec = watched
    answers = iter([(False, "timeout"), (False, "timeout"), (True, "ok")] * 100)
    t, _ = run_in_thread(make(state, path, rec, checks=lambda timeout: next(answers)))
    time.sleep(1.5)
    assert t.is_alive() and rec.reports == []
    os.kill(proc.pid, signal.SIGKILL)
    t.join(2)


@pytest.fixture
def spinning(children, tmp_path):
    """A CPU-bound session leader (a service busy under load) in a pidfile, its watcher's state:
    (proc, state, path, recorder)."""
    proc = children.start(["sh", "-c", "while :; do :; done"])
    pidfile = str(tmp_path / "spin.pid")
    process.write_pidfile(pidfile, proc.pid)
    return watch_state(proc, pidfile, tmp_path, "0.2")


@needs_proc
def test_a_busy_service_whose_checks_miss_is_not_reported_until_it_freezes(spinning):
    """The soak's false failure: Keystone busy hashing passwords missed /healthcheck 3 x 2 s.
    Its processes used CPU all along, so the watcher stands down (and says so once); frozen,
    the same misses are a hang."""
    proc, state, path, rec = spinning
    t, _ = run_in_thread(make(state, path, rec, checks=lambda timeout: time.sleep(timeout) or (False, "timeout")))
    time.sleep(3.0)                 # five rounds of three misses
    assert t.is_alive() and rec.reports == []
    busy = [line for line in rec.lines if "it is busy, not hung" in line]
    assert len(busy) == 1 and "of CPU in" in busy[0]
    os.kill(proc.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    t.join(3)
    assert not t.is_alive() and len(rec.reports) == 1
    assert "its processes are idle" in rec.reports[0][1]
    assert rec.reports[0][0] - frozen < 2.0       # at most two streaks of 3 x 0.2 s


# ---------------------------------------------------------------- what the actions do with it

@pytest.fixture
def watching(monitored, agent_env, tmp_path):
    """A monitored `sleep` with the watcher on (a short interval), the keystone spec."""
    from ocf_openstack.services import keystone
    proc, env = monitored
    env.update(OCF_RESKEY_watch="true", OCF_RESKEY_watch_interval="1", OCF_RESKEY_os_password=PASSWORD,
               OCF_RESKEY_binary="/usr/bin/sleep", PYTHONPATH=str(PACKAGE_ROOT))
    spec = keystone.SPEC._replace(params=keystone.SPEC.params)
    yield proc, env, spec
    state = watcher.read_state(watcher.state_file("keystone", env))
    if state and watcher._watcher_alive(state):
        os.kill(int(state["watcher_pid"]), signal.SIGKILL)


def watcher_pid(env):
    state = watcher.read_state(watcher.state_file("keystone", env))
    return watcher._watcher_alive(state) if state else None


def monitored_watcher(spec, env, capsys):
    """A recurring monitor passes and leaves a watcher: its pid."""
    assert run(spec, "monitor", env, capsys)[0] == 0
    pid = watcher_pid(env)
    assert pid
    return pid


@needs_root
@needs_proc
def test_monitor_starts_a_missing_watcher_and_logs_it(watching, capsys, caplog):
    proc, env, spec = watching
    rc, _, _ = run(spec, "monitor", env, capsys)
    assert rc == 0
    first = watcher_pid(env)
    assert first and "failure watcher missing (none was recorded)" in caplog.text
    info = process.proc_info(first)
    assert info.argv[1:4] == ["-s", "-m", "ocf_openstack.watchers.failure.loop"] and info.pgid == first
    environ = open(f"/proc/{first}/environ", "rb").read()
    assert b"OCF_RESKEY" not in environ and PASSWORD.encode() not in environ
    text = open(watcher.state_file("keystone", env)).read()
    assert PASSWORD not in text and oct(os.stat(watcher.state_file("keystone", env)).st_mode & 0o777) == "0o600"
    caplog.clear()
    assert run(spec, "monitor", env, capsys)[0] == 0
    assert watcher_pid(env) == first and "watcher" not in caplog.text     # kept, silently
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not process.alive(process.proc_info(first)))
    assert run(spec, "monitor", env, capsys)[0] == 0
    second = watcher_pid(env)
    assert second and second != first and f"pid {first} is gone" in caplog.text


@needs_root
@needs_proc
def test_a_probe_starts_no_watcher_and_watch_false_ends_it(watching, capsys):
    proc, env, spec = watching
    assert run(spec, "monitor", dict(env, OCF_RESKEY_CRM_meta_interval="0"), capsys)[0] == 0
    assert watcher_pid(env) is None
    pid = monitored_watcher(spec, env, capsys)
    assert run(spec, "reload", dict(env, OCF_RESKEY_watch="false"), capsys)[0] == 0
    assert not process.alive(process.proc_info(pid)) and watcher_pid(env) is None


@needs_root
@needs_proc
def test_a_changed_setting_replaces_the_watcher(watching, capsys, caplog):
    proc, env, spec = watching
    first = monitored_watcher(spec, env, capsys)
    assert run(spec, "reload", dict(env, OCF_RESKEY_watch_misses="5"), capsys)[0] == 0
    second = watcher_pid(env)
    assert second and second != first and not process.alive(process.proc_info(first))
    assert watcher.read_state(watcher.state_file("keystone", env))["watch_misses"] == "5"
    # a monitor with other settings than the watcher's (an upgrade, a missed reload) replaces it
    assert run(spec, "monitor", dict(env, OCF_RESKEY_watch_misses="5", OCF_RESKEY_watch_interval="3"),
               capsys)[0] == 0
    third = watcher_pid(env)
    assert third not in (None, second) and "replaced: watch_interval changed" in caplog.text
    # a watcher started by an older agent (dpkg -i while the services run) is replaced by the
    # first monitor of the new one
    path = watcher.state_file("keystone", env)
    watcher.write_state(path, dict(watcher.read_state(path), agent_version="0.0.1"))
    assert run(spec, "monitor", dict(env, OCF_RESKEY_watch_misses="5", OCF_RESKEY_watch_interval="3"),
               capsys)[0] == 0
    assert watcher_pid(env) not in (None, third) and not process.alive(process.proc_info(third))
    assert "replaced: agent_version changed" in caplog.text


@needs_root
@needs_proc
def test_stop_marks_then_ends_the_watcher_before_the_service(watching, capsys, monkeypatch):
    proc, env, spec = watching
    pid = monitored_watcher(spec, env, capsys)
    marked = []
    real_end = watcher._end
    monkeypatch.setattr(watcher, "_end", lambda p: marked.append(
        os.path.exists(watcher.stop_marker(watcher.state_file("keystone", env)))) or real_end(p))
    assert run(spec, "stop", env, capsys)[0] == 0
    assert marked == [True], "the stop marker must be there before the watcher is ended"
    assert not process.alive(process.proc_info(pid))
    assert not os.path.exists(watcher.state_file("keystone", env))
    assert not os.path.exists(watcher.stop_marker(watcher.state_file("keystone", env))), \
        "stop removes its marker once the service is stopped"
    assert run(spec, "stop", env, capsys)[0] == 0       # stopped again: no marker is left behind
    assert not any(n.endswith(".watch-stop") for n in os.listdir(env["HA_RSCTMP"]))


@needs_root
@needs_proc
@pytest.mark.parametrize("state", ["garbage", "gone"])
def test_stop_ends_a_frozen_watcher_its_state_file_no_longer_names(watching, capsys, state):
    """A frozen watcher never ends by itself: stop finds it by its command line when the state
    file is corrupt or removed (issue 22: the watcher is gone after stop)."""
    proc, env, spec = watching
    pid = monitored_watcher(spec, env, capsys)
    path = watcher.state_file("keystone", env)
    try:
        os.kill(pid, signal.SIGSTOP)
        if state == "garbage":
            privatefile.write(path, "\ufffd not a state\nwatcher_pid=\n")
        else:
            os.unlink(path)
        assert run(spec, "stop", env, capsys)[0] == 0
        assert wait_for(lambda: not process.alive(process.proc_info(pid)), timeout=1)
        assert not os.path.exists(path) and not os.path.exists(watcher.stop_marker(path))
    finally:
        if process.alive(process.proc_info(pid)):
            os.kill(pid, signal.SIGKILL)


@needs_root
@needs_proc
def test_the_detached_watcher_sees_the_death_and_reports_nothing_outside_a_cluster(watching, capsys):
    """Outside a cluster crm_mon does not answer: nothing can be verified, nothing is reported,
    and the watcher exits (the monitor would find the service gone)."""
    proc, env, spec = watching
    pid = monitored_watcher(spec, env, capsys)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_for(lambda: not process.alive(process.proc_info(pid)), timeout=8)


def test_the_watcher_parameters_are_monitoring_only():
    from ocf_openstack.services import glance, keystone
    for spec in (keystone.SPEC, glance.SPEC):
        params = {p.name: p for p in spec.params}
        assert params["watch"].default == "true" and params["watch_interval"].default == "2"
        assert params["watch_misses"].default == "3"
        assert not any(params[n].unique for n in ("watch", "watch_interval", "watch_misses"))


def test_the_watcher_module_runs_with_no_arguments_it_does_not_understand(tmp_path):
    """A state file of another format (an upgrade) or none: exit 0 at once, nothing done."""
    proc = subprocess.run(["/usr/bin/python3", "-s", "-m", "ocf_openstack.watchers.failure.loop", str(tmp_path / "none")],
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PACKAGE_ROOT)}, capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 0 and proc.stderr == ""


class _Ctx:
    """Just what the entry points read of a Context."""

    def __init__(self, env, values):
        from ocf_openstack.services import keystone
        self.env, self.values, self.spec = env, values, keystone.SPEC
        self.warnings = []
        self.report = self

    def warning(self, msg):
        self.warnings.append(msg)

    def debug(self, msg):
        pass

    def find(self):
        return process.Found(None, ())


def test_nothing_of_the_watcher_can_fail_an_action(tmp_path, monkeypatch):
    """stop must never fail (a failed stop means fencing), nor a monitor because of the watcher."""
    ctx = _Ctx({"HA_RSCTMP": str(tmp_path), "OCF_RESOURCE_INSTANCE": "unit"}, {"watch": True})
    (tmp_path / "openstack-unit.watch").mkdir()          # a state "file" no one can read
    (tmp_path / "openstack-unit.watch-stop").mkdir()     # and a marker no one can write
    assert watcher.end(ctx) is None
    assert "failure watcher: end failed" in ctx.warnings[0]

    def no_pidfd(pid):
        raise OSError(38, "Function not implemented")
    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    ctx = _Ctx({"HA_RSCTMP": str(tmp_path), "OCF_RESOURCE_INSTANCE": "unit"}, {"watch": True})
    assert watcher.launch(ctx, os.getpid()) is None
    assert "launch failed: OSError" in ctx.warnings[0] and "the recurring monitor still detects" in ctx.warnings[0]


# ---------------------------------------------------------------- the report: mark, then fail

class _Proc:
    def __init__(self, rc, stderr=""):
        self.returncode, self.stderr = rc, stderr


@pytest.mark.parametrize("marked,crm_rc", [(True, 0), (False, 0), (True, 1)])
def test_a_report_marks_the_node_first_then_tells_pacemaker(monkeypatch, marked, crm_rc):
    """The node attribute before crm_resource --fail: the transition the failure starts
    already sees it (the clone snippet's IP leaves then). Neither failing stops the other."""
    calls, warnings = [], []
    monkeypatch.setattr(cluster.mark.attrd, "update",
                        lambda name, value, timeout, private=False: calls.append(("attrd", name, value)) or marked)
    monkeypatch.setattr(cluster, "_crm", lambda argv, timeout: calls.append(tuple(argv)) or _Proc(crm_rc, "no IPC"))
    ok = cluster.report_failure("glance-api", "4242", "glance-api:1", "node2", "main process exited", warnings.append)
    assert calls == [("attrd", "openstack-glance-api-failed", "1"),
                     (cluster.CRM_RESOURCE, "--fail", "--resource", "glance-api:1", "--node", "node2")]
    assert ok is (crm_rc == 0)
    assert warnings[0].startswith("watcher: glance-api (pid 4242) main process exited: reported to Pacemaker "
                                  "as a failure of glance-api:1 on node2")
    assert ("crm_resource failed: no IPC" in warnings[0]) is (crm_rc != 0)
    assert ("node attribute openstack-glance-api-failed not set" in warnings[0]) is (not marked)


def test_the_watcher_runs_the_very_package_the_agent_runs(tmp_path, monkeypatch):
    """The watcher's PYTHONPATH is the directory holding the ocf_openstack the agent loaded,
    whatever else is installed: a package's build tests it before it is installed (the
    Debian 13 build met a watcher that could not import its own module), and an installed
    older copy must never run in its place."""
    import subprocess as sp

    import ocf_openstack
    started = []

    class Child:
        pid = os.getpid()

    monkeypatch.setattr(sp, "Popen", lambda argv, **kw: started.append((argv, kw["env"])) or Child())
    ctx = _Ctx({"HA_RSCTMP": str(tmp_path), "OCF_RESOURCE_INSTANCE": "unit"}, {"watch": True})
    ctx.pidfile = str(tmp_path / "service.pid")
    leader = os.getpid()
    ctx.find = lambda: process.Found(leader, (leader,))
    ctx.values.update({name: "" for name in ("url", "health_path", "http_timeout", "ca_file", "insecure", "config",
                                             "os_auth_url", "watch_interval", "watch_misses")})
    assert watcher.launch(ctx, leader) == leader, ctx.warnings
    argv, env = started[0]
    assert argv[1:4] == ["-s", "-m", "ocf_openstack.watchers.failure.loop"]
    package = os.path.join(env["PYTHONPATH"], "ocf_openstack", "__init__.py")
    assert os.path.realpath(package) == os.path.realpath(ocf_openstack.__file__)


@needs_proc
@pytest.mark.parametrize("module,ours", [("ocf_openstack.watchers.failure.loop", True),
                                         ("ocf_openstack.failure_watch", True),    # started before the rooms
                                         ("some.other.module", False)])
def test_a_watcher_is_recognised_by_its_module_also_one_from_before_an_upgrade(children, module, ours):
    """After an upgrade in place from the package of one flat module, the watcher the old agent
    started (-m ocf_openstack.failure_watch) is still ours: the new agent ends or replaces it
    instead of starting a second one beside it."""
    proc = children.start(["/usr/bin/python3", "-c", "import time; time.sleep(30)", module])
    info = wait_for(lambda: (lambda i: i if i and module in i.argv else None)(process.proc_info(proc.pid)))
    state = {"watcher_pid": str(proc.pid), "watcher_started": f"{info.started:.2f}"}
    assert (watcher._watcher_alive(state) == proc.pid) is ours
