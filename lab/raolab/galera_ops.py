"""Running the lab's Galera nodes (raolab.galera describes them): make a node's data
directory, start mariadbd, wait for it, read its wsrep state, and the operator's restart
procedure end to end (``restart``: recover, choose, bootstrap, join).

Commands reach a node through two callables the caller supplies, so that the same code runs
the lab's nodes (each in its own namespaces: nsenter) and the loopback test's (plain
processes): ``run(node, argv, stdin)`` runs a command to its end and returns the
CompletedProcess (text, output captured; SQL with secrets goes through stdin, never argv),
``spawn(node, argv)`` starts mariadbd in the background, detached. Files (my.cnf,
grastate.dat, the error log) are read and written on the host: a node's home is a host path.
"""

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence

from .galera import (CLUSTER_NAME, LAB_SETTINGS, PROVIDER_OPTIONS, Candidate, Decision, Node, Position, choose,
                     mark_safe, parse_grastate, parse_recovered, position_of, render_cnf)

MARIADBD = "/usr/sbin/mariadbd"
STATE_NAMES = ("wsrep_local_state_comment", "wsrep_cluster_status", "wsrep_cluster_size", "wsrep_ready")
STATE_QUERY = "SHOW GLOBAL STATUS WHERE Variable_name IN ({})".format(", ".join(f"'{n}'" for n in STATE_NAMES))
ABORTED = "[ERROR] Aborting"
NO_VIEW = "failed to reach primary view"
STATE_TRANSFER = "State transfer required"
JOINER_DONE = re.compile(r"WSREP_SST: \[INFO\] \S+ (SST|IST) completed on joiner")

Run = Callable[[Node, Sequence[str], Optional[str]], subprocess.CompletedProcess]
Spawn = Callable[[Node, Sequence[str]], Any]
Say = Callable[[str], None]


class GaleraError(RuntimeError):
    pass


class Aborted(GaleraError):
    """mariadbd exited; ``log`` is its error log since the start."""

    def __init__(self, text: str, log: str) -> None:
        super().__init__(text)
        self.log = log


class Restart(NamedTuple):
    """What ``restart`` decided and did: the decision, how each joiner got the data (IST,
    SST, nothing), the seconds it took."""

    decision: Decision
    transfers: Dict[str, str]
    seconds: float


def local_run(node: Node, argv: Sequence[str], stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    """``run`` for nodes that are plain processes of this host (the loopback test)."""
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=120,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def mariadbd_argv(node: Node, *extra: str) -> List[str]:
    """mariadbd with the node's option file only (--defaults-file must come first)."""
    return [MARIADBD, f"--defaults-file={node.cnf}", "--user=mysql", *extra]


def prepare(node: Node, members: Sequence[Node], run: Run, settings: Mapping[str, str] = LAB_SETTINGS,
            provider_options: str = PROVIDER_OPTIONS, cluster_name: str = CLUSTER_NAME) -> None:
    """Write the node's my.cnf; make its data directory (mariadb-install-db) when it has none."""
    home = Path(node.home)
    for path in (home, Path(node.tmpdir)):
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "mysql")
    Path(node.cnf).write_text(render_cnf(node, members, cluster_name, provider_options, settings))
    if Path(node.datadir, "mysql").is_dir():
        return
    innodb = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items() if k.startswith("innodb_")]
    # --no-defaults: a plain server (wsrep off) makes the system tables; the option file comes later.
    # Its own tmpdir: bootstraps side by side in /tmp collide on their temporary tables' names.
    done = run(node, ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={node.datadir}",
                      f"--tmpdir={node.tmpdir}", "--skip-test-db", "--auth-root-authentication-method=socket",
                      *innodb], None)
    if done.returncode != 0:
        raise GaleraError(f"{node.name}: mariadb-install-db failed: {(done.stderr or done.stdout).strip()[-500:]}")


def recover(node: Node, run: Run) -> Optional[Position]:
    """The position InnoDB holds (``mariadbd --wsrep-recover``, as galera_recovery does)."""
    done = run(node, mariadbd_argv(node, "--wsrep-recover", "--disable-log-error"), None)
    return parse_recovered(done.stderr + done.stdout)


def candidate(node: Node, run: Run) -> Candidate:
    """The node's grastate.dat, and its recovered position where grastate's seqno is -1."""
    path = Path(node.grastate)
    if not path.exists():
        return Candidate(node.name, None)
    try:
        state = parse_grastate(path.read_text(errors="replace"))
    except ValueError as err:
        raise GaleraError(f"{node.name}: {path}: {err}") from None
    return Candidate(node.name, state, recover(node, run) if state.seqno == -1 else None)


def start(node: Node, spawn: Spawn, new_cluster: bool = False, position: Optional[Position] = None) -> int:
    """Start mariadbd on the node; returns the error log's size before (wait_synced reads on from it)."""
    try:
        offset = Path(node.error_log).stat().st_size
    except OSError:
        offset = 0
    extra = ["--wsrep-new-cluster"] if new_cluster else []
    if position is not None:
        extra.append(f"--wsrep-start-position={position.uuid}:{position.seqno}")
    spawn(node, mariadbd_argv(node, *extra))
    return offset


def wsrep_state(node: Node, run: Run) -> Dict[str, str]:
    """The node's wsrep_local_state_comment, wsrep_cluster_status, wsrep_cluster_size and
    wsrep_ready (names in lower case; {} when mariadbd does not answer)."""
    try:
        done = run(node, ["mariadb", f"--socket={node.socket_path}", "--connect-timeout=2", "-N", "-B",
                          "-e", STATE_QUERY], None)
    except subprocess.TimeoutExpired:
        return {}
    if done.returncode != 0:
        return {}
    pairs = (line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    return {name.lower(): value for name, value in pairs}


def synced(state: Mapping[str, str]) -> bool:
    return (state.get("wsrep_local_state_comment") == "Synced" and state.get("wsrep_cluster_status") == "Primary"
            and state.get("wsrep_ready") == "ON")


def wait_synced(node: Node, run: Run, offset: int = 0, timeout: float = 90) -> str:
    """Wait until the node is Synced in a Primary component and ready; returns its error log
    since ``offset``. GaleraError when mariadbd aborts or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        if synced(wsrep_state(node, run)):
            return log_since(node, offset)
        log = log_since(node, offset)
        if ABORTED in log or time.monotonic() > deadline:
            tail = " | ".join(line for line in log.splitlines()[-8:])
            if ABORTED in log:
                raise Aborted(f"{node.name}: mariadbd aborted; its log: {tail}", log)
            raise GaleraError(f"{node.name}: mariadbd was not Synced within {timeout:.0f}s; its log: {tail}")
        time.sleep(0.3)


def log_since(node: Node, offset: int) -> str:
    try:
        with open(node.error_log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def transfer(log: str) -> str:
    """How a joiner got the cluster's data, from its error log since its start."""
    said = JOINER_DONE.findall(log)    # the SST script's word: an IST also runs it (bypass)
    if said:
        return said[-1]
    return "IST" if "IST received" in log else "no transfer"


def restart(nodes: Sequence[Node], run: Run, spawn: Spawn, say: Say = print, timeout: float = 90) -> Restart:
    """The operator's procedure (raolab.galera's docstring) on stopped nodes: a new cluster
    from fresh data directories, or the old one after a clean stop or a crash. GaleraError
    with the reason when it refuses to choose or a node does not come up."""
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(nodes)) as pool:   # InnoDB's recoveries, side by side
        candidates = list(pool.map(lambda n: candidate(n, run), nodes))
    decision = choose(candidates)
    say(decision.text)
    if decision.bootstrap is None:
        raise GaleraError(decision.text)
    by_name = {n.name: n for n in nodes}
    first = by_name[decision.bootstrap]
    if decision.mark_safe:
        path = Path(first.grastate)
        path.write_text(mark_safe(path.read_text()))
    wait_synced(first, run, start(first, spawn, True, decision.positions.get(first.name)), timeout)
    say(f"{first.name} bootstrapped a primary component ({time.monotonic() - t0:.1f}s)")
    transfers = {}
    for name in decision.joiners:    # one at a time: a donor serves one state transfer at a time
        node, t1 = by_name[name], time.monotonic()
        try:
            log = wait_synced(node, run, start(node, spawn, False, decision.positions.get(name)), timeout)
        except Aborted as err:
            if NO_VIEW not in err.log or STATE_TRANSFER in err.log:
                raise
            # it never reached the primary component (a peer missed its keepalives: a loaded
            # machine), so nothing of its data changed: what an operator does, start it again
            say(f"{name} did not reach the primary component and exited; starting it again")
            log = wait_synced(node, run, start(node, spawn, False, decision.positions.get(name)), timeout)
        transfers[name] = transfer(log)
        say(f"{name} joined ({transfers[name]}, {time.monotonic() - t1:.1f}s)")
    return Restart(decision, transfers, time.monotonic() - t0)


def rejoin(node: Node, run: Run, spawn: Spawn, timeout: float = 90) -> str:
    """Start one stopped node into the cluster the others still run (a node lost and back):
    from its recovered position, so that IST serves where the donor's gcache allows. Returns
    how it got the data."""
    found = candidate(node, run)
    try:
        return transfer(wait_synced(node, run, start(node, spawn, False, position_of(found)), timeout))
    except Aborted as err:
        if NO_VIEW not in err.log or STATE_TRANSFER in err.log:
            raise
        # it never reached the primary component (restart's case: a loaded machine): again
        return transfer(wait_synced(node, run, start(node, spawn, False, position_of(found)), timeout))


def shutdown(node: Node, run: Run) -> bool:
    """A clean stop (the last node to leave writes safe_to_bootstrap: 1)."""
    return run(node, ["mariadb-admin", f"--socket={node.socket_path}", "--connect-timeout=2", "shutdown"],
               None).returncode == 0


def status_lines(nodes: Sequence[Node], run: Run) -> List[str]:
    """One line per node for `rao-lab status`."""
    lines = []
    for node in nodes:
        s = wsrep_state(node, run)
        if not s:
            lines.append(f"{node.name} {node.address}: mariadbd does not answer")
            continue
        lines.append(f"{node.name} {node.address}: {s.get('wsrep_local_state_comment', '?')}, "
                     f"{s.get('wsrep_cluster_status', '?')}, cluster size {s.get('wsrep_cluster_size', '?')}, "
                     f"ready {s.get('wsrep_ready', '?')}")
    return lines


def monitor_user_sql(user: str, password: str) -> str:
    """SQL (for stdin) creating the clustercheck's login: USAGE only, over the local socket."""
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    return (f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{quoted}';\n"
            f"ALTER USER '{user}'@'localhost' IDENTIFIED BY '{quoted}';\n")


def credentials_text(user: str, password: str) -> str:
    """The clustercheck's credentials file (a client option file; write it mode 0600, root)."""
    return f"[client]\nuser = {user}\npassword = {password}\n"
