"""The monitoring password never reaches argv, logs, exit reasons or the daemon; the
database passwords (in the services' config files) never reach argv, logs or outputs."""

import os
import threading
from pathlib import Path

import grp

from agent_harness import ADMIN_PASSWORD, DB_PASSWORDS, Agent

SERVICE_LOGS = ("/var/log/keystone/keystone.log", "/var/log/glance/glance-api.log")


class ArgvWatcher(threading.Thread):
    """Samples every process's command line while the agents run."""

    def __init__(self, *needles: str) -> None:
        super().__init__(daemon=True)
        self.needles = [n.encode() for n in needles]
        self.seen = []
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if any(n in cmdline for n in self.needles):
                        self.seen.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
            self.samples += 1
            self.stop.wait(0.005)


def _log_sizes():
    return {p: os.path.getsize(p) if os.path.exists(p) else 0 for p in SERVICE_LOGS}


def _new_log_text(before) -> str:
    text = ""
    for path, size in before.items():
        if os.path.exists(path):
            with open(path, "rb") as f:
                f.seek(size)
                text += f.read().decode(errors="replace")
    return text


def test_password_stays_out_of_argv_logs_reasons_and_daemon(keystone: Agent, glance: Agent, tmp_path):
    ha_log = tmp_path / "ha.log"
    logging_env = {"HA_LOGFILE": str(ha_log), "HA_debug": "1"}
    sizes = _log_sizes()
    assert set(DB_PASSWORDS) == {"KEYSTONE_DB_PASSWORD", "GLANCE_DB_PASSWORD"}, "run tests/setup/openstack-setup.sh"
    secrets = [ADMIN_PASSWORD, *DB_PASSWORDS.values()]
    watcher = ArgvWatcher(*secrets)
    watcher.start()
    outputs = []
    try:
        for agent in (keystone, glance):
            outputs.append(agent.run("validate-all", **logging_env))
            outputs.append(agent.run("start", **logging_env))
            outputs.append(agent.run("monitor", depth=10, **logging_env))
            # a failing depth-10 call: its reason must not echo the (wrong) password either
            outputs.append(agent.run("monitor", depth=10, OCF_RESKEY_os_password="Wr0ng-" + ADMIN_PASSWORD,
                                     **logging_env))
            leader = agent.leader()
            environ = Path(f"/proc/{leader}/environ").read_bytes()
            assert ADMIN_PASSWORD.encode() not in environ, f"{agent.name}'s daemon inherited the password"
            assert b"OCF_RESKEY" not in environ, f"{agent.name}'s daemon inherited Pacemaker's environment"
        for agent in (glance, keystone):
            outputs.append(agent.run("reload", **logging_env))
            outputs.append(agent.run("monitor", **logging_env))
            outputs.append(agent.run("stop", **logging_env))
            outputs.append(agent.run("meta-data", **logging_env))
    finally:
        watcher.stop.set()
        watcher.join()
    assert watcher.samples > 10
    assert watcher.seen == []
    assert [o.rc for o in outputs] == [0, 0, 0, 1, 0, 0, 0, 1] + [0, 0, 0, 0] * 2
    assert "credentials were rejected" in outputs[3].reason
    new_logs = _new_log_text(sizes)
    assert ha_log.stat().st_size > 0, "HA_LOGFILE got no log lines: the check below would prove nothing"
    for secret in secrets:
        for out in outputs:
            assert secret not in out.stdout + out.stderr
        assert secret not in ha_log.read_text()
        assert secret not in new_logs


def test_database_passwords_only_in_root_service_files():
    """The config files that hold a database password are root:<service> 0640."""
    for path, service, key in (("/etc/keystone/keystone.conf", "keystone", "KEYSTONE_DB_PASSWORD"),
                               ("/etc/glance/glance-api.conf", "glance", "GLANCE_DB_PASSWORD")):
        st = os.stat(path)
        assert DB_PASSWORDS[key] in Path(path).read_text(), f"{path} does not hold the database password"
        assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o777) == (0, service, 0o640), path
