"""The lab's database as deployments run it (the default; ``--single-db``: database.py): a
Galera cluster of three nodes db1..db3 (mariadb-server + galera-4 from Debian, rsync SST,
outside Pacemaker, each in its own namespaces at .251-.253 with its clustercheck on port
9200), reached by the controllers through one address: HAProxy on the frontend's node
(openstack-db, .250), one active server and the others ``backup`` (a single writer), each
judged by its clustercheck (raolab.galera's frontend).

pcmk-cluster.sh (DB=galera) makes the namespaces, each with a bare db-init.sh as PID 1; this
module fills them through nsenter: the nodes' option files and data directories, the
operator's restart procedure (galera_ops.restart: a new cluster here, the old one after a
crash), the clustercheck's monitoring user, the clustercheck on each node, HAProxy. It also
holds what the drills and ``rao-lab status`` do to and read from the cluster. No password
reaches a command line: SQL goes on stdin, the clustercheck reads a 0600 option file.
"""

import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from . import galera, galera_ops
from .cluster import LAB_DIR, Cluster, ClusterError, clean_env
from .topology.haproxy import server_rows

CLUSTERCHECK = LAB_DIR / "clustercheck"
MONITOR_USER = "clustercheck"
HAPROXY = "/usr/sbin/haproxy"
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
FRONTEND = "galera"            # the listen section's name (raolab.galera.render_frontend)
SOCKET = "/run/mysqld/mysqld.sock"
# how a node leaves the primary component on its own: the provider option (MariaDB 10.11 on
# Debian 12, where the lab runs), else the provider plugin's variable (MariaDB 11.4+ with the
# plugin). Debian 13's 11.8 refuses both (errors 1210 and 1193): the tests that run there
# freeze the other nodes instead (tests/integration/test_galera_*.py)
ISOLATE = ("SET GLOBAL wsrep_provider_options='gmcast.isolate={}'", "SET GLOBAL wsrep_provider_gmcast_isolate={}")

Say = Callable[[str], None]


def missing() -> List[str]:
    """What this host lacks for a Galera lab (preflight)."""
    found = []
    if not os.path.exists(PROVIDER):
        found.append(f"{PROVIDER} missing: the Galera lab needs galera-4 (a dependency of mariadb-server)")
    if not os.access(HAPROXY, os.X_OK):
        found.append(f"{HAPROXY} missing: the Galera lab's database frontend needs haproxy "
                     "(bash tests/setup/install-deps.sh installs it)")
    return found


class GaleraLab:
    """The Galera nodes and the frontend of one lab (its Cluster's database namespaces)."""

    def __init__(self, cluster: Cluster, say: Say) -> None:
        self.cluster = cluster
        self.say = say
        self.nodes = galera.lab_nodes(cluster.base, cluster.net)
        self.front = cluster.base / "db"
        self.stats_socket = self.front / "haproxy.sock"
        self.credentials = cluster.base / "galera-clustercheck.cnf"

    def node(self, name: str) -> galera.Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no Galera node {name!r} (db1..db{len(self.nodes)})")

    # ------------------------------------------------------------ galera_ops' run and spawn
    def run(self, node: galera.Node, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """argv inside the node's namespaces, to its end (SQL with secrets on stdin)."""
        return subprocess.run(self.cluster.nsenter_argv(node.name, *argv), input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=clean_env(),
                              stdin=None if stdin is not None else subprocess.DEVNULL)

    def spawn(self, node: galera.Node, argv: Sequence[str], name: str = "mariadbd") -> None:
        """argv in the background inside the node's namespaces (galera_ops' ``spawn``)."""
        self._spawn_in(node.name, Path(node.home), argv, name)

    def _spawn_in(self, where: str, home: Path, argv: Sequence[str], name: str) -> None:
        """argv in the background inside the database namespace ``where``, detached (setsid
        --fork: that namespace's init reaps it), its output appended to <home>/<name>.out."""
        with open(home / f"{name}.out", "ab") as out:
            done = subprocess.run(self.cluster.nsenter_argv(where, "setsid", "--fork", *argv), stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, env=clean_env(), timeout=30)
        if done.returncode != 0:
            raise ClusterError(f"{where}: could not start {argv[0]} (exit {done.returncode}; see {home}/{name}.out)")

    def sql(self, node: galera.Node, text: str, timeout: float = 120, secret: bool = False) -> str:
        """SQL as root over the node's socket (text on stdin); its output (-N -B). ``secret``:
        the text holds a password, which an error message may quote: none is shown."""
        done = self.run(node, ["mariadb", f"--socket={SOCKET}", "-N", "-B"], text, timeout)
        if done.returncode != 0:
            said = "(the message is not shown: the statement holds a password)" if secret else \
                (done.stderr or done.stdout).strip()[-300:]
            raise ClusterError(f"{node.name}: SQL failed (exit {done.returncode}): {said}")
        return done.stdout

    # ------------------------------------------------------------ up
    def up(self) -> None:
        """A new cluster, its clustercheck on each node, and the frontend, ready for clients."""
        t0 = time.monotonic()
        for node in self.nodes:
            galera_ops.prepare(node, self.nodes, self.run)
        galera_ops.restart(self.nodes, self.run, self.spawn, lambda line: self.say(f"galera: {line}"))
        password = secrets.token_urlsafe(24)
        self.sql(self.nodes[0], galera_ops.monitor_user_sql(MONITOR_USER, password), secret=True)   # replicated
        fd = os.open(self.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(galera_ops.credentials_text(MONITOR_USER, password))
        for node in self.nodes:
            self.start_clustercheck(node)
        for node in self.nodes:     # before HAProxy: its first checks must find them answering
            self.wait_clustercheck(node)
        self.start_frontend()
        self.say(f"galera: {len(self.nodes)} nodes Synced, the frontend {self.cluster.db_addr}:3306 sends to "
                 f"{self.frontend_server() or 'no server'} ({time.monotonic() - t0:.1f}s)")

    def start_clustercheck(self, node: galera.Node) -> None:
        self.spawn(node, ["/usr/bin/python3", str(CLUSTERCHECK), "--bind", f"{node.address}:{node.check_port}",
                          "--socket", SOCKET, "--credentials", str(self.credentials), "--name", node.name],
                   name="clustercheck")

    def wait_clustercheck(self, node: galera.Node, timeout: float = 30) -> None:
        """Until the node's clustercheck answers 200 (asked from inside the node's namespaces)."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.run(node, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                                   f"http://{node.address}:{node.check_port}/"], timeout=10)
            if done.stdout.strip() == "200":
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{node.name}: its clustercheck answers {done.stdout.strip() or 'nothing'} "
                                   f"after {timeout:.0f}s (see {node.home}/clustercheck.out)")
            time.sleep(0.3)

    def start_frontend(self, timeout: float = 30) -> None:
        cfg = self.front / "haproxy.cfg"
        cfg.write_text(galera.render_haproxy(galera.render_frontend(self.cluster.db_addr, self.nodes),
                                             str(self.stats_socket)))
        checked = subprocess.run([HAPROXY, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise ClusterError(f"haproxy -c {cfg}: {checked.stderr.strip()[-500:]}")
        self._spawn_in("db", self.front, [HAPROXY, "-db", "-f", str(cfg)], "haproxy")
        deadline = time.monotonic() + timeout
        # servers start UP before any check: wait for the first node's check to have passed
        while not self.checked(self.nodes[0].name) or self.frontend_server() in (None, "last-resort"):
            if time.monotonic() > deadline:
                raise ClusterError(f"the database frontend has no node up after {timeout:.0f}s: "
                                   f"{self.frontend_states() or 'no stats'}")
            time.sleep(0.5)

    # ------------------------------------------------------------ what runs
    def admin(self, command: str) -> str:
        """One command on the frontend's HAProxy admin socket ("" when it does not answer)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(str(self.stats_socket))
                s.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    def checked(self, name: str) -> bool:
        """The frontend's health check of that node has passed (L7OK)."""
        return any(row["svname"] == name and row.get("check_status") == "L7OK"
                   for row in server_rows(self.admin("show stat"), (FRONTEND,)))

    def frontend_pid(self) -> Optional[int]:
        """Host PID of the frontend's HAProxy, if it runs."""
        return self.cluster.db_server_pid("db", HAPROXY)

    def cut_last_resort(self) -> None:
        """End the sessions the last resort took while no node passed its check: they would
        stay on the first node after a recovery, a second writer beside the frontend's."""
        self.admin(f"shutdown sessions server {FRONTEND}/last-resort")

    def frontend_states(self) -> Dict[str, str]:
        """Each node's server state in the frontend (UP, DOWN, ...), in the nodes' order."""
        return frontend_states(self.admin("show stat"))

    def frontend_server(self) -> Optional[str]:
        """The node new connections go to: the stick table's server while it is up, else the
        first server up in the frontend's order (the active one, the backups, the last resort)."""
        return frontend_server(self.admin("show stat"), self.admin(f"show table {FRONTEND}"))

    def wsrep(self, node: galera.Node) -> Dict[str, str]:
        return galera_ops.wsrep_state(node, self.run)

    def status_lines(self) -> List[str]:
        states = self.frontend_states()
        lines = [f"Galera {line}" for line in galera_ops.status_lines(self.nodes, self.run)]
        lines.append(f"database frontend {self.cluster.db_addr}:3306 (HAProxy): sends to "
                     f"{self.frontend_server() or 'NO SERVER'}; "
                     + (", ".join(f"{n} {s}" for n, s in states.items()) or "its stats do not answer"))
        return lines

    def mariadbd_pid(self, node: galera.Node) -> Optional[int]:
        """Host PID of the node's mariadbd, if it runs."""
        return self.cluster.db_server_pid(node.name, galera_ops.MARIADBD)

    # ------------------------------------------------------------ what drills do
    def kill(self, node: galera.Node) -> int:
        """kill -9 of the node's mariadbd (a crash); its PID."""
        pid = self.mariadbd_pid(node)
        if pid is None:
            raise ClusterError(f"{node.name}: mariadbd does not run")
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while self.mariadbd_pid(node) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def rejoin(self, node: galera.Node, timeout: float = 120) -> str:
        """Start a stopped node into the running cluster; how it got the data (IST, SST)."""
        return galera_ops.rejoin(node, self.run, self.spawn, timeout)

    def isolate(self, node: galera.Node, on: bool) -> None:
        """The node leaves the primary component (gmcast.isolate=1) or comes back (0)."""
        errors = []
        for form in ISOLATE:
            try:
                done = self.run(node, ["mariadb", f"--socket={SOCKET}", "-N", "-B"],
                                form.format(1 if on else 0) + ";\n", 30)
            except subprocess.TimeoutExpired:
                errors.append("no answer within 30 s")
                continue
            if done.returncode == 0:
                return
            errors.append(done.stderr.strip()[-200:])
        raise ClusterError(f"{node.name}: cannot {'isolate' if on else 'reconnect'} it: {' | '.join(errors)}")

    def repair(self) -> List[str]:
        """After a drill that failed half-way: every node running (the whole cluster from its
        data when none runs, else each missing node rejoined) and none isolated. What it did."""
        done = []
        running = [n for n in self.nodes if self.mariadbd_pid(n) is not None]
        if not running:
            self.restart_all()
            return ["every node restarted"]
        for node in self.nodes:
            if node in running:
                try:
                    self.isolate(node, False)
                except ClusterError:
                    pass
            else:
                done.append(f"{node.name} rejoined ({self.rejoin(node)})")
        if self.frontend_pid() is None:
            self.start_frontend()
            done.append("the frontend started")
        return done

    def restart_all(self, timeout: float = 120) -> galera_ops.Restart:
        """Every node stopped (a whole-cluster crash): the operator's procedure brings them back."""
        return galera_ops.restart(self.nodes, self.run, self.spawn, lambda line: self.say(f"galera: {line}"), timeout)


# ---------------------------------------------------------------- HAProxy's answers, parsed

def frontend_states(stat_csv: str) -> Dict[str, str]:
    """{server: status} of the frontend's listen section, from `show stat` (CSV)."""
    return {row["svname"]: row.get("status", "") for row in server_rows(stat_csv, (FRONTEND,))}


def frontend_server(stat_csv: str, table: str) -> Optional[str]:
    """Where new connections go (see GaleraLab.frontend_server)."""
    rows = server_rows(stat_csv, (FRONTEND,))
    ids = {row.get("sid", ""): row["svname"] for row in rows}
    order = [row["svname"] for row in rows]
    # "no check": a server HAProxy never checks counts as up (the last resort)
    up = {row["svname"]: row.get("status", "").startswith(("UP", "no check")) for row in rows}
    stuck = re.search(r"server_id=(\d+)", table)
    if stuck and up.get(ids.get(stuck.group(1), ""), False):
        return ids[stuck.group(1)]
    return next((name for name in order if up[name]), None)
