"""Keystone and its key repositories, against the real service: a missing or empty fernet
repository refuses the start (5, with the path) instead of a Keystone that rejects every
token; a running Keystone's monitor reports the keys-watch verdict (190) and a probe does
not. The host's own repositories are never touched: a copy of keystone.conf points at
others."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent_harness import AGENT_DIR, RSCTMP, Agent

CONF = Path("/etc/keystone/keystone.conf")
VERDICT = Path(RSCTMP) / "openstack-keys.verdict"


@pytest.fixture
def keys_conf(tmp_path):
    """A keystone.conf copy whose fernet repository is tmp_path/fernet-keys (absent at first)."""
    repo = tmp_path / "fernet-keys"
    copy = Path("/etc/keystone/keystone-it-keys.conf")
    text = CONF.read_text()
    text += f"\n[fernet_tokens]\nkey_repository = {repo}/\n"
    copy.write_text(text)
    st = CONF.stat()
    os.chown(copy, st.st_uid, st.st_gid)
    os.chmod(copy, stat.S_IMODE(st.st_mode))
    os.chmod(tmp_path, 0o755)
    yield copy, repo
    copy.unlink()


def test_start_refuses_a_missing_or_empty_fernet_repository(keystone: Agent, keys_conf):
    copy, repo = keys_conf
    res = keystone.run("start", OCF_RESKEY_config=str(copy))
    assert res.rc == 5, res
    assert f"{repo}/ is missing" in res.reason and "rsync -a" in res.reason, res.reason
    assert keystone.run("monitor", OCF_RESKEY_config=str(copy)).rc == 7, "nothing may have started"
    repo.mkdir(mode=0o700)
    shutil.chown(repo, "keystone", "keystone")
    res = keystone.run("start", OCF_RESKEY_config=str(copy))
    assert res.rc == 5 and f"{repo}/ is empty" in res.reason, res
    res = keystone.run("validate-all", OCF_RESKEY_config=str(copy))
    assert res.rc == 5 and str(repo) in res.reason, res


def test_monitor_reports_the_keys_watch_verdict_probe_does_not(running_keystone: Agent):
    reason = "node2 lacks the primary fernet key 12345678 of node1: sync the keys from node1: rsync -a ..."
    fd = os.open(VERDICT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"190 {reason}\n")
    try:
        res = running_keystone.run("monitor")
        assert res.rc == 190 and res.reason == reason, res
        assert running_keystone.run("monitor", probe=True).rc == 0
        VERDICT.write_text("0\n")
        assert running_keystone.run("monitor").rc == 0
    finally:
        VERDICT.unlink(missing_ok=True)


def test_ocf_tester_passes_keys_watch():
    """Outside a cluster cibadmin and attrd_updater fail: the watcher still starts, monitors
    (nothing to compare) and stops cleanly."""
    path = str(AGENT_DIR / "keys-watch")
    proc = subprocess.run(["ocf-tester", "-n", "it-keys-watch", path], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"{path} passed all tests" in output
