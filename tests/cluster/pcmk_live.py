"""Drive pcmk-harness.sh from pytest: a real one-node cluster in namespaces.

The harness runs as a *session* child process: it brings node1 up, prints READY and
then waits on its stdin. When this process closes the pipe (normally in the fixture
finalizer, but also when pytest dies for any reason), the session tears the cluster
down. The finalizer then runs `pcmk-harness.sh teardown` as well, which is idempotent.
"""

import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from pcmk_common import clean_env

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "pcmk-harness.sh"
PFX = os.environ.get("RAOTEST_PFX", "raotest")
NET = os.environ.get("RAOTEST_NET", "10.231.0")   # exists only inside our namespaces
VIP = f"{NET}.100"
_T0 = [time.monotonic()]   # reset when a harness is created: "+N s" counts from there


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - _T0[0]:6.1f}s test] {msg}", flush=True)


class Harness:
    def __init__(self) -> None:
        _T0[0] = time.monotonic()
        self.env = clean_env(PFX=PFX, NET=NET, VIP=VIP)
        info = self._harness("info").stdout
        self.info = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
        self.base = Path(self.info["BASE"])
        self.node_dir = Path(self.info["NODE_DIR"])
        self.session: Optional[subprocess.Popen] = None
        self.lines: List[str] = []
        self._ready = threading.Event()
        self._reader: Optional[threading.Thread] = None

    # ------------------------------------------------------------ plumbing
    def _harness(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["/bin/bash", str(HARNESS), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pcmk-harness.sh {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
        return proc

    def _read(self) -> None:
        assert self.session is not None and self.session.stdout is not None
        for line in self.session.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            print(f"    {line}", flush=True)
            if line.endswith("] READY"):
                self._ready.set()

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 120) -> None:
        log(f"starting the harness session (netns prefix {PFX}-, {NET}.0/24, state {self.base})")
        self.session = subprocess.Popen(["/bin/bash", str(HARNESS), "session"], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.session.poll() is not None:
                raise AssertionError(f"the harness session exited {self.session.returncode} before READY")
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster was not up within {timeout:.0f}s")

    def close(self) -> None:
        """Stop everything this harness started: always safe, whatever state we are in."""
        if self.session is not None:
            log("closing the harness session (it tears the cluster down)")
            try:
                if self.session.stdin:
                    self.session.stdin.close()
            except OSError:
                pass
            try:
                self.session.wait(timeout=90)
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
        if os.environ.get("RAOTEST_KEEP_STATE") == "1":   # keep the node's logs for a post-mortem
            self.env["KEEP_STATE"] = "1"
            log(f"RAOTEST_KEEP_STATE=1: the node's logs stay in {self.base}")
        proc = self._harness("teardown", "--hard", timeout=60, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            print(f"    {line}", flush=True)

    # ------------------------------------------------------------ on the node
    def node(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return self._harness("exec", *cmd, timeout=timeout, check=check)

    def client(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return self._harness("client", *cmd, timeout=timeout, check=check)

    def stop_node(self, timeout: float = 150) -> subprocess.CompletedProcess:
        proc = self._harness("stop", "120", timeout=timeout, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            print(f"    {line}", flush=True)
        return proc

    def init_pid(self) -> Optional[int]:
        try:
            pid = int((self.node_dir / "init.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return None
        return pid if f"pcmk-node-init.sh {self.node_dir} " in cmdline else None

    def netns_left(self) -> List[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, env=clean_env()).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(f"{PFX}-")]

    def crm_mon(self) -> ET.Element:
        return ET.fromstring(self.node("crm_mon", "-1", "--output-as=xml").stdout)

    def pacemaker_log(self) -> str:
        try:
            return (self.node_dir / "var-log-pacemaker" / "pacemaker.log").read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------- crm_mon XML

def resource_states(mon: ET.Element) -> Dict[str, Dict[str, str]]:
    """Primitive id -> {role, active, failed, node} from crm_mon's XML."""
    states = {}
    resources = mon.find("resources")
    for res in (resources.iter("resource") if resources is not None else ()):
        node = res.find("node")
        states[res.get("id")] = {"role": res.get("role", ""), "active": res.get("active", ""),
                                 "failed": res.get("failed", ""),
                                 "node": node.get("name") if node is not None else ""}
    return states


def operation_history(mon: ET.Element, rsc: str) -> List[Dict[str, str]]:
    return [dict(op.attrib) for op in mon.iterfind(f"./node_history/node/resource_history[@id='{rsc}']/operation_history")]


def failures(mon: ET.Element) -> List[Dict[str, str]]:
    return [dict(f.attrib) for f in mon.iterfind("./failures/failure")]


# ---------------------------------------------------------------- processes of the node (host view)

def node_processes(init_pid: int, pattern: str) -> Dict[int, str]:
    """Host PID -> command line of every process in the node's PID namespace matching pattern."""
    try:
        ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return {}
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(pattern, cmdline):
            found[int(entry)] = cmdline.strip()
    return found


def start_time(pid: int) -> Optional[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def still_alive(pids: Dict[int, str], started: Dict[int, Optional[str]]) -> Dict[int, str]:
    """Those of ``pids`` that still run as the same process (same start time)."""
    return {pid: cmd for pid, cmd in pids.items() if start_time(pid) is not None and start_time(pid) == started[pid]}


def grep_lines(text: str, patterns: Sequence[str]) -> List[str]:
    return [line for line in text.splitlines() if any(re.search(p, line) for p in patterns)]
