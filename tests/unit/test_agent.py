import grp
import logging
import os
import pwd
import signal
import subprocess
import sys
import time

import pytest
from ocf_openstack.checks.health import HealthResult
from ocf_openstack.host import privatefile, process
from ocf_openstack.ocf import log
from ocf_openstack.ocf.log import REDACTED
from ocf_openstack.services import glance, keystone
from unit_support import (
    PACKAGE_ROOT,
    PASSWORD,
    SLEEP,
    current_account,
    current_group,
    depth10_env,
    free_port,
    needs_proc,
    needs_root,
    needs_root_for_nobody,
    reason,
    run,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("ocf_lib")


# ---------------------------------------------------------------- dispatch

def test_meta_data_needs_no_environment(capsys):
    rc, out, err = run(keystone.SPEC, "meta-data", {}, capsys)
    assert rc == 0 and out.startswith("<?xml") and err == ""


@pytest.mark.parametrize("action", ["usage", "help", "--help"])
def test_usage(action, capsys):
    rc, out, _ = run(glance.SPEC, action, {}, capsys)
    assert rc == 0 and out.startswith("usage: glance-api {")
    for name in ("start", "stop", "monitor", "validate-all", "meta-data", "reload"):
        assert name in out


@pytest.mark.parametrize("action", ["frobnicate", "promote", ""])
def test_unknown_action(action, capsys):
    rc, _, err = run(glance.SPEC, action, {}, capsys)
    assert rc == 3
    assert "unsupported action" in reason(err)


def test_missing_ocf_library(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "ocf", raising=False)
    # the engine also falls back to /usr/lib/ocf, where resource-agents is installed
    monkeypatch.setattr(log, "DEFAULT_OCF_ROOT", str(tmp_path))
    env = {"OCF_ROOT": str(tmp_path), "OCF_FUNCTIONS_DIR": str(tmp_path)}
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 5
    assert "ocf.py not found" in reason(err) and "resource-agents" in reason(err)


def test_meta_data_without_ocf_library(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "ocf", raising=False)
    monkeypatch.setattr(log, "DEFAULT_OCF_ROOT", str(tmp_path))
    rc, out, _ = run(glance.SPEC, "meta-data", {"OCF_ROOT": str(tmp_path)}, capsys)
    assert rc == 0 and "<resource-agent" in out


# ---------------------------------------------------------------- parameters

def test_bad_parameter_on_monitor(agent_env, capsys):
    agent_env.update(OCF_RESKEY_http_timeout="abc", OCF_RESKEY_CRM_meta_interval="10000")
    rc, _, err = run(glance.SPEC, "monitor", agent_env, capsys)
    assert rc == 6 and "http_timeout" in reason(err)


@needs_proc
def test_bad_parameter_on_a_probe_of_a_stopped_service(agent_env, capsys):
    agent_env.update(OCF_RESKEY_http_timeout="abc", OCF_RESKEY_CRM_meta_interval="0")
    assert run(glance.SPEC, "monitor", agent_env, capsys)[0] == 7


@needs_proc
def test_bad_parameter_on_a_probe_of_a_running_service(monitored, capsys):
    _, env = monitored
    env.update(OCF_RESKEY_http_timeout="abc", OCF_RESKEY_CRM_meta_interval="0")
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 6 and "http_timeout" in reason(err)


@pytest.mark.parametrize("spec", [glance.SPEC, keystone.SPEC], ids=["glance", "keystone"])
def test_bad_parameters_never_fail_stop(spec, agent_env, capsys):
    agent_env.update(OCF_RESKEY_http_timeout="abc", OCF_RESKEY_insecure="maybe", OCF_RESKEY_token_max_age="-1",
                     OCF_RESKEY_url="ftp://nowhere", OCF_RESKEY_binary="/nonexistent/bin")
    rc, _, _ = run(spec, "stop", agent_env, capsys)
    assert rc == 0


def test_stop_when_stopped_removes_a_stale_pidfile(agent_env, capsys):
    with open(agent_env["OCF_RESKEY_pid"], "w") as f:
        f.write("999999999\n")
    rc, _, _ = run(glance.SPEC, "stop", agent_env, capsys)
    assert rc == 0 and not os.path.exists(agent_env["OCF_RESKEY_pid"])


def test_validate_all_missing_binary(agent_env, capsys):
    agent_env["OCF_RESKEY_binary"] = "/nonexistent/glance-api"
    rc, _, err = run(glance.SPEC, "validate-all", agent_env, capsys)
    assert rc == 5 and "binary" in reason(err) and "/nonexistent/glance-api" in reason(err)


@pytest.mark.parametrize("key, value, words", [
    ("url", "ftp://x:1", "url"),
    ("url", "http://h:5000/?q=1", "url"),
    ("health_path", "healthcheck", "health_path"),
    ("pid", "relative.pid", "pid"),
    ("additional_parameters", "--x 'unbalanced", "additional_parameters"),
    ("insecure", "perhaps", "insecure"),
])
def test_validate_all_inherently_wrong(key, value, words, agent_env, capsys):
    agent_env["OCF_RESKEY_" + key] = value
    rc, _, err = run(glance.SPEC, "validate-all", agent_env, capsys)
    assert rc == 6 and words in reason(err)


def nobody_group():
    return grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name


@pytest.fixture
def installed(agent_env, tmp_path):
    """Parameters of a service that is 'installed' in tmp_path, run as the current user."""
    me = current_account()
    config = tmp_path / "svc.conf"
    config.write_text("[DEFAULT]\n")
    agent_env.update(OCF_RESKEY_binary=SLEEP, OCF_RESKEY_config=str(config),
                     OCF_RESKEY_user=me.pw_name, OCF_RESKEY_group=current_group(me),
                     OCF_RESKEY_log_file=str(tmp_path / "svc.log"))
    return agent_env


def test_validate_all_ok(installed, capsys):
    rc, _, err = run(glance.SPEC, "validate-all", installed, capsys)
    assert rc == 0 and "ocf-exit-reason" not in err


@pytest.mark.parametrize("key, value, code, words", [
    ("user", "no-such-user-xyz", 5, "does not exist"),
    ("config", "/nonexistent/glance-api.conf", 5, "config"),
    ("ca_file", "/nonexistent/ca.pem", 2, "ca_file"),
    ("log_file", "/nonexistent/dir/glance.log", 2, "log_file"),
])
def test_validate_all_host_problems(key, value, code, words, installed, capsys):
    installed["OCF_RESKEY_" + key] = value
    rc, _, err = run(glance.SPEC, "validate-all", installed, capsys)
    assert rc == code and words in reason(err)


@needs_proc
def test_validate_all_names_a_service_running_outside_the_cluster(installed, http_server, capsys):
    installed["OCF_RESKEY_url"] = http_server.url  # this test process listens there
    rc, _, err = run(glance.SPEC, "validate-all", installed, capsys)
    assert rc == 2 and f"already in use by pid {os.getpid()}" in reason(err)


@needs_proc
def test_probe_names_a_service_running_outside_the_cluster(agent_env, http_server, capsys):
    agent_env.update(OCF_RESKEY_url=http_server.url, OCF_RESKEY_CRM_meta_interval="0")
    rc, _, err = run(glance.SPEC, "monitor", agent_env, capsys)
    assert rc == 7 and f"already in use by pid {os.getpid()}" in reason(err)


@needs_root_for_nobody
def test_validate_all_config_unreadable_by_service_user(installed, tmp_path, capsys):
    os.chmod(installed["OCF_RESKEY_config"], 0o600)  # root's
    installed.update(OCF_RESKEY_user="nobody", OCF_RESKEY_group=nobody_group())
    rc, _, err = run(glance.SPEC, "validate-all", installed, capsys)
    assert rc == 2 and "not readable by user nobody" in reason(err)


@needs_root_for_nobody
def test_validate_all_config_in_a_closed_directory(installed, tmp_path, capsys):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    config = closed / "svc.conf"
    config.write_text("[DEFAULT]\n")
    config.chmod(0o644)
    installed.update(OCF_RESKEY_config=str(config), OCF_RESKEY_user="nobody", OCF_RESKEY_group=nobody_group())
    rc, _, _ = run(glance.SPEC, "validate-all", installed, capsys)
    assert rc == 2


def test_reload_checks_syntax_only(agent_env, capsys):
    agent_env["OCF_RESKEY_binary"] = "/nonexistent/glance-api"
    assert run(glance.SPEC, "reload", agent_env, capsys)[0] == 0
    agent_env["OCF_RESKEY_url"] = "gopher://x"
    rc, _, err = run(glance.SPEC, "reload", agent_env, capsys)
    assert rc == 6 and "url" in reason(err)


# ---------------------------------------------------------------- monitor

@needs_proc
def test_probe_of_stopped_service_without_binary(agent_env, capsys):
    agent_env.update(OCF_RESKEY_CRM_meta_interval="0", OCF_RESKEY_binary="/nonexistent/glance-api",
                     OCF_RESKEY_config="/nonexistent.conf", OCF_RESKEY_user="no-such-user-xyz")
    assert run(glance.SPEC, "monitor", agent_env, capsys)[0] == 7


def test_bad_check_level(agent_env, capsys):
    agent_env["OCF_CHECK_LEVEL"] = "deep"
    rc, _, err = run(glance.SPEC, "monitor", agent_env, capsys)
    assert rc == 6 and "OCF_CHECK_LEVEL" in reason(err)


@needs_proc
def test_monitor_running_and_healthy(monitored, capsys):
    _, env = monitored
    assert run(glance.SPEC, "monitor", env, capsys)[0] == 0


@needs_proc
def test_monitor_running_but_unhealthy(monitored, http_server, capsys):
    proc, env = monitored
    http_server.routes[("GET", "/healthcheck")] = (503, b"DISABLED BY FILE", {})
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 1
    assert f"pid {proc.pid}" in reason(err) and "503" in reason(err) and "DISABLED BY FILE" in reason(err)


@needs_proc
def test_monitor_running_but_port_closed(monitored, capsys):
    _, env = monitored
    env["OCF_RESKEY_url"] = f"http://127.0.0.1:{free_port()}"
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 1 and "refused" in reason(err)


@needs_proc
def test_monitor_http_timeout_is_cut_to_the_op_budget(monitored, silent_port, capsys):
    _, env = monitored
    env.update(OCF_RESKEY_url=f"http://127.0.0.1:{silent_port}", OCF_RESKEY_http_timeout="30",
               OCF_RESKEY_CRM_meta_timeout="1500")  # 1.5 s op, 0.5 s margin
    started = time.monotonic()
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 1 and "did not answer" in reason(err)
    assert time.monotonic() - started < 1.5


@needs_proc
def test_monitor_orphans_only(children, agent_env, capsys):
    shell = children.start(["sh", "-c", "sleep 30 & wait"])
    assert wait_for(lambda: len(process.group_members(shell.pid)) == 2)
    process.write_pidfile(agent_env["OCF_RESKEY_pid"], shell.pid)
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait(5)
    rc, _, err = run(glance.SPEC, "monitor", agent_env, capsys)
    assert rc == 1 and "main process is gone" in reason(err)
    assert run(glance.SPEC, "stop", agent_env, capsys)[0] == 0
    assert process.group_members(shell.pid) == []
    assert run(glance.SPEC, "monitor", agent_env, capsys)[0] == 7


@needs_proc
def test_stop_running_daemon(monitored, capsys):
    proc, env = monitored
    token = os.path.join(env["HA_RSCTMP"], "openstack-unit.token")
    privatefile.write(token, "{}")  # what a depth-10 monitor kept
    assert run(glance.SPEC, "stop", env, capsys)[0] == 0
    assert proc.wait(5) == -signal.SIGTERM
    assert not os.path.exists(env["OCF_RESKEY_pid"]) and not os.path.exists(token)
    assert run(glance.SPEC, "monitor", env, capsys)[0] == 7


@needs_proc
def test_stop_of_a_frozen_service_kills_it_without_waiting_out_the_grace(children, agent_env, capsys, caplog):
    """A SIGSTOPped (hung) service reported by the watcher: continued, it would only finish
    requests its clients gave up on, while the failover waits (a uwsgi that handles SIGTERM
    gracefully waits for its workers). Stop kills a frozen group at once."""
    shell = children.start(["sh", "-c", 'trap "" TERM; sleep 30 & wait'])
    assert wait_for(lambda: len(process.group_members(shell.pid)) == 2)
    process.write_pidfile(agent_env["OCF_RESKEY_pid"], shell.pid)
    members = process.group_members(shell.pid)
    for pid in members:
        os.kill(pid, signal.SIGSTOP)
    # every member, not only the shell: a SIGSTOP lands asynchronously (the trixie build's
    # run once met the sleep still running, and stop rightly gave it the graceful 10.8 s)
    assert wait_for(lambda: all(process.frozen(pid) for pid in members))
    agent_env["OCF_RESKEY_CRM_meta_timeout"] = "20000"     # a 10.8 s grace if it were not frozen
    started = time.monotonic()
    assert run(glance.SPEC, "stop", agent_env, capsys)[0] == 0
    assert time.monotonic() - started < 3.0
    assert shell.wait(5) == -signal.SIGKILL and process.group_members(shell.pid) == []
    assert "frozen" in caplog.text


@needs_proc
def test_stop_of_a_service_with_one_stopped_process_is_graceful(children, agent_env, capsys, caplog):
    """Only the main process stopped (a tracer on the uwsgi master) is no hang: its live
    workers get the graceful stop (SIGCONT lets the master handle its SIGTERM)."""
    shell = children.start(["sh", "-c", "sleep 30 & wait"])
    assert wait_for(lambda: len(process.group_members(shell.pid)) == 2)
    process.write_pidfile(agent_env["OCF_RESKEY_pid"], shell.pid)
    os.kill(shell.pid, signal.SIGSTOP)
    assert wait_for(lambda: process.frozen(shell.pid))
    assert run(glance.SPEC, "stop", agent_env, capsys)[0] == 0
    assert shell.wait(5) == -signal.SIGTERM and "frozen" not in caplog.text


@needs_proc
def test_stop_of_processes_that_survive_sigkill_fails_within_the_op_timeout(children, agent_env, capsys,
                                                                           monkeypatch):
    """The worst case of stop (issue 22): SIGTERM ignored, the graceful period, SIGKILL, then the
    wait for processes stuck in the kernel (here: a SIGKILL that does not take). Nothing is left
    to do but fail with the reason (the node is fenced), and that within the op timeout: a stop
    that outlives it is fenced too, but without a reason in the logs. The wait after SIGKILL
    is what the budget holds after the graceful period, not what it held before."""
    shell = children.start(["sh", "-c", 'trap "" TERM; sleep 30 & wait'])
    assert wait_for(lambda: len(process.group_members(shell.pid)) == 2)
    process.write_pidfile(agent_env["OCF_RESKEY_pid"], shell.pid)
    signal_all = process._signal_all
    monkeypatch.setattr(process, "_signal_all",
                        lambda pids, signum: None if signum == signal.SIGKILL else signal_all(pids, signum))
    agent_env["OCF_RESKEY_CRM_meta_timeout"] = "5000"   # 4.5 s after the margin: a 2.7 s grace
    started = time.monotonic()
    rc, _, err = run(glance.SPEC, "stop", agent_env, capsys)
    elapsed = time.monotonic() - started
    assert rc == 1 and "survived SIGKILL" in reason(err)
    assert 2.7 <= elapsed < 5.0, f"stop took {elapsed:.1f}s of its 5 s"


@needs_proc
def test_stop_finds_the_daemon_whatever_binary_says_now(monitored, capsys):
    proc, env = monitored
    env["OCF_RESKEY_binary"] = "/usr/bin/glance-api"
    assert run(glance.SPEC, "monitor", env, capsys)[0] == 7  # not ours for monitor...
    assert run(glance.SPEC, "stop", env, capsys)[0] == 0     # ...but stop still cleans up
    assert proc.wait(5) == -signal.SIGTERM


@needs_proc
def test_depth10_missing_credentials(monitored, capsys):
    _, env = monitored
    env["OCF_CHECK_LEVEL"] = "10"
    rc, _, err = run(glance.SPEC, "monitor", env, capsys)
    assert rc == 6 and "os_username" in reason(err) and "os_password" in reason(err)


@needs_proc
def test_depth10_is_skipped_on_a_probe(monitored, capsys):
    _, env = monitored
    calls = []
    spec = glance.SPEC._replace(depth10=lambda *a: calls.append(a))
    env = depth10_env(env)
    env["OCF_RESKEY_CRM_meta_interval"] = "0"
    assert run(spec, "monitor", env, capsys)[0] == 0 and calls == []


@needs_proc
def test_depth10_gets_the_configured_credentials(monitored, capsys):
    _, env = monitored
    calls = []

    def depth10(check):
        calls.append(check)
        return HealthResult(True, "fine")

    env = depth10_env(env)
    env.update(OCF_RESKEY_os_tenant_name="legacy", OCF_RESKEY_os_project_name="",
               OCF_RESKEY_http_timeout="4", OCF_RESKEY_os_region_name="RegionOne",
               OCF_RESKEY_CRM_meta_timeout="20000")
    spec = glance.SPEC._replace(depth10=depth10)
    assert run(spec, "monitor", env, capsys)[0] == 0
    check, = calls
    creds = check.creds
    assert (creds.username, creds.password, creds.project_name) == ("monitor", PASSWORD, "legacy")
    assert creds.auth_url == "http://127.0.0.1:5000/v3" and creds.region_name == "RegionOne"
    assert check.timeout == 4 and check.tls.insecure is False
    assert check.tokens.path == os.path.join(env["HA_RSCTMP"], "openstack-unit.token")
    assert check.tokens.max_age == 3600


@needs_proc
def test_degraded_depth10_is_190_with_a_warning(monitored, capsys, caplog):
    _, env = monitored
    spec = glance.SPEC._replace(depth10=lambda *a: HealthResult(True, "Keystone is unavailable", degraded=True))
    caplog.set_level(logging.DEBUG)
    rc, _, err = run(spec, "monitor", depth10_env(env), capsys)
    assert rc == 190 and "Keystone is unavailable" in reason(err)
    assert any(r.levelno == logging.WARNING and "Keystone is unavailable" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


@needs_proc
def test_password_hidden_when_depth10_raises(monitored, capsys, caplog):
    _, env = monitored

    def depth10(check):
        raise RuntimeError("login refused for " + check.values["os_password"])

    caplog.set_level(logging.DEBUG)
    rc, _, err = run(glance.SPEC._replace(depth10=depth10), "monitor", depth10_env(env), capsys)
    assert rc == 1
    assert "internal error in monitor: RuntimeError: login refused for " + REDACTED in reason(err)
    assert "Traceback" in caplog.text  # the debug log got the traceback, redacted
    assert PASSWORD not in err and PASSWORD not in caplog.text


@needs_proc
def test_password_hidden_in_a_failed_depth10_detail(monitored, capsys, caplog):
    _, env = monitored
    spec = glance.SPEC._replace(depth10=lambda c: HealthResult(False, "bad " + c.creds.password))
    caplog.set_level(logging.DEBUG)
    rc, _, err = run(spec, "monitor", depth10_env(env), capsys)
    assert rc == 1 and "depth-10 check: bad " + REDACTED in reason(err)
    assert PASSWORD not in err and PASSWORD not in caplog.text


# ---------------------------------------------------------------- start / stop with a real daemon

@pytest.fixture
def fake_service(installed, tmp_path):
    """glance's spec, but the daemon is `python3 -m http.server` run as nobody."""
    port = free_port()
    for directory in (tmp_path, *tmp_path.parents):  # nobody must reach the config (pytest makes 0700 dirs)
        if str(directory) in ("/", "/tmp"):
            break
        directory.chmod(directory.stat().st_mode | 0o011)
    spec = glance.SPEC._replace(command=lambda v: [
        v["binary"], "-m", "http.server", "--bind", "127.0.0.1", str(port)])
    installed.update(OCF_RESKEY_binary="/usr/bin/python3", OCF_RESKEY_user="nobody", OCF_RESKEY_group=nobody_group(),
                     OCF_RESKEY_url=f"http://127.0.0.1:{port}", OCF_RESKEY_health_path="/",
                     OCF_RESKEY_CRM_meta_timeout="10000", OCF_RESKEY_CRM_meta_interval="10000",
                     OCF_RESKEY_os_password=PASSWORD)
    yield spec, installed
    pid = process.read_pidfile(installed["OCF_RESKEY_pid"])
    if pid and process.proc_info(pid) and process.proc_info(pid).pgid == pid:
        os.killpg(pid, signal.SIGKILL)


@needs_proc
def test_start_refuses_a_port_another_process_serves(installed, http_server, capsys):
    installed["OCF_RESKEY_url"] = http_server.url  # this test process listens there
    rc, _, err = run(glance.SPEC, "start", installed, capsys)
    assert rc == 1 and f"port {http_server.port} is already in use by pid {os.getpid()}" in reason(err)
    assert not os.path.exists(installed["OCF_RESKEY_pid"])


@needs_root
@needs_proc
def test_start_monitor_stop_cycle(fake_service, capsys, caplog):
    spec, env = fake_service
    caplog.set_level(logging.DEBUG)
    rc, _, err = run(spec, "start", env, capsys)
    assert rc == 0, err
    pid = process.read_pidfile(env["OCF_RESKEY_pid"])
    info = process.proc_info(pid)
    assert info.argv[:3] == ["/usr/bin/python3", "-m", "http.server"] and info.pgid == pid
    assert os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam("nobody").pw_uid
    environ = open(f"/proc/{pid}/environ", "rb").read()
    assert PASSWORD.encode() not in environ and b"OCF_RESKEY" not in environ
    assert run(spec, "start", env, capsys)[0] == 0  # already running: success at once
    assert process.read_pidfile(env["OCF_RESKEY_pid"]) == pid
    assert run(spec, "monitor", env, capsys)[0] == 0
    assert run(spec, "stop", env, capsys)[0] == 0
    assert not process.alive(process.proc_info(pid)) and not os.path.exists(env["OCF_RESKEY_pid"])
    assert run(spec, "monitor", env, capsys)[0] == 7
    assert run(spec, "stop", env, capsys)[0] == 0
    assert PASSWORD not in caplog.text


@needs_root
@needs_proc
def test_start_fails_with_the_log_tail_when_the_daemon_exits(fake_service, capsys):
    spec, env = fake_service
    spec = spec._replace(command=lambda v: [
        v["binary"], "-c", "import sys; print('config is broken: line 3'); sys.exit(3)"])
    rc, _, err = run(spec, "start", env, capsys)
    assert rc == 1
    assert "exited with code 3" in reason(err) and "config is broken: line 3" in reason(err)


@needs_root
@needs_proc
def test_start_fails_within_the_budget_when_never_healthy(fake_service, capsys):
    spec, env = fake_service
    spec = spec._replace(command=lambda v: [v["binary"], "-c", "import time; time.sleep(30)"])
    env["OCF_RESKEY_CRM_meta_timeout"] = "1500"
    started = time.monotonic()
    rc, _, err = run(spec, "start", env, capsys)
    assert rc == 1 and "did not become healthy" in reason(err)
    assert time.monotonic() - started < 1.5
    env["OCF_RESKEY_CRM_meta_timeout"] = "5000"
    pid = process.read_pidfile(env["OCF_RESKEY_pid"])
    assert run(spec, "stop", env, capsys)[0] == 0
    assert not process.alive(process.proc_info(pid))


CHECK_IMPORTS = """
import sys
from ocf_openstack.engine import agent
from ocf_openstack.services import glance
rc = agent.main(glance.SPEC, ["glance-api", "monitor"])
heavy = ("keystoneauth1", "glanceclient", "keystoneclient", "requests", "osprofiler", "eventlet")
print(rc, sorted(m for m in heavy if m in sys.modules))
"""


@needs_proc
def test_depth0_monitor_imports_no_openstack_client(monitored):
    """Design 6: the clients cost ~1 s of CPU; only the depth-10 path may load them."""
    _, env = monitored
    env = {**env, "PYTHONPATH": str(PACKAGE_ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    run_ = subprocess.run(["/usr/bin/python3", "-c", CHECK_IMPORTS], env=env, capture_output=True,
                          text=True, timeout=20, cwd="/")
    assert run_.stdout.strip() == "0 []", run_.stderr
