"""Hostile conditions with the real services: someone else's daemon, stale pidfiles,
a broken database, an unwritable image store, concurrent calls, planted symlinks."""

import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from agent_harness import RSCTMP, Agent, wait_for


@pytest.fixture
def debian_keystone(keystone):
    """Keystone started by Debian's own init script, outside any cluster."""
    assert keystone.run("stop").rc == 0
    default = Path("/etc/default/keystone")
    saved = default.read_text() if default.exists() else None
    # the init script sources this after computing its arguments: loopback, few workers
    default.write_text('DAEMON_ARGS="--http-socket 127.0.0.1:5000 --ini /etc/keystone/keystone-uwsgi.ini '
                       '--processes 2 --add-header Connection:close"\n')
    subprocess.run(["/etc/init.d/keystone", "start"], check=True, capture_output=True)
    try:
        wait_for(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:5000/healthcheck"]).returncode == 0,
                 60, "Debian's keystone to answer")
        yield int(Path("/run/keystone/keystone.pid").read_text())
    finally:
        subprocess.run(["/etc/init.d/keystone", "stop"], capture_output=True)
        if saved is None:
            default.unlink()
        else:
            default.write_text(saved)


def test_service_started_by_its_init_script_is_named_not_adopted(keystone, debian_keystone):
    outside = debian_keystone
    validate = keystone.run("validate-all")
    assert validate.rc == 2
    assert f"pid {outside}" in validate.reason and "outside the cluster" in validate.reason
    probe = keystone.run("monitor", probe=True)
    assert probe.rc == 7, "the probe must not adopt a daemon it did not start"
    assert "outside the cluster" in probe.reason
    start = keystone.run("start")
    assert start.rc == 1 and "already in use" in start.reason
    assert keystone.run("stop").rc == 0
    assert os.path.exists(f"/proc/{outside}"), "stop must leave someone else's daemon alone"


def test_stale_pidfile_of_a_reused_pid_is_not_ours(keystone):
    assert keystone.run("stop").rc == 0
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        Path(keystone.pidfile).write_text(f"{stranger.pid}\n")
        an_hour_ago = time.time() - 3600  # the pidfile predates the process: the PID was reused
        os.utime(keystone.pidfile, (an_hour_ago, an_hour_ago))
        assert keystone.run("monitor").rc == 7
        assert keystone.run("stop").rc == 0
        assert stranger.poll() is None, "stop killed an unrelated process"
        assert not os.path.exists(keystone.pidfile)
    finally:
        stranger.kill()
        stranger.wait()


def test_keystone_without_its_database_passes_depth_0_fails_depth_10(keystone, tmp_path):
    assert keystone.run("stop").rc == 0
    conf = Path("/etc/keystone/rao-test-nodb.conf")
    text = Path("/etc/keystone/keystone.conf").read_text()
    # the same MariaDB server and user, a database that does not exist
    text, n = re.subn(r"^(connection\s*=\s*mysql\+pymysql://\S+/)keystone\b", r"\1rao_test_missing", text, flags=re.M)
    assert n == 1, "keystone.conf has no MariaDB connection (run tests/setup/openstack-setup.sh)"
    conf.write_text(text)
    conf.chmod(0o640)
    shutil.chown(conf, "root", "keystone")
    broken = Agent("keystone", "it-keystone-nodb", dict(keystone.params, config=str(conf)))
    try:
        assert broken.run("start").rc == 0, "keystone's /healthcheck does not look at the database"
        assert broken.run("monitor").rc == 0
        deep = broken.run("monitor", depth=10)
        assert deep.rc == 1
        assert "Keystone v3 token" in deep.reason
    finally:
        broken.run("stop")
        conf.unlink()


def test_glance_lists_images_with_an_unwritable_store(running_glance):
    # Listing reads the database only: depth 10 proves the API and auth work, not the store.
    store = Path("/var/lib/glance/images")
    mode = store.stat().st_mode
    store.chmod(0)
    try:
        assert running_glance.run("monitor", depth=10).rc == 0
    finally:
        store.chmod(stat.S_IMODE(mode))


def test_monitors_during_a_stop_and_side_by_side(running_keystone):
    agent = running_keystone
    pair = [agent.popen("monitor") for _ in range(2)]
    assert [p.wait(30) for p in pair] == [0, 0]
    stopper = agent.popen("stop")
    codes = []
    while stopper.poll() is None:
        proc = agent.popen("monitor", timeout_ms=5000)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err
        codes.append(proc.returncode)
    assert stopper.wait() == 0
    assert set(codes) <= {0, 1, 7}, codes
    assert agent.run("monitor").rc == 7
    assert not os.path.exists(agent.pidfile)


def test_pidfile_is_root_only_and_replaces_a_planted_symlink(keystone, tmp_path):
    assert keystone.run("stop").rc == 0
    rsctmp = os.stat(RSCTMP)
    assert rsctmp.st_uid == 0 and not rsctmp.st_mode & 0o022, "only root may create files in HA_RSCTMP"
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, keystone.pidfile)
    try:
        assert keystone.run("start").rc == 0
        assert victim.read_text() == "precious\n", "the pidfile was written through a symlink"
        info = os.lstat(keystone.pidfile)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    finally:
        assert keystone.run("stop").rc == 0


@pytest.fixture
def full_log_dir(tmp_path):
    """A tiny filesystem, filled up: the service log can be opened but not written."""
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={mount}/filler", "bs=4k", "count=100"],
                       capture_output=True)  # fails with ENOSPC once full: that is the point
        shutil.chown(mount, "glance", "glance")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_log_directory_start_works_or_says_why(glance, keystone, full_log_dir):
    assert keystone.run("start").rc == 0
    agent = Agent("glance-api", "it-glance-fulllog", dict(glance.params, log_file=str(full_log_dir / "glance.log")))
    try:
        result = agent.run("start", timeout_ms=30000)
        assert result.rc in (0, 1)
        assert result.seconds < 30
        if result.rc == 0:
            assert agent.run("monitor").rc == 0
        else:
            assert result.reason
    finally:
        assert agent.run("stop").rc == 0
    assert agent.run("monitor").rc == 7
