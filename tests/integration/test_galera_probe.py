"""The database probe against real Galera (Debian's mariadb-server 10.11 + galera-4 26.4) on
loopback: a node that refuses application queries is down, a healthy one answers.

The module starts its own mariadbd instances, as root, with ``--user=mysql`` (as Debian's
init script does), each in a temporary data directory made by mariadb-install-db, with its
own socket, pid file, tmpdir and ports on 127.0.0.1 only: SQL 3317/3318, group communication
4577/4578, SST 4477/4478, IST 4677/4678 (the host's MariaDB keeps 3306). Node 1 bootstraps a
one-node cluster (``--wsrep-new-cluster``); node 2 joins it (rsync SST) only for the tests of
a real non-Primary (``gmcast.isolate=1`` on node 1, or node 2 frozen where MariaDB 11.8
refuses that). The probe logs in as a user with the USAGE privilege only. Everything is killed and removed in the fixtures' finalizers.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

# the checkout's package, unless PYTHONPATH names one (as tests/unit do)
if not any(os.path.isdir(os.path.join(d, "ocf_openstack"))
           for d in os.environ.get("PYTHONPATH", "").split(os.pathsep) if d):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agents"))
from ocf_openstack.checks import dependencies  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
HOST_MARIADB = ("127.0.0.1", 3306)
KEYSTONE_CONF = "/etc/keystone/keystone.conf"
ISOLATE = ("SET GLOBAL wsrep_provider_options='gmcast.isolate={}'", "SET GLOBAL wsrep_provider_gmcast_isolate={}")
FREEZE = "the other nodes frozen (SIGSTOP)"
# failure detection shorter than Galera's (suspect 5 s, inactive 15 s), not shorter: at nice
# 19 on the loaded 2-core machine (the Debian 13 leg beside the lab drills), 1 s and 2 s made
# nodes suspect each other whenever both were starved, and two that had just been parted
# never merged again ("non-Primary" for 30 s). Shared with test_galera_lab_parts.py.
EVS_TIMEOUTS = ("evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S;"
                "evs.inactive_check_period=PT1S;evs.keepalive_period=PT1S")
EVS = EVS_TIMEOUTS + ";gcache.size=16M"
REMERGE = 90.0    # s for two nodes parted by isolation to be one primary component again
SMALL = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"]
TIMEOUT = 2.0     # what the services' monitor gives the probe (DEPENDENCY_PROBE_TIMEOUT)


def _needs() -> None:
    if os.geteuid() != 0:
        pytest.skip("starts mariadbd --user=mysql: needs root")
    for path in (MARIADBD, PROVIDER, "/usr/bin/mariadb-install-db", "/usr/bin/rsync"):
        if not os.path.exists(path):
            pytest.skip(f"{path} missing (mariadb-server, galera-4, rsync)")
    try:
        import pymysql  # noqa: F401
    except ImportError:
        pytest.skip("python3-pymysql missing: the probe can not read the Galera state")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # as mariadbd: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def isolate_or_freeze(sql: Callable[[str], object], peers: Sequence[int], name: str) -> str:
    """A node leaves the primary component: gmcast.isolate through wsrep_provider_options
    (MariaDB 10.11, Debian 12) or the provider plugin's own variable, run with ``sql``; where
    neither is accepted (MariaDB 11.8 on Debian 13 loads the provider as a plugin, refuses the
    first with error 1210 and has no wsrep_provider_gmcast_isolate: 1193), the process groups
    ``peers`` are frozen (SIGSTOP) instead, which leaves the node without a majority. Returns
    how, for ``end_isolation``. Shared with test_galera_lab_parts.py."""
    errors = []
    for form in ISOLATE:
        try:
            sql(form.format(1))
            return form
        except (RuntimeError, AssertionError) as err:     # each test's sql() says it so
            if "1210" not in str(err) and "1193" not in str(err):
                raise
            errors.append(str(err).splitlines()[-1])
    print(f"{name}: isolation refused ({' | '.join(errors)}): the other nodes frozen instead")
    for pid in peers:
        os.killpg(pid, signal.SIGSTOP)
    return FREEZE


def end_isolation(sql: Callable[[str], object], peers: Sequence[int], how: str) -> None:
    if how == FREEZE:
        for pid in peers:
            os.killpg(pid, signal.SIGCONT)
    else:
        sql(how.format(0))


class Node:
    """One mariadbd of the test cluster."""

    def __init__(self, base: Path, n: int) -> None:
        self.n, self.dir = n, base / f"node{n}"
        self.port, self.gcomm, self.sst, self.ist = 3316 + n, 4576 + n, 4476 + n, 4676 + n
        self.socket = str(self.dir / "mysqld.sock")
        self.proc = None

    def start(self, cluster_address: str, new_cluster: bool) -> None:
        busy = [p for p in (self.port, self.gcomm, self.sst, self.ist) if not _port_free(p)]
        if busy:
            pytest.skip(f"127.0.0.1 ports {busy} are taken: the test cluster needs them")
        for sub in ("data", "tmp"):
            (self.dir / sub).mkdir(parents=True)
        shutil.chown(self.dir, "mysql")
        shutil.chown(self.dir / "tmp", "mysql")
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.dir / 'data'}", "--skip-test-db",
                        "--auth-root-authentication-method=socket", *SMALL],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        argv = [MARIADBD, "--no-defaults", "--user=mysql", f"--datadir={self.dir / 'data'}",
                f"--socket={self.socket}", f"--pid-file={self.dir / 'mysqld.pid'}", f"--tmpdir={self.dir / 'tmp'}",
                f"--log-error={self.dir / 'error.log'}", "--bind-address=127.0.0.1", f"--port={self.port}",
                "--skip-name-resolve", *SMALL, "--wsrep-on=ON", f"--wsrep-provider={PROVIDER}",
                "--binlog-format=ROW", "--default-storage-engine=InnoDB", "--innodb-autoinc-lock-mode=2",
                "--wsrep-cluster-name=rao-galera-probe-test", f"--wsrep-cluster-address={cluster_address}",
                f"--wsrep-node-address=127.0.0.1:{self.gcomm}", f"--wsrep-sst-receive-address=127.0.0.1:{self.sst}",
                f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{self.gcomm};"
                f"ist.recv_addr=127.0.0.1:{self.ist};{EVS}"]
        if new_cluster:
            argv.append("--wsrep-new-cluster")
        self.proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_for(lambda: self.status("wsrep_local_state_comment") == "Synced", 60, "to be Synced")

    def sql(self, text: str) -> str:
        """Runs SQL as root over the socket (on stdin: a password never reaches argv)."""
        done = subprocess.run(["mariadb", f"--socket={self.socket}", "--batch", "--skip-column-names"],
                              input=text, capture_output=True, text=True, timeout=20)
        if done.returncode:
            raise RuntimeError(f"node{self.n}: SQL failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def leave_primary(self, peer: "Node") -> str:
        """This node leaves the primary component (``isolate_or_freeze``: node2 frozen where
        this MariaDB refuses isolation; one node of two has no majority)."""
        return isolate_or_freeze(self.sql, [peer.proc.pid], f"node{self.n}")

    def back(self, peer: "Node", how: str) -> None:
        end_isolation(self.sql, [peer.proc.pid], how)

    def status(self, name: str) -> str:
        try:
            return self.sql(f"SHOW GLOBAL STATUS LIKE '{name}'").partition("\t")[2]
        except (RuntimeError, subprocess.TimeoutExpired):
            return ""

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise RuntimeError(f"node{self.n} exited ({self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node{self.n} did not come {what} within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        try:
            return " | ".join((self.dir / "error.log").read_text(errors="replace").splitlines()[-8:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)    # its session: mariadbd and any SST helper
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    _needs()
    path = Path(tempfile.mkdtemp(prefix="rao-galera-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def node1(base) -> Iterator[Node]:
    node = Node(base, 1)
    try:
        node.start("gcomm://", new_cluster=True)
        yield node
    finally:
        node.kill()


@pytest.fixture(scope="module")
def node2(base, node1) -> Iterator[Node]:
    node = Node(base, 2)
    try:
        node.start(f"gcomm://127.0.0.1:{node1.gcomm}", new_cluster=False)
        node1.wait_for(lambda: node1.status("wsrep_cluster_size") == "2", 20, "into a two-node cluster")
        yield node
    finally:
        node.kill()


class Hidden(str):
    """A password whose repr does not show it: pytest prints a failed test's arguments (the
    Debian 13 leg's failure printed this one)."""

    def __repr__(self) -> str:
        return "'<hidden>'"


@pytest.fixture(scope="module")
def password(node1) -> str:
    """The probe's user, with the USAGE privilege only (created before node 2 joins: its SST carries it)."""
    secret = Hidden(secrets.token_hex(12))
    node1.sql("".join(f"CREATE USER 'probe'@'{host}' IDENTIFIED BY '{secret}';" for host in ("127.0.0.1", "localhost")))
    assert node1.sql("SHOW GRANTS FOR 'probe'@'127.0.0.1'").startswith("GRANT USAGE ON *.* TO `probe`")
    return secret


def config(tmp_path, url: str) -> str:
    path = tmp_path / "service.conf"
    path.write_text(f"[DEFAULT]\n\n[database]\nconnection = {url}\n")
    return str(path)


def probe(tmp_path, node: Node, secret: str, via_socket: bool = False) -> dependencies.Probe:
    where = f"/keystone?unix_socket={node.socket}" if via_socket else f"127.0.0.1:{node.port}/keystone?charset=utf8"
    url = f"mysql+pymysql://probe:{secret}@{where}"
    start = time.monotonic()
    result = dependencies.database_of(config(tmp_path, url)).probe(TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + 0.2
    assert secret not in f"{result!r}" and "probe" not in result.detail + result.warning, "credentials shown"
    return result


def test_a_failed_tests_arguments_do_not_show_the_password(password):
    assert repr(password) == "'<hidden>'" and password not in repr((password,))
    assert f"{password}" == str(password) and len(password) == 24      # what the URLs get


@pytest.mark.parametrize("via_socket", [False, True], ids=["tcp", "unix-socket"])
def test_a_synced_node_answers(tmp_path, node1, password, via_socket):
    result = probe(tmp_path, node1, password, via_socket)
    assert result.ok is True and result.detail.endswith("; Galera Synced, Primary)") and not result.warning, result


@pytest.mark.parametrize("mode", ["ALL", "ALL_KILL"])
def test_a_node_that_rejects_queries_is_down(tmp_path, node1, password, mode):
    node1.sql(f"SET GLOBAL wsrep_reject_queries={mode}")
    try:
        assert node1.status("wsrep_local_state_comment") == "Synced"    # what a clustercheck would believe
        result = probe(tmp_path, node1, password)
    finally:
        node1.sql("SET GLOBAL wsrep_reject_queries=NONE")
    assert result.ok is False, result
    assert result.detail == (f"database 127.0.0.1:{node1.port} is a Galera node that refuses application "
                             f"queries (wsrep_reject_queries={mode})")
    assert probe(tmp_path, node1, password).ok is True


def test_a_desynced_node_serves_with_a_warning(tmp_path, node1, password):
    node1.sql("SET GLOBAL wsrep_desync=ON")
    try:
        result = probe(tmp_path, node1, password)
    finally:
        node1.sql("SET GLOBAL wsrep_desync=OFF")
    assert result.ok is True and "Galera Donor/Desynced, Primary" in result.detail, result
    assert "is a Galera node in state Donor/Desynced (wsrep_local_state=2)" in result.warning


def test_a_wrong_password_is_no_outage(tmp_path, node1, password):
    result = probe(tmp_path, node1, password[::-1])
    assert result.ok is True and result.detail.endswith("Galera state not read: access denied (error 1045))"), result


def test_a_frozen_node_never_greets(tmp_path, node1, password):
    """A stopped mariadbd: the kernel still accepts the connection, no greeting comes."""
    os.kill(node1.proc.pid, signal.SIGSTOP)
    try:
        result = probe(tmp_path, node1, password)
    finally:
        os.kill(node1.proc.pid, signal.SIGCONT)
    assert result.ok is False and result.detail.endswith(f"does not answer (no greeting within {TIMEOUT:.1f}s)")


def test_database_watch_reads_the_state(tmp_path, node1, password):
    """database-watch's own probe (the one its monitor runs) on a config naming the node."""
    from ocf_openstack.ocf.budget import Budget
    from ocf_openstack.ocf.log import Reporter
    from ocf_openstack.ocf.params import parse
    from ocf_openstack.watchers import database_watch

    env = {"OCF_RESKEY_configs": config(tmp_path, f"mysql+pymysql://probe:{password}@127.0.0.1:{node1.port}/k"),
           "OCF_RESOURCE_INSTANCE": "it-db-watch", "HA_RSCTMP": str(tmp_path)}
    watch = database_watch.Watch(parse(database_watch.PARAMS, env, strict=False), env, Budget(20), Reporter(env))
    assert watch.probe() == []
    node1.sql("SET GLOBAL wsrep_reject_queries=ALL")
    try:
        down = watch.probe()
    finally:
        node1.sql("SET GLOBAL wsrep_reject_queries=NONE")
    assert down == [f"database 127.0.0.1:{node1.port} is a Galera node that refuses application queries "
                    "(wsrep_reject_queries=ALL)"]


def test_the_host_mariadb_is_a_plain_server(tmp_path):
    """Debian's MariaDB (wsrep built in, off: it reports Disconnected and wsrep_ready=OFF) with
    Keystone's own configuration: a plain server that answers, no Galera verdict."""
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(HOST_MARIADB) or not os.access(KEYSTONE_CONF, os.R_OK):
            pytest.skip("the host's MariaDB does not answer on 127.0.0.1:3306 (tests/setup/mariadb-setup.sh)")
    result = dependencies.database_of(KEYSTONE_CONF).probe(TIMEOUT)
    assert result.ok is True and re.search(r"answers \(server [^;()]+\)$", result.detail), result
    assert not result.warning


def test_a_node_outside_the_primary_component_is_down(tmp_path, node1, node2, password):
    assert probe(tmp_path, node2, password).detail.endswith("Galera Synced, Primary)")   # the user came by SST
    how = node1.leave_primary(node2)
    try:
        node1.wait_for(lambda: node1.status("wsrep_cluster_status") == "non-Primary", 30, "non-Primary")
        result = probe(tmp_path, node1, password)
        assert node1.sql("SELECT 1") == "1"     # what a SELECT 1 health check would believe
    finally:
        node1.back(node2, how)
    assert result.ok is False, result
    assert result.detail == (f"database 127.0.0.1:{node1.port} is a Galera node outside the primary component "
                             "(non-Primary): it refuses application queries")
    # the two merge again once node2 runs: 2-5 s with EVS_TIMEOUTS, even at nice 19 under
    # load; REMERGE is the bound, and the print says what it took
    t0 = time.monotonic()
    node1.wait_for(lambda: node1.status("wsrep_cluster_status") == "Primary", REMERGE, "back to Primary")
    node1.wait_for(lambda: node1.status("wsrep_ready") == "ON", REMERGE, "ready")
    print(f"node1 back to Primary and ready {time.monotonic() - t0:.1f} s after the isolation ended ({how})")
    assert probe(tmp_path, node1, password).ok is True
