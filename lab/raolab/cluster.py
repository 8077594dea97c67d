"""Drive pcmk-cluster.sh (the project's one cluster harness) from Python.

Two ways to hold a cluster:
  - a *session* (tests, the benchmark): the harness runs as a child process that brings
    the nodes up, prints READY and waits on its stdin. When this process closes the pipe
    (normally in close(), but also when it dies for any reason), the session tears the
    cluster down: a watchdog. So does a session that hears nothing for SESSION_MAX (900 s):
    every command run on a node says "still here" (``keepalive``, at most once a minute),
    so a lab in use lives as long as it is used, and one whose holder hangs goes away.
  - *detached* (the rao-lab CLI): `up` leaves the nodes running after the command exits;
    `teardown` removes them.
Commands on a node enter its namespaces with nsenter, with the clean environment the
cluster itself has. Only PIDs verified to be this cluster's node init are signalled.
"""

import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

# the XML and process readers live in cib.py and nodeproc.py; the live cluster tests
# (tests/cluster, tests/trixie) import them from here
from .cib import (fail_counts, failures, in_flight, online_nodes, operation_history,  # noqa: F401
                  resource_instances, resource_states)
from .nodeproc import (grep_lines, log_time, main_processes, node_processes, start_time,  # noqa: F401
                       still_alive)
from .power import LAB_CALLER

LAB_DIR = Path(__file__).resolve().parents[1]
HARNESS = LAB_DIR / "pcmk-cluster.sh"
FENCE_AGENT = LAB_DIR / "fence_raolab"   # also the lab's own hand on the power switch
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
KEEPALIVE_EVERY = 60.0     # seconds; the session's watchdog waits SESSION_MAX (900 s) for a line
_T0 = [time.monotonic()]


def clean_env(**extra: str) -> Dict[str, str]:
    """What a systemd-started cluster has: no pyenv PATH, no PYTHON* variables."""
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    env.update(extra)
    return env


def reset_clock() -> None:
    _T0[0] = time.monotonic()


def log(msg: str, who: str = "test") -> None:
    print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - _T0[0]:6.1f}s {who}] {msg}", flush=True)


class ClusterError(AssertionError):
    pass


class Cluster:
    def __init__(self, pfx: str, net: str, nodes: int, base: Optional[str] = None,
                 token_ms: int = 3000, node_private: str = "", vip: Optional[str] = None,
                 db: bool = False, node_sysctl: str = "", power: bool = False, galera: bool = False,
                 echo: Callable[[str], None] = lambda line: print(f"    {line}", flush=True)) -> None:
        # galera: the database namespaces are bare (the frontend's db, db1..db3): galera_lab.py fills them
        self.pfx, self.net, self.nodes, self.db, self.galera = pfx, net, nodes, db or galera, galera
        self.vip = vip or f"{net}.100"
        self.db_addr = f"{net}.250"
        self.env = clean_env(PFX=pfx, NET=net, NODES=str(nodes), VIP=self.vip, TOKEN_MS=str(token_ms),
                             NODE_PRIVATE=node_private,
                             DB="galera" if galera else "1" if db else "0",
                             NODE_SYSCTL=node_sysctl, POWER="1" if power else "0")
        self.power = power
        if base:
            self.env["BASE"] = base
            self.base = Path(base)
        else:   # the harness's default state dir
            info = self._harness("info").stdout
            self.base = Path(dict(line.split("=", 1) for line in info.splitlines() if "=" in line)["BASE"])
        self.echo = echo
        self.session: Optional[subprocess.Popen] = None
        self._ready = threading.Event()
        self._alive_lock = threading.Lock()
        self._alive_said = 0.0
        self._reader: Optional[threading.Thread] = None

    # ------------------------------------------------------------ plumbing
    def _harness(self, *args: str, timeout: float = 60, check: bool = True,
                 stream: bool = False) -> subprocess.CompletedProcess:
        argv = ["/bin/bash", str(HARNESS), *args]
        if stream:   # show progress lines as they come (up, revive, teardown)
            proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, stdin=subprocess.DEVNULL)
            out = []
            assert proc.stdout is not None
            for line in proc.stdout:
                out.append(line)
                self.echo(line.rstrip("\n"))
            rc = proc.wait(timeout=timeout)
            result = subprocess.CompletedProcess(argv, rc, "".join(out), "")
        else:
            result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise ClusterError(f"pcmk-cluster.sh {' '.join(args)} exited {result.returncode}\n"
                               f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}")
        return result

    def _read(self) -> None:
        assert self.session is not None and self.session.stdout is not None
        for line in self.session.stdout:
            line = line.rstrip("\n")
            self.echo(line)
            if line.endswith("] READY"):
                self._ready.set()

    # ------------------------------------------------------------ lifecycle
    def start_session(self, timeout: float = 120) -> None:
        """Bring the nodes up under a watchdog session (see the module doc)."""
        self.session = subprocess.Popen(["/bin/bash", str(HARNESS), "session"], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.session.poll() is not None:
                raise ClusterError(f"the harness session exited {self.session.returncode} before READY")
            if time.monotonic() > deadline:
                raise ClusterError(f"the cluster was not up within {timeout:.0f}s")

    def up(self, timeout: float = 150) -> None:
        """Bring the nodes up and leave them running (detached; `teardown` removes them)."""
        self._harness("up", timeout=timeout, stream=True)

    def close(self, keep_state: bool = False) -> None:
        """Stop everything this harness started: always safe, whatever state we are in."""
        if self.session is not None:
            try:
                if self.session.stdin:
                    self.session.stdin.close()
            except OSError:
                pass
            try:
                self.session.wait(timeout=150)
            except subprocess.TimeoutExpired:
                log(f"session {self.session.pid} did not exit, terminating it")
                self.session.terminate()   # our own child, by its PID
                try:
                    self.session.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.session.kill()
                    self.session.wait(timeout=10)
            if self._reader:
                self._reader.join(timeout=5)
            self.session = None
        self.teardown(hard=True, keep_state=keep_state)

    def teardown(self, hard: bool = False, keep_state: bool = False) -> None:
        if keep_state:
            self.env["KEEP_STATE"] = "1"
        self._harness("teardown", *(["--hard"] if hard else []), timeout=200, check=False, stream=True)
        self.env.pop("KEEP_STATE", None)

    # ------------------------------------------------------------ nodes
    def node_dir(self, i: int = 1) -> Path:
        return self.base / f"node{i}"

    def private_dir(self, i: int, path: str) -> Path:
        """Host path of node i's private copy of ``path`` (one of NODE_PRIVATE's directories)."""
        return self.node_dir(i) / ("private" + path.replace("/", "_"))

    def init_pid(self, i: int = 1) -> Optional[int]:
        """Host PID of node i's init, only if it really is our node-init.sh for that node."""
        try:
            pid = int((self.node_dir(i) / "init.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            return None
        return pid if f"node-init.sh {self.node_dir(i)} " in cmdline else None

    def live_nodes(self) -> List[int]:
        return [i for i in range(1, self.nodes + 1) if self.init_pid(i)]

    def node(self, i: int, *cmd: str, timeout: float = 60, check: bool = True,
             input: Optional[str] = None, env_extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
        """Run cmd on node i (all its namespaces, the cluster's clean environment; env_extra
        passes secrets without putting them on a command line)."""
        argv = self.nsenter_argv(i, *cmd)
        proc = subprocess.run(argv, env=clean_env(**(env_extra or {})), capture_output=True, text=True,
                              timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ClusterError(f"node{i}: {' '.join(cmd)} exited {proc.returncode}\n"
                               f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
        return proc

    def keepalive(self) -> None:
        """Tell the session's watchdog this lab is in use (a line on its stdin, at most once a minute)."""
        session = self.session
        now = time.monotonic()
        if session is None or session.stdin is None or now - self._alive_said < KEEPALIVE_EVERY:
            return
        with self._alive_lock:
            if now - self._alive_said < KEEPALIVE_EVERY:
                return
            self._alive_said = now
            try:
                session.stdin.write("\n")
                session.stdin.flush()
            except (OSError, ValueError):
                pass      # the session is gone or closing: close() reports what matters

    def nsenter_argv(self, i: Union[int, str], *cmd: str) -> List[str]:
        """argv running cmd in all of node i's namespaces (i = "db": the database node, or the
        Galera frontend's; "db1".."db3": a Galera node)."""
        self.keepalive()
        pid = self.db_pid(i) if isinstance(i, str) else self.init_pid(i)
        if pid is None:
            raise ClusterError(f"{'the database node' if i == 'db' else i if isinstance(i, str) else f'node{i}'} "
                               "is not running")
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", *cmd]

    # ------------------------------------------------------------ the database node
    def db_pid(self, name: str = "db") -> Optional[int]:
        """Host PID of a database namespace's init (db-init.sh: "db", or "db1".."db3"), if it runs."""
        try:
            pid = int((self.base / name / "init.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            return None
        return pid if f"db-init.sh {self.base / name} " in cmdline else None

    def db_server_pid(self, name: str = "db", program: str = "/usr/sbin/mariadbd") -> Optional[int]:
        """Host PID of ``program`` in the database namespace ``name`` (default: mariadbd on the
        database node), if it runs."""
        pid = self.db_pid(name)
        procs = node_processes(pid, "^" + re.escape(program) + " ") if pid else {}
        return min(procs) if procs else None

    def db_start_server(self, timeout: float = 60) -> float:
        """Start mariadbd on the database node again (after a drill killed it); wait until it
        answers. Returns the seconds it took."""
        t0 = time.monotonic()
        self.db_exec("/bin/bash", str(LAB_DIR / "db-init.sh"), str(self.base / "db"), self.db_addr, "--start-server")
        while self.db_exec("mariadb-admin", "--socket=/run/mysqld/mysqld.sock", "--connect-timeout=2", "ping",
                           check=False, timeout=10).returncode != 0:
            if time.monotonic() - t0 > timeout:
                raise ClusterError(f"mariadbd on the database node did not answer within {timeout:.0f}s")
            time.sleep(0.2)
        return time.monotonic() - t0

    def db_exec(self, *cmd: str, timeout: float = 60, check: bool = True,
                input: Optional[str] = None, on: str = "db") -> subprocess.CompletedProcess:
        """Run cmd on the database node, or the database namespace ``on`` names (SQL with
        secrets goes through input, never argv)."""
        proc = subprocess.run(self.nsenter_argv(on, *cmd), env=clean_env(), capture_output=True, text=True,
                              timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ClusterError(f"{'database node' if on == 'db' else on}: {' '.join(cmd)} exited {proc.returncode}\n"
                               f"stderr: {proc.stderr[-2000:]}")
        return proc

    def client_argv(self, *cmd: str) -> List[str]:
        self.keepalive()
        return ["ip", "netns", "exec", f"{self.pfx}-cl", *cmd]

    def client(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """Run cmd in the client namespace (network only; the host's filesystem)."""
        proc = subprocess.run(self.client_argv(*cmd), env=clean_env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ClusterError(f"client: {' '.join(cmd)} exited {proc.returncode}\n"
                               f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
        return proc

    def stop_node(self, i: int = 1, timeout: float = 120) -> subprocess.CompletedProcess:
        return self._harness("stop", str(i), str(int(timeout)), timeout=timeout + 30, check=False, stream=True)

    def crash(self, i: int, stays_down: bool = False) -> None:
        """Power node i off (through the lab's power switch when it has one: one request at
        a time, so a drill's crash never races a fencer's reboot). stays_down: a dead
        controller, which a fencer's reboot does not boot again (until revive)."""
        if self.power:
            if stays_down:
                self.dead_marker(i).touch()
            self._switch("off", i)
        else:
            self._harness("crash", str(i), stream=True)

    def revive(self, i: int) -> None:
        """Boot node i again; with a power switch, a node a fencer's reboot already booted
        is left alone ("already on")."""
        if self.power:
            self.dead_marker(i).unlink(missing_ok=True)
            self._switch("on", i)
        else:
            self._harness("revive", str(i), stream=True)

    def dead_marker(self, i: int) -> Path:
        """While it exists, the power switch does not boot node i (raolab.power)."""
        return self.base / f"power.node{i}.dead"

    def _switch(self, action: str, i: int) -> None:
        proc = subprocess.run([str(FENCE_AGENT), "-o", action, "-n", f"node{i}", "-s", str(self.base / "power.sock")],
                              env=clean_env(RAOLAB_FENCE_CALLER=LAB_CALLER), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise ClusterError(f"power switch: {action} node{i} failed: {proc.stderr.strip()[-500:]}")
        self.echo(f"power switch: {action} node{i}: done")

    def wait_online(self, timeout: float = 90) -> None:
        self._harness("wait-online", str(int(timeout)), timeout=timeout + 30, stream=True)

    def netns_left(self) -> List[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, env=clean_env()).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(f"{self.pfx}-")]

    # ------------------------------------------------------------ cluster views
    def viewer(self, prefer: Optional[int] = None) -> int:
        """node ``prefer`` if it runs, else the first running node that is not frozen (a
        drill's SIGSTOPped node would hang every command run there)."""
        live = self.live_nodes()
        if not live:
            raise ClusterError("no node is running")
        if prefer in live:
            return prefer
        return next((i for i in live if not self.frozen(i)), live[0])

    def frozen(self, i: int) -> bool:
        """Whether node i's init is stopped (SIGSTOP: a frozen controller)."""
        pid = self.init_pid(i)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text() if pid else ""
        except OSError:
            return False
        return bool(stat) and stat[stat.rindex(")") + 2:].split()[0] == "T"

    def crm_mon(self, i: Optional[int] = None) -> ET.Element:
        return ET.fromstring(self.node(self.viewer(i), "crm_mon", "-1", "--output-as=xml").stdout)

    def crm(self, *args: str, i: Optional[int] = None, timeout: float = 90,
            check: bool = True) -> subprocess.CompletedProcess:
        return self.node(self.viewer(i), "crm", *args, timeout=timeout, check=check)

    def pending_operations(self) -> List[str]:
        """Every operation in flight, as "node: operation key" (see in_flight; crm_mon does
        not show them)."""
        proc = self.node(self.viewer(), "cibadmin", "-Q", "-o", "status", check=False, timeout=20)
        try:
            return in_flight(ET.fromstring(proc.stdout))
        except ET.ParseError:
            return []

    def cleanup(self, resource: Optional[str] = None, quiet_timeout: float = 45) -> None:
        """crm_resource --cleanup (of ``resource``, else of all), once no operation is in
        flight (``quiet_timeout`` s at most). Pacemaker 2.1.5's cleanup drops the resource's
        executor entry and kills its running monitor; when that monitor is the first run the
        transition initiated (just after a start), the transition waits for it until its
        timeout plus cluster-delay and then records it as timed out: a false failure, a
        restart, and no other action in between (tests/cluster/test_live_failure_watch.py
        shows it)."""
        deadline = time.monotonic() + quiet_timeout
        while True:
            try:
                pending = self.pending_operations()
            except ClusterError:
                break
            if not pending:
                break
            if time.monotonic() > deadline:
                log(f"cleanup: still in flight after {quiet_timeout:.0f}s: {', '.join(pending)}; "
                    "cleaning up anyway", "cluster")
                break
            time.sleep(0.3)
        which = ["--resource", resource] if resource else []
        self.node(self.viewer(), "crm_resource", "--cleanup", *which, timeout=60, check=False)

    def wait_idle(self, timeout: float = 120, what: str = "the cluster") -> None:
        """Wait until the scheduler, run on the CIB as it is now, has nothing left to do
        (crm_resource --wait). Needed right after a configuration change (a move, a standby,
        a target-role): until the DC acts on it, crm_mon still shows the old, settled state.
        ClusterError when actions are still pending after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            chunk = max(1, min(10, int(left)))
            proc = self.node(self.viewer(), "crm_resource", "--wait", f"--timeout={chunk}s",
                             timeout=chunk + 30, check=False)
            if proc.returncode == 0:
                return
            pending = " ".join((proc.stderr + proc.stdout).split())[:300]
            if time.monotonic() >= deadline:
                raise ClusterError(f"{what}: actions still pending after {timeout:.0f}s: {pending}")
            log(f"waiting for {what} to finish its actions: {pending}", "cluster")

    def pacemaker_log(self, i: int = 1) -> str:
        try:
            return (self.node_dir(i) / "var-log-pacemaker" / "pacemaker.log").read_text(errors="replace")
        except OSError:
            return ""
