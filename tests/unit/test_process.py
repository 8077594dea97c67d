import grp
import os
import pwd
import signal
import time

import pytest
from ocf_openstack.host import process
from ocf_openstack.host.process import ProcInfo
from unit_support import current_account, needs_proc, needs_root, wait_for

pytestmark = needs_proc
SLEEP = "/usr/bin/sleep"


def test_find_recognises_leader_and_members(children, tmp_path):
    proc = children.start(["sh", "-c", "sleep 30 & exec sleep 31"])
    wait_for(lambda: len(process.group_members(proc.pid)) == 2
             and process.proc_info(proc.pid).argv[:1] == ["sleep"])
    pidfile = str(tmp_path / "d.pid")
    process.write_pidfile(pidfile, proc.pid)
    found = process.find(pidfile, SLEEP)
    assert found.leader == proc.pid and found.running
    assert len(found.members) == 2 and proc.pid in found.members


def test_find_daemon_fixture(daemon):
    proc, pidfile = daemon
    assert process.find(pidfile, SLEEP) == process.Found(proc.pid, [proc.pid])


def test_other_binary_is_not_ours(daemon):
    proc, pidfile = daemon
    assert process.find(pidfile, "/usr/bin/glance-api") == process.Found(None, ())


def test_pid_of_a_process_started_after_the_pidfile_is_not_ours(daemon):
    proc, pidfile = daemon
    past = time.time() - 3600
    os.utime(pidfile, (past, past))  # the pidfile predates the process: PID reuse
    assert process.find(pidfile, SLEEP) == process.Found(None, ())


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"-5\n", b"12abc\n", b"\xff\xfe\n"])
def test_garbage_pidfile_is_nothing(tmp_path, content):
    pidfile = tmp_path / "d.pid"
    pidfile.write_bytes(content)
    assert process.read_pidfile(str(pidfile)) is None
    assert process.find(str(pidfile), SLEEP) == process.Found(None, ())


def test_missing_pidfile_is_nothing(tmp_path):
    assert process.find(str(tmp_path / "none.pid"), SLEEP) == process.Found(None, ())


@pytest.mark.parametrize("content, binary", [("0", SLEEP), ("0", None), ("1", None)])
def test_pidfile_naming_pid_0_or_1_is_nothing(tmp_path, content, binary):
    pidfile = tmp_path / "d.pid"
    pidfile.write_text(content + "\n")
    # read-only: never call terminate() or stop on this
    assert process.find(str(pidfile), binary) == process.Found(None, ())


def test_dead_pid_with_no_group_is_nothing(children, tmp_path):
    proc = children.start(["true"])
    proc.wait(5)
    pidfile = str(tmp_path / "d.pid")
    process.write_pidfile(pidfile, proc.pid)
    assert process.find(pidfile, "/usr/bin/true") == process.Found(None, [])


def test_orphaned_group_members(children, tmp_path):
    shell = children.start(["sh", "-c", "sleep 30 & wait"])
    assert wait_for(lambda: len(process.group_members(shell.pid)) == 2)
    pidfile = str(tmp_path / "d.pid")
    process.write_pidfile(pidfile, shell.pid)
    orphan = [p for p in process.group_members(shell.pid) if p != shell.pid]
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait(5)
    found = process.find(pidfile, "/usr/bin/sh")
    assert found.leader is None and found.running
    assert list(found.members) == orphan
    assert process.terminate(shell.pid, None, 1.0, 1.0) == []
    assert process.find(pidfile, "/usr/bin/sh") == process.Found(None, [])


def test_terminate_with_sigterm(children):
    proc = children.start(["sleep", "30"])
    started = time.monotonic()
    assert process.terminate(proc.pid, proc.pid, 2.0, 2.0) == []
    assert time.monotonic() - started < 1.0
    assert proc.wait(5) == -signal.SIGTERM


def test_terminate_a_stopped_process_without_waiting_out_the_grace(children):
    proc = children.start(["sleep", "30"])
    os.kill(proc.pid, signal.SIGSTOP)
    assert wait_for(lambda: process.proc_info(proc.pid).state == "T")
    started = time.monotonic()
    assert process.terminate(proc.pid, proc.pid, 3.0, 2.0) == []
    assert time.monotonic() - started < 1.0
    assert proc.wait(5) == -signal.SIGTERM


def test_terminate_escalates_to_sigkill(children):
    proc = children.start(["sh", "-c", 'trap "" TERM; sleep 30'])
    assert wait_for(lambda: len(process.group_members(proc.pid)) == 2)  # trap is set
    grace, kill_wait = 0.3, 2.0
    started = time.monotonic()
    assert process.terminate(proc.pid, proc.pid, grace, kill_wait) == []
    elapsed = time.monotonic() - started
    assert grace <= elapsed < grace + kill_wait
    assert proc.wait(5) == -signal.SIGKILL
    assert process.group_members(proc.pid) == []


def test_write_pidfile(tmp_path):
    path = tmp_path / "sub" / "d.pid"
    process.write_pidfile(str(path), 4242)
    assert path.read_text() == "4242\n"
    assert process.read_pidfile(str(path)) == 4242
    assert os.listdir(path.parent) == ["d.pid"]  # no temp file left behind
    process.write_pidfile(str(path), 4343)
    assert process.read_pidfile(str(path)) == 4343


def test_write_pidfile_replaces_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "d.pid"
    os.symlink(victim, path)
    process.write_pidfile(str(path), 4242)
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text() == "4242\n"


def info(*argv):
    return ProcInfo(pid=1234, state="S", pgid=1234, started=0.0, argv=list(argv))


def test_runs_binary_uwsgi():
    uwsgi = info("/usr/bin/uwsgi_python311", "--http-socket", ":5000", "--ini", "/etc/keystone/keystone-uwsgi.ini")
    assert process.runs_binary(uwsgi, "/usr/bin/uwsgi_python311")
    assert not process.runs_binary(uwsgi, "/usr/bin/uwsgi_python3")
    assert not process.runs_binary(uwsgi, "/usr/bin/uwsgi_python3111")


def test_runs_binary_interpreter_script():
    glance = info("/usr/bin/python3", "/usr/bin/glance-api", "--config-file=/etc/glance/glance-api.conf")
    assert process.runs_binary(glance, "/usr/bin/glance-api")
    assert process.runs_binary(info("/usr/bin/glance-api", "--config-file=x"), "/usr/bin/glance-api")
    assert not process.runs_binary(info("/usr/bin/python3", "-m", "glance-api"), "/usr/bin/glance-api")
    assert not process.runs_binary(info("/usr/bin/python3", "/usr/bin/keystone-manage"), "/usr/bin/glance-api")
    assert not process.runs_binary(info(), "/usr/bin/glance-api")  # kernel thread, zombie


def test_proc_info_of_self_and_of_nothing():
    me = process.proc_info(os.getpid())
    assert me.pid == os.getpid() and me.pgid == os.getpgid(0) and process.alive(me)
    assert abs(me.started - time.time()) < 24 * 3600 and me.started <= time.time() + 1
    assert process.proc_info(2 ** 22 + 7) is None  # above pid_max: never a process
    assert not process.alive(None)


def test_proc_info_parses_a_command_name_with_spaces_and_parens(children, tmp_path):
    weird = tmp_path / "a b) (c"
    os.symlink("/usr/bin/sleep", weird)
    proc = children.start([str(weird), "30"])
    assert wait_for(lambda: process.proc_info(proc.pid).argv[:1] == [str(weird)])
    assert process.proc_info(proc.pid).pgid == proc.pid


@needs_root
def test_spawn_as_service_user(tmp_path):
    log = tmp_path / "svc.log"
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    proc = process.spawn(["sh", "-c", "echo started; exec sleep 30"], "nobody", group, str(log),
                         {"PATH": "/usr/bin:/bin", "MARK": "1"})
    try:
        assert wait_for(lambda: log.exists() and "started" in log.read_text())
        assert os.getsid(proc.pid) == proc.pid  # new session: it leads its own group
        status = open(f"/proc/{proc.pid}/status").read()
        assert f"Uid:\t{nobody.pw_uid}\t{nobody.pw_uid}" in status
        assert f"Gid:\t{nobody.pw_gid}\t{nobody.pw_gid}" in status
        groups = next(line for line in status.splitlines() if line.startswith("Groups:"))
        assert groups.split(":", 1)[1].split() == []  # no supplementary groups (root's are dropped)
        assert os.readlink(f"/proc/{proc.pid}/cwd") == "/"  # nobody's home does not exist
        environ = open(f"/proc/{proc.pid}/environ", "rb").read().split(b"\0")
        # exactly what we passed (sh adds PWD itself)
        assert sorted(e for e in environ if e and not e.startswith(b"PWD=")) == [b"MARK=1", b"PATH=/usr/bin:/bin"]
        assert os.stat(log).st_uid == nobody.pw_uid
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def test_user_ids():
    me = current_account()
    assert process.user_ids(me.pw_name, "") == (me.pw_uid, me.pw_gid, me.pw_dir)
    with pytest.raises(KeyError):
        process.user_ids("no-such-user-xyz", "")
    with pytest.raises(KeyError):
        process.user_ids(me.pw_name, "no-such-group-xyz")
