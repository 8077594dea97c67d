"""The Galera lab's building blocks (lab/raolab/galera.py, galera_ops.py, lab/clustercheck)
against real Debian mariadbd + galera-4 on 127.0.0.1, before the lab wires them in.

Three nodes db1..db3 as root with --user=mysql, each with its own directory (data, tmp,
socket, pid file, error log, my.cnf from render_cnf) below one temporary directory and ports
that clash with nothing (the host's MariaDB has 3306, test_galera_probe.py 3317/3318 and
4477-4678): SQL 3327-3329, group communication 4587-4589, SST 4487-4489, IST 4687-4689,
clustercheck 9207-9209, the HAProxy frontend 3339. The cluster is bootstrapped by
galera_ops.restart (fresh data directories: db1 new, the others join by rsync SST), a
clustercheck runs per node, and the module ends with a kill -9 of all three nodes and the
operator's restart procedure. Every process runs under nice -n 19 (a 2-core machine shared
with timing measurements) and is killed, with its session, in the fixture's finalizer.
"""

import concurrent.futures
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

LAB = Path(__file__).resolve().parents[2] / "lab"
sys.path.insert(0, str(LAB))
from raolab import galera, galera_ops  # noqa: E402
from test_galera_probe import EVS_TIMEOUTS, _needs as probe_needs, _port_free, end_isolation, isolate_or_freeze  # noqa: E402,E501

CLUSTERCHECK = LAB / "clustercheck"
NICE = ["nice", "-n", "19"]
FRONTEND = 3339
SETTINGS = {"innodb_buffer_pool_size": "32M", "innodb_log_file_size": "16M", "max_connections": "100"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _needs() -> None:
    probe_needs()   # root, mariadbd, galera-4, mariadb-install-db, rsync, pymysql
    if not os.path.exists("/usr/sbin/haproxy"):
        pytest.skip("/usr/sbin/haproxy missing (haproxy)")


class Lab:
    """The nodes, the processes this module started (each the leader of its own session),
    and the clustercheck's credentials."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.nodes = [galera.Node(f"db{i}", "127.0.0.1", str(base / f"db{i}"), port=3326 + i, gcomm_port=4586 + i,
                                  ist_port=4686 + i, sst_port=4486 + i, check_port=9206 + i) for i in (1, 2, 3)]
        self.procs: List[subprocess.Popen] = []
        self.server = {}     # node name -> its mariadbd
        self.creds = base / "clustercheck.cnf"
        self.app_password = secrets.token_hex(12)

    def node(self, name: str) -> galera.Node:
        return next(n for n in self.nodes if n.name == name)

    def run(self, node: galera.Node, argv, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        return galera_ops.local_run(node, [*NICE, *argv], stdin)

    def spawn(self, node: galera.Node, argv) -> subprocess.Popen:
        proc = self.popen([*NICE, *argv], subprocess.DEVNULL)
        self.server[node.name] = proc
        return proc

    def popen(self, argv, stderr) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr)
        self.procs.append(proc)
        return proc

    def sql(self, name: str, text: str) -> str:
        node = self.node(name)
        done = self.run(node, ["mariadb", f"--socket={node.socket_path}", "-N", "-B"], text)
        if done.returncode:
            raise AssertionError(f"{name}: SQL failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def isolate(self, name: str) -> str:
        """The node leaves the primary component (the probe test's ``isolate_or_freeze``: the two
        others frozen where this MariaDB refuses isolation). Returns how, for end_isolation."""
        return isolate_or_freeze(lambda text: self.sql(name, text), self._others(name), name)

    def end_isolation(self, name: str, how: str) -> None:
        end_isolation(lambda text: self.sql(name, text), self._others(name), how)

    def _others(self, name: str) -> List[int]:
        return [proc.pid for other, proc in self.server.items() if other != name]

    def kill9(self, *names: str) -> None:
        for name in names:
            proc = self.server.pop(name)
            os.killpg(proc.pid, signal.SIGKILL)     # mariadbd and whatever it started (SST scripts)
            proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def check(node: galera.Node, method: str = "GET") -> Tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", node.check_port, timeout=5)
    try:
        conn.request(method, "/")
        resp = conn.getresponse()
        return resp.status, resp.read().decode().strip()
    finally:
        conn.close()


def wait_check(node: galera.Node, status: int, timeout: float) -> Tuple[float, str]:
    """Seconds until the node's clustercheck answers ``status``, and its reason."""
    t0 = time.monotonic()
    while True:
        try:
            code, body = check(node)
        except OSError:
            code, body = 0, ""
        if code == status:
            return time.monotonic() - t0, body
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{node.name}: clustercheck still says {code} {body!r} after {timeout:.0f}s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    _needs()
    ports = [p for i in (1, 2, 3) for p in (3326 + i, 4586 + i, 4486 + i, 4686 + i, 9206 + i)] + [FRONTEND]
    busy = [p for p in ports if not _port_free(p)]
    if busy:
        pytest.skip(f"127.0.0.1 ports {busy} are taken")
    base = Path(tempfile.mkdtemp(prefix="rao-galera-lab-"))
    os.chmod(base, 0o755)
    it = Lab(base)
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda n: galera_ops.prepare(n, it.nodes, it.run, SETTINGS,
                                                       f"{galera.PROVIDER_OPTIONS};{EVS_TIMEOUTS}"), it.nodes))
        log(f"three data directories made ({time.monotonic() - t0:.1f}s)")
        it.first = galera_ops.restart(it.nodes, it.run, it.spawn, log)
        password = secrets.token_hex(12)
        it.sql("db1", galera_ops.monitor_user_sql("clustercheck", password)
               + f"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '{it.app_password}';")
        fd = os.open(it.creds, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(galera_ops.credentials_text("clustercheck", password))
        for node in it.nodes:
            stderr = open(base / f"clustercheck-{node.name}.log", "wb")
            it.popen([*NICE, "/usr/bin/python3", str(CLUSTERCHECK), "--bind", f"127.0.0.1:{node.check_port}",
                      "--socket", node.socket_path, "--credentials", str(it.creds), "--name", node.name], stderr)
            stderr.close()
        yield it
    finally:
        it.close()
        shutil.rmtree(base, ignore_errors=True)


def test_a_new_cluster_from_fresh_data_directories(lab):
    first = lab.first
    assert first.decision.bootstrap == "db1" and first.decision.joiners == ["db2", "db3"]
    assert first.decision.text.startswith("no node has a Galera state (new data directories): a new cluster from db1")
    assert first.transfers == {"db2": "SST", "db3": "SST"}, first.transfers
    lines = galera_ops.status_lines(lab.nodes, lab.run)
    log("\n".join(lines))
    assert all(line.endswith(": Synced, Primary, cluster size 3, ready ON") for line in lines), lines
    cnf = Path(lab.node("db2").cnf).read_text()
    assert "wsrep_cluster_address = gcomm://127.0.0.1:4587,127.0.0.1:4588,127.0.0.1:4589" in cnf


def test_clustercheck_says_200_on_each_node(lab):
    for node in lab.nodes:
        wait_check(node, 200, 10)
        assert check(node) == (200, f"{node.name} is Galera Synced, Primary")
        assert check(node, "HEAD") == (200, "")
        assert check(node, "OPTIONS") == (200, f"{node.name} is Galera Synced, Primary")   # HAProxy's httpchk


@pytest.mark.parametrize("mode", ["ALL", "ALL_KILL"])
def test_a_node_that_rejects_queries_is_503(lab, mode):
    node = lab.node("db2")
    lab.sql("db2", f"SET GLOBAL wsrep_reject_queries={mode}")
    try:
        assert lab.sql("db2", "SHOW GLOBAL STATUS LIKE 'wsrep_local_state'").split() == ["wsrep_local_state", "4"]
        seconds, body = wait_check(node, 503, 5)
    finally:
        lab.sql("db2", "SET GLOBAL wsrep_reject_queries=NONE")
    assert body == f"db2 is a Galera node that refuses application queries (wsrep_reject_queries={mode})"
    back, _ = wait_check(node, 200, 5)
    log(f"reject_queries={mode}: 503 after {seconds:.2f}s, 200 again {back:.2f}s after NONE")


def test_an_isolated_node_is_503_and_200_when_back(lab):
    node = lab.node("db3")
    how = lab.isolate("db3")
    try:
        out, body = wait_check(node, 503, 20)
    finally:
        lab.end_isolation("db3", how)
    assert body == "db3 is a Galera node outside the primary component (non-Primary): it refuses application queries"
    back, _ = wait_check(node, 200, 40)
    log(f"isolated db3 ({how}): 503 after {out:.1f}s; after the isolation ended, 200 after {back:.1f}s")
    for other in ("db1", "db2"):
        wait_check(lab.node(other), 200, 40)    # raises if it does not come


def _stats(path: Path) -> dict:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode().splitlines() if line and not line.startswith("#")]
    head = data.decode().splitlines()[0].lstrip("# ").split(",")
    return {r[1]: dict(zip(head, r)) for r in rows if r[0] == "galera"}


def _node_behind(lab: Lab) -> str:
    import pymysql
    conn = pymysql.connect(host="127.0.0.1", port=FRONTEND, user="app", password=lab.app_password,
                           connect_timeout=3, read_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_haproxy_frontend_follows_the_clustercheck(lab):
    """One active server, the others backup; a node the clustercheck reports down is left
    within ~2 s, its sessions cut; back up, it does not take the traffic back (stick on dst)."""
    import pymysql
    cfg, stats = lab.base / "haproxy.cfg", lab.base / "haproxy.sock"
    cfg.write_text(galera.render_haproxy(galera.render_frontend("127.0.0.1", lab.nodes, FRONTEND), str(stats)))
    done = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    proxy = lab.popen([*NICE, "/usr/sbin/haproxy", "-db", "-f", str(cfg)], subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (stats.exists() and all(_stats(stats).get(n, {}).get("status") == "UP" for n in ("db1", "db2"))):
            assert time.monotonic() < deadline and proxy.poll() is None, "HAProxy did not mark the nodes up"
            time.sleep(0.2)
        assert _node_behind(lab) == "db1"
        held = pymysql.connect(host="127.0.0.1", port=FRONTEND, user="app", password=lab.app_password,
                               connect_timeout=3, read_timeout=3)
        lab.sql("db1", "SET GLOBAL wsrep_reject_queries=ALL")
        t0 = time.monotonic()
        try:
            while _stats(stats)["db1"]["status"] != "DOWN":
                assert time.monotonic() - t0 < 10, "db1 still up in HAProxy"
                time.sleep(0.1)
            down = time.monotonic() - t0
            assert _node_behind(lab) == "db2"
            with pytest.raises(pymysql.err.OperationalError):    # shutdown-sessions cut it
                with held.cursor() as cur:
                    cur.execute("SELECT 1")
            reason = _stats(stats)["db1"]["last_chk"]
        finally:
            lab.sql("db1", "SET GLOBAL wsrep_reject_queries=NONE")
        t1 = time.monotonic()
        while _stats(stats)["db1"]["status"] != "UP":
            assert time.monotonic() - t1 < 10, "db1 not back up in HAProxy"
            time.sleep(0.1)
        assert _node_behind(lab) == "db2", "db1 took the traffic back"
        with contextlib.suppress(pymysql.err.Error):
            held.close()
        log(f"frontend: db1 DOWN {down:.1f}s after it began rejecting queries (HAProxy's last check: {reason!r}), "
            f"new connections on db2, the held session cut; db1 UP again {time.monotonic() - t1:.1f}s later, "
            "the traffic stays on db2")
    finally:
        os.killpg(proxy.pid, signal.SIGKILL)
        proxy.wait(timeout=10)


def test_one_node_lost_and_back(lab):
    """kill -9 of db3: its clustercheck says 503 at once; a row written meanwhile; rejoin
    (its recovered position) brings it back by IST, with the row."""
    lab.kill9("db3")
    code, body = check(lab.node("db3"))
    assert code == 503 and body.startswith("db3 mariadbd does not answer on its socket (error 200"), body
    lab.sql("db1", "CREATE DATABASE lost; CREATE TABLE lost.t (id INT PRIMARY KEY); INSERT INTO lost.t VALUES (7)")
    t0 = time.monotonic()
    how = galera_ops.rejoin(lab.node("db3"), lab.run, lab.spawn)
    log(f"db3 rejoined after kill -9 ({how}, {time.monotonic() - t0:.1f}s with its recovery)")
    assert how == "IST" and lab.sql("db3", "SELECT id FROM lost.t") == "7"
    wait_check(lab.node("db3"), 200, 5)


def test_a_clean_stop_and_restart(lab):
    """db1, db2, db3 shut down in that order: db3 left last and says safe_to_bootstrap: 1; the
    restart bootstraps it, the others join by IST."""
    for name in ("db1", "db2", "db3"):
        assert galera_ops.shutdown(lab.node(name), lab.run)
        lab.server.pop(name).wait(timeout=60)
    states = {n.name: galera.parse_grastate(Path(n.grastate).read_text()) for n in lab.nodes}
    assert [s.safe_to_bootstrap for s in states.values()] == [False, False, True], states
    assert states["db1"].seqno < states["db2"].seqno < states["db3"].seqno, states
    said: List[str] = []
    again = galera_ops.restart(lab.nodes, lab.run, lab.spawn, said.append)
    log(f"restart after a clean stop ({again.seconds:.1f}s):\n  " + "\n  ".join(said))
    assert again.decision.bootstrap == "db3" and not again.decision.mark_safe, again.decision.text
    assert again.decision.text.startswith("bootstrap db3 (--wsrep-new-cluster) in cluster ")
    assert f"db3 says safe_to_bootstrap: 1 (it left the cluster last; seqno {states['db3'].seqno})" \
        in again.decision.text
    assert again.transfers == {"db1": "IST", "db2": "IST"}, again.transfers
    for node in lab.nodes:
        wait_check(node, 200, 5)


def test_whole_cluster_crash_and_restart(lab):
    """kill -9 of db1, a row written through db2, kill -9 of db2 and db3 at once: every
    grastate.dat says seqno -1; the restart recovers the positions, bootstraps db2 (highest,
    tied with db3, first in node order), db3 and db1 join, and both rows are on every node."""
    lab.sql("db1", "CREATE DATABASE lab; CREATE TABLE lab.t (id INT PRIMARY KEY, v VARCHAR(40));"
                   "INSERT INTO lab.t VALUES (1, 'before db1 died')")
    lab.kill9("db1")
    deadline = time.monotonic() + 20
    while not ((state := galera_ops.wsrep_state(lab.node("db2"), lab.run)).get("wsrep_cluster_size") == "2"
               and galera_ops.synced(state)):
        assert time.monotonic() < deadline, "db2 and db3 did not form a primary component of two"
        time.sleep(0.2)
    lab.sql("db2", "INSERT INTO lab.t VALUES (2, 'after db1 died')")
    assert lab.sql("db3", "SELECT v FROM lab.t WHERE id = 2") == "after db1 died"
    code, body = check(lab.node("db1"))
    assert code == 503 and body.startswith("db1 mariadbd does not answer on its socket (error 200"), body
    lab.kill9("db2", "db3")
    for node in lab.nodes:
        text = Path(node.grastate).read_text()
        log(f"{node.name} grastate.dat after the crash: {text!r}")
        assert galera.parse_grastate(text).seqno == -1 and not galera.parse_grastate(text).safe_to_bootstrap
    said: List[str] = []
    again = galera_ops.restart(lab.nodes, lab.run, lab.spawn, said.append)
    log(f"restart after the crash ({again.seconds:.1f}s, the recoveries included):\n  " + "\n  ".join(said))
    assert again.decision.bootstrap == "db2", again.decision.text
    assert again.decision.mark_safe and again.decision.joiners == ["db1", "db3"]
    p = again.decision.positions
    assert p["db2"] == p["db3"] and p["db1"].seqno < p["db2"].seqno and p["db1"].uuid == p["db2"].uuid
    assert "db2 has the highest position" in again.decision.text and "(db3 too: the first in node order)" \
        in again.decision.text
    assert again.transfers["db1"] == "IST", again.transfers
    for name in ("db1", "db2", "db3"):
        assert lab.sql(name, "SELECT id, v FROM lab.t ORDER BY id") == "1\tbefore db1 died\n2\tafter db1 died"
    assert all(line.endswith("Synced, Primary, cluster size 3, ready ON")
               for line in galera_ops.status_lines(lab.nodes, lab.run))
    for node in lab.nodes:
        wait_check(node, 200, 5)
