"""Harness of the integration tests: the real agents against real Keystone and Glance.

Needs root, Debian's keystone and glance-api configured by
tests/setup/openstack-setup.sh, and resource-agents. Each agent call is a real
process with a clean environment, as Pacemaker's executor would run it.
"""

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = Path(os.environ.get("RAO_AGENT_DIR", ROOT / "agents"))
SETUP_ENV = ROOT / "tests" / "setup" / "openstack.env"
RSCTMP = "/run/resource-agents"
PORTS = {"keystone": 5000, "glance-api": 9292}   # where the services listen here


def _read_env_file(path: Path) -> Dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


SETTINGS = _read_env_file(SETUP_ENV)
ADMIN_PASSWORD = SETTINGS["OS_ADMIN_PASSWORD"]
# the generated MariaDB passwords (tests/setup/mariadb-setup.sh; root-only file)
DB_PASSWORDS = {key: value for key, value in _read_env_file(Path(SETTINGS["DB_SECRETS"])).items()
                if key.endswith("_DB_PASSWORD")} if os.access(SETTINGS["DB_SECRETS"], os.R_OK) else {}

CREDENTIALS = {"os_username": "admin", "os_password": ADMIN_PASSWORD, "os_project_name": "admin",
               "os_region_name": SETTINGS["OS_REGION"]}
PARAMS = {
    # Debian's ini sizing (32 threads a process) with 2 processes: 8 are too heavy for 2 cores.
    "keystone": {"bind": "127.0.0.1:5000", "additional_parameters": "--processes 2",
                 **CREDENTIALS},
    "glance-api": dict(CREDENTIALS),
}


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def reason(self) -> str:
        lines = [l for l in self.stderr.splitlines() if l.startswith("ocf-exit-reason:")]
        return lines[-1][len("ocf-exit-reason:"):] if lines else ""


class Agent:
    """One resource of one agent, called like Pacemaker's executor calls it."""

    def __init__(self, name: str, instance: str, params: Dict[str, str]) -> None:
        self.name = name
        self.path = str(AGENT_DIR / name)
        self.instance = instance
        self.params = dict(params)

    @property
    def pidfile(self) -> str:
        return self.params.get("pid") or f"{RSCTMP}/openstack-{self.instance}.pid"

    def env(self, action_timeout_ms: int = 0, **extra: str) -> Dict[str, str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "OCF_ROOT": "/usr/lib/ocf",
               "OCF_RESOURCE_INSTANCE": self.instance, "HA_RSCTMP": RSCTMP,
               "OCF_RESKEY_CRM_meta_interval": "10000"}
        if action_timeout_ms:
            env["OCF_RESKEY_CRM_meta_timeout"] = str(action_timeout_ms)
        env.update({f"OCF_RESKEY_{k}": v for k, v in self.params.items()})
        env.update(extra)
        return env

    def popen(self, action: str, **kw) -> subprocess.Popen:
        env = self.env(kw.pop("timeout_ms", 0), **kw.pop("extra", {}))
        return subprocess.Popen([self.path, action], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, action: str, timeout_ms: int = 0, depth: int = 0, probe: bool = False,
            **extra: str) -> Result:
        if depth:
            extra["OCF_CHECK_LEVEL"] = str(depth)
        if probe:
            extra["OCF_RESKEY_CRM_meta_interval"] = "0"
        started = time.monotonic()
        proc = self.popen(action, timeout_ms=timeout_ms, extra=extra)
        out, err = proc.communicate(timeout=(timeout_ms / 1000 if timeout_ms else 120) + 30)
        result = Result(proc.returncode, out, err, time.monotonic() - started)
        assert "Traceback" not in err, f"{self.name} {action} printed a traceback:\n{err}"
        return result

    def leader(self) -> int:
        return int(Path(self.pidfile).read_text().split()[0])


def listening(port: int) -> bool:
    """Whether something accepts on 127.0.0.1:``port`` (a SIGSTOPped listener does: the kernel
    completes the handshake), independent of the agents' code."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    except OSError:        # no answer at all: a listener whose backlog is full
        return True
    return True


def watch_state(agent: Agent) -> dict:
    """The failure watcher's state file of ``agent`` ({} when there is none)."""
    path = Path(RSCTMP) / f"openstack-{agent.instance}.watch"
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def watcher_pid(agent: Agent) -> int:
    """The live failure watcher the state file of ``agent`` names, else 0."""
    pid = int(watch_state(agent).get("watcher_pid") or 0)
    return pid if pid and alive(pid) else 0


def group_of(pgid: int) -> List[int]:
    """Live (non-zombie) members of a process group: ps, independent of the agents' code."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [int(pid) for pid, stat in (line.split() for line in out.splitlines()) if not stat.startswith("Z")]


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")
