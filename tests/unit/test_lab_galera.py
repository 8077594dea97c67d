"""The Galera lab's pure parts (raolab.galera) and the clustercheck's verdicts and bounds
(lab/clustercheck), without a server: grastate.dat files and --wsrep-recover lines recorded
from Debian 12's mariadb-server 10.11.19 + galera-4 26.4 (tests/integration/
test_galera_lab_parts.py runs the real thing), the bootstrap choice for each case, the
rendered option file, and the HAProxy frontend checked by haproxy -c."""

import importlib.machinery
import importlib.util
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import unit_support  # noqa: F401 (puts lab/ on sys.path)
from raolab import galera, galera_ops

UUID = "eec77cc7-f14b-11f1-bade-5bd0b70ab46c"
OTHER = "d3f970df-f14b-11f1-bd62-b6dc92dd005c"
# db1, db2, db3 shut down in that order (db3 left last), as mariadbd wrote them (trailing space included)
CLEAN = {n: f"# GALERA saved state\nversion: 2.1\nuuid:    {UUID}\nseqno:   {s}\nsafe_to_bootstrap: {b}\n "
         for n, s, b in (("db1", 6, 0), ("db2", 7, 0), ("db3", 8, 1))}
# any node after kill -9
CRASHED = f"# GALERA saved state\nversion: 2.1\nuuid:    {OTHER}\nseqno:   -1\nsafe_to_bootstrap: 0\n"
RECOVER_LOG = (
    "2026-12-06  8:06:38 0 [Warning] WSREP: wsrep_sst_receive_address is set to '127.0.0.1:4487' which makes "
    "it impossible for another host to reach this one. Please set it to the address which this node can be "
    "connected at by other cluster members.\n"
    f"2026-12-06  8:06:38 0 [Note] WSREP: Recovered position: {UUID}:6\n")
CLUSTERCHECK = Path(__file__).resolve().parents[2] / "lab" / "clustercheck"


def node(i: int, **kw) -> galera.Node:
    return galera.Node(f"db{i}", "127.0.0.1", f"/tmp/g/db{i}", port=3326 + i, gcomm_port=4586 + i,
                       ist_port=4686 + i, sst_port=4486 + i, check_port=9206 + i, **kw)


# ------------------------------------------------------------------ grastate.dat, --wsrep-recover

def test_a_clean_shutdown_grastate():
    assert galera.parse_grastate(CLEAN["db3"]) == galera.GraState(UUID, 8, True)
    assert galera.parse_grastate(CLEAN["db1"]) == galera.GraState(UUID, 6, False)


def test_a_crashed_grastate():
    assert galera.parse_grastate(CRASHED) == galera.GraState(OTHER, -1, False)


@pytest.mark.parametrize("text", ["", "# GALERA saved state\nversion: 2.1\n", f"uuid: {UUID}\nseqno: x\n"])
def test_a_grastate_without_uuid_or_seqno_is_refused(text):
    with pytest.raises(ValueError, match="without a valid uuid and seqno"):
        galera.parse_grastate(text)


def test_marking_safe_changes_only_that_line():
    assert galera.mark_safe(CRASHED) == CRASHED.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
    assert galera.parse_grastate(galera.mark_safe(f"uuid: {UUID}\nseqno: 3\n")).safe_to_bootstrap


def test_the_recovered_position():
    assert galera.parse_recovered(RECOVER_LOG) == galera.Position(UUID, 6)
    assert galera.parse_recovered(RECOVER_LOG + f"... WSREP: Recovered position: {OTHER}:12\n") == \
        galera.Position(OTHER, 12)   # the last one
    assert galera.parse_recovered("2026-12-06  8:06:38 0 [Note] InnoDB: Starting shutdown...\n") is None


# ------------------------------------------------------------------ the bootstrap choice

def cands(*states, recovered=()):
    rec = dict(recovered)
    return [galera.Candidate(f"db{i}", None if s is None else galera.parse_grastate(s), rec.get(f"db{i}"))
            for i, s in enumerate(states, 1)]


def test_after_a_clean_stop_the_node_that_left_last():
    d = galera.choose(cands(CLEAN["db1"], CLEAN["db2"], CLEAN["db3"]))
    assert (d.bootstrap, d.joiners, d.mark_safe) == ("db3", ["db1", "db2"], False)
    assert d.text == (f"bootstrap db3 (--wsrep-new-cluster) in cluster {UUID}: db3 says safe_to_bootstrap: 1 "
                      "(it left the cluster last; seqno 8); db1 joins from seqno 6, 2 behind: IST if the donor's "
                      "gcache holds them, else SST; db2 joins from seqno 7, 1 behind: IST if the donor's gcache "
                      "holds them, else SST")
    assert d.positions["db3"] == galera.Position(UUID, 8)


def test_after_a_crash_the_highest_recovered_position_and_ties_by_node_order():
    rec = {"db1": galera.Position(OTHER, 11), "db2": galera.Position(OTHER, 13), "db3": galera.Position(OTHER, 13)}
    d = galera.choose(cands(CRASHED, CRASHED, CRASHED, recovered=rec))
    assert (d.bootstrap, d.joiners, d.mark_safe) == ("db2", ["db1", "db3"], True)
    assert d.positions == rec
    assert d.text.startswith(
        f"bootstrap db2 (--wsrep-new-cluster) in cluster {OTHER}: no node says safe_to_bootstrap: 1 (the cluster "
        "stopped without a last node to leave); db2 has the highest position, seqno 13 (from --wsrep-recover) "
        "(db3 too: the first in node order): its grastate.dat is marked safe_to_bootstrap: 1 first; "
        "db1 joins from seqno 11, 2 behind")
    assert "db3 joins from seqno 13, the same position" in d.text
    # the same positions in another order: still a stable choice (the first in the given order)
    assert galera.choose(list(reversed(cands(CRASHED, CRASHED, CRASHED, recovered=rec)))).bootstrap == "db3"


def test_a_crash_with_one_clean_grastate():
    """db3 stopped cleanly before the others crashed: its seqno is in grastate, theirs recovered."""
    rec = {"db1": galera.Position(UUID, 9), "db2": galera.Position(UUID, 10)}
    d = galera.choose(cands(CLEAN["db1"].replace("seqno:   6", "seqno:   -1"),
                            CLEAN["db2"].replace("seqno:   7", "seqno:   -1"),
                            CLEAN["db3"].replace("safe_to_bootstrap: 1", "safe_to_bootstrap: 0"), recovered=rec))
    assert d.bootstrap == "db2" and d.mark_safe and "seqno 10 (from --wsrep-recover)" in d.text


def test_differing_uuids_refuse_and_say_why():
    rec = {"db3": galera.Position(OTHER, 40)}
    d = galera.choose(cands(CLEAN["db1"], CLEAN["db2"], CRASHED, recovered=rec))
    assert d.bootstrap is None and d.joiners == [] and not d.mark_safe
    assert d.text == (f"no bootstrap: the nodes hold different cluster histories (db3 in {OTHER}; db1, db2 in "
                      f"{UUID}): bootstrapping from one discards the others' transactions; decide by hand, and "
                      "move the data directory of the nodes you give up aside so that they join by SST")


def test_a_safe_node_behind_another_refuses():
    d = galera.choose(cands(CLEAN["db1"].replace("seqno:   6", "seqno:   9"), CLEAN["db2"], CLEAN["db3"]))
    assert d.bootstrap is None
    assert d.text == ("no bootstrap: db3 says safe_to_bootstrap: 1 at seqno 8, but db1 has seqno 9: one of them "
                      "holds transactions the other lacks; decide by hand")


@pytest.mark.parametrize("recovered", [None, galera.Position(galera.NO_UUID, -1)], ids=["none", "zero"])
def test_an_unknown_position_refuses(recovered):
    d = galera.choose(cands(CLEAN["db1"], CRASHED.replace(OTHER, UUID), recovered={"db2": recovered}))
    assert d.bootstrap is None
    assert d.text == ("no bootstrap: the position of db2 is unknown (grastate.dat says seqno -1 and "
                      "--wsrep-recover recovered none): it may hold the latest transactions")


def test_fresh_data_directories_make_a_new_cluster():
    zero = f"version: 2.1\nuuid:    {galera.NO_UUID}\nseqno:   -1\nsafe_to_bootstrap: 0\n"
    d = galera.choose(cands(None, zero, None, recovered={"db2": galera.Position(galera.NO_UUID, -1)}))
    assert (d.bootstrap, d.joiners, d.positions, d.mark_safe) == ("db1", ["db2", "db3"], {}, False)
    assert d.text == ("no node has a Galera state (new data directories): a new cluster from db1, "
                      "the others join by SST")


def test_a_fresh_node_joins_a_cluster_that_has_a_history():
    d = galera.choose(cands(None, CLEAN["db2"], CLEAN["db3"]))
    assert d.bootstrap == "db3" and d.joiners == ["db1", "db2"] and "db1 joins by SST (no Galera state)" in d.text


def test_how_a_joiner_got_its_data():
    assert galera_ops.transfer("WSREP_SST: [INFO] rsync SST completed on joiner (20261206 08:02:32.624)\n"
                               "... WSREP: IST received: x:2\n") == "SST"
    assert galera_ops.transfer("WSREP_SST: [INFO] rsync IST completed on joiner (20261206 08:02:46.044)\n"
                               "... WSREP: SST received: x:6\n... WSREP: IST received: x:10\n") == "IST"
    assert galera_ops.transfer("... WSREP: Synchronized with group, ready for connections\n") == "no transfer"


class FakeNodes:
    """run and spawn for galera_ops.restart: --wsrep-recover answers from ``recovered``, a
    started node is Synced at once and writes ``logs[name]`` (one text per start) to its log."""

    def __init__(self, recovered, logs):
        self.recovered, self.logs = recovered, {k: list(v) for k, v in logs.items()}
        self.started, self.argv = set(), []

    def run(self, node, argv, stdin=None):
        out = err = ""
        if "--wsrep-recover" in argv:
            err = RECOVER_LOG.replace(f"{UUID}:6", self.recovered[node.name])
        elif argv[0] == "mariadb" and node.name in self.started:
            out = "wsrep_cluster_size\t3\nwsrep_cluster_status\tPrimary\nwsrep_local_state_comment\tSynced\n" \
                  "wsrep_ready\tON\n"
        return subprocess.CompletedProcess(argv, 0, out, err)

    def spawn(self, node, argv):
        self.argv.append((node.name, argv[3:]))
        text = self.logs[node.name].pop(0)
        with open(node.error_log, "a") as f:
            f.write(text)
        if galera_ops.ABORTED not in text:
            self.started.add(node.name)


def test_the_restart_procedure_after_a_crash(tmp_path):
    """Recover, choose, mark safe, bootstrap with the recovered position, the joiners one at
    a time; a joiner that never reached the primary component is started again once."""
    nodes = [node(i)._replace(home=str(tmp_path / f"db{i}")) for i in (1, 2, 3)]
    for n in nodes:
        Path(n.datadir).mkdir(parents=True)
        Path(n.grastate).write_text(CRASHED)
    no_view = ("[ERROR] WSREP: failed to open gcomm backend connection: 110: failed to reach primary view\n"
               f"{galera_ops.ABORTED}\n")
    ist = "WSREP_SST: [INFO] rsync IST completed on joiner (20261206 08:02:46.044)\n"
    fake = FakeNodes({"db1": f"{OTHER}:5", "db2": f"{OTHER}:7", "db3": f"{OTHER}:4"},
                     {"db1": [ist], "db2": [""], "db3": [no_view, ist]})
    said = []
    done = galera_ops.restart(nodes, fake.run, fake.spawn, said.append, timeout=5)
    assert done.decision.bootstrap == "db2" and done.transfers == {"db1": "IST", "db3": "IST"}
    assert fake.argv == [("db2", ["--wsrep-new-cluster", f"--wsrep-start-position={OTHER}:7"]),
                         ("db1", [f"--wsrep-start-position={OTHER}:5"]),
                         ("db3", [f"--wsrep-start-position={OTHER}:4"]),
                         ("db3", [f"--wsrep-start-position={OTHER}:4"])]
    assert galera.parse_grastate(Path(nodes[1].grastate).read_text()).safe_to_bootstrap
    assert not galera.parse_grastate(Path(nodes[0].grastate).read_text()).safe_to_bootstrap
    assert len(said) == 5 and said[0] == done.decision.text
    assert said[1].startswith("db2 bootstrapped a primary component (") and said[2].startswith("db1 joined (IST, ")
    assert said[3] == "db3 did not reach the primary component and exited; starting it again"
    assert said[4].startswith("db3 joined (IST, ")


def test_one_node_rejoins_from_its_recovered_position(tmp_path):
    one = node(1)._replace(home=str(tmp_path / "db1"))
    Path(one.datadir).mkdir(parents=True)
    Path(one.grastate).write_text(CRASHED)
    fake = FakeNodes({"db1": f"{OTHER}:41"}, {"db1": ["WSREP_SST: [INFO] rsync IST completed on joiner (x)\n"]})
    assert galera_ops.rejoin(one, fake.run, fake.spawn, timeout=5) == "IST"
    assert fake.argv == [("db1", [f"--wsrep-start-position={OTHER}:41"])]


def test_the_restart_refuses_and_starts_nothing(tmp_path):
    nodes = [node(i)._replace(home=str(tmp_path / f"db{i}")) for i in (1, 2)]
    for n, text in zip(nodes, (CLEAN["db1"], CRASHED)):
        Path(n.datadir).mkdir(parents=True)
        Path(n.grastate).write_text(text)
    fake = FakeNodes({"db2": f"{OTHER}:9"}, {})
    with pytest.raises(galera_ops.GaleraError, match="^no bootstrap: the nodes hold different cluster histories"):
        galera_ops.restart(nodes, fake.run, fake.spawn, lambda _: None)
    assert fake.argv == [] and Path(nodes[1].grastate).read_text() == CRASHED


# ------------------------------------------------------------------ rendering

def test_the_option_file():
    nodes = [node(1), node(2), node(3)]
    text = galera.render_cnf(nodes[1], nodes, provider_options="gcache.size=16M", settings={"max_connections": "50"})
    lines = text.splitlines()
    assert lines[1] == "[mysqld]"
    values = dict(line.split(" = ", 1) for line in lines[2:])
    assert values["wsrep_cluster_address"] == "gcomm://127.0.0.1:4587,127.0.0.1:4588,127.0.0.1:4589"
    assert values["wsrep_provider_options"] == \
        '"gmcast.listen_addr=tcp://127.0.0.1:4588;ist.recv_addr=127.0.0.1:4688;gcache.size=16M"'
    for key, value in {"wsrep_on": "ON", "wsrep_provider": "/usr/lib/galera/libgalera_smm.so",
                       "wsrep_node_name": "db2", "wsrep_node_address": "127.0.0.1:4588",
                       "wsrep_sst_method": "rsync", "wsrep_sst_receive_address": "127.0.0.1:4488",
                       "binlog_format": "ROW", "default_storage_engine": "InnoDB", "innodb_autoinc_lock_mode": "2",
                       "bind_address": "127.0.0.1", "port": "3328", "datadir": "/tmp/g/db2/data",
                       "tmpdir": "/tmp/g/db2/tmp", "socket": "/tmp/g/db2/mysqld.sock",
                       "pid_file": "/tmp/g/db2/mysqld.pid", "log_error": "/tmp/g/db2/error.log",
                       "max_connections": "50"}.items():
        assert values[key] == value, key


def test_the_lab_nodes_keep_the_default_ports_in_their_namespaces(tmp_path):
    nodes = galera.lab_nodes(tmp_path, "10.232.0")
    assert [(n.name, n.address) for n in nodes] == [("db1", "10.232.0.251"), ("db2", "10.232.0.252"),
                                                    ("db3", "10.232.0.253")]
    text = galera.render_cnf(nodes[0], nodes)
    assert "wsrep_cluster_address = gcomm://10.232.0.251:4567,10.232.0.252:4567,10.232.0.253:4567\n" in text
    assert "socket = /run/mysqld/mysqld.sock\n" in text and "wsrep_sst_receive_address = 10.232.0.251:4444\n" in text
    assert "gcache.recover=yes" in text and "innodb_buffer_pool_size = 64M\n" in text


def haproxy_check(path: Path) -> str:
    if not shutil.which("haproxy", path="/usr/sbin:/usr/bin"):
        pytest.skip("haproxy is not installed")
    done = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_frontend_section(tmp_path):
    nodes = galera.lab_nodes(tmp_path, "10.232.0")
    text = galera.render_frontend("10.232.0.250", nodes)
    lines = [line.strip() for line in text.splitlines()]
    listen = lines[lines.index("listen galera from galera-tcp"):]
    assert listen[1] == "bind 10.232.0.250:3306"
    for line in ("option httpchk", "http-check expect status 200", "stick on dst", "option tcpka"):
        assert line in listen
    assert "mode tcp" in lines and "timeout server 90m" in lines and "timeout client 90m" in lines
    assert [line for line in listen if line.startswith("server ")] == [
        f"server db{i} 10.232.0.25{i}:3306 check port 9200 inter 1s fall 2 rise 2 on-marked-down shutdown-sessions"
        + (" backup" if i > 1 else "") for i in (1, 2, 3)] + ["server last-resort 10.232.0.251:3306 backup non-stick"]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(galera.render_haproxy(text, str(tmp_path / "admin.sock")))
    assert "WARNING" not in haproxy_check(cfg)


def test_the_frontend_joins_the_controllers_http_example(tmp_path):
    """Appended to the package's example (an http-mode defaults): its own defaults apply, no warning."""
    example = Path(__file__).resolve().parents[2] / "haproxy" / "haproxy.cfg"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(example.read_text() + "\n" + galera.render_frontend("192.0.2.10", [node(1), node(2), node(3)]))
    assert "WARNING" not in haproxy_check(cfg)


# ------------------------------------------------------------------ the clustercheck

@pytest.fixture(scope="module")
def cc():
    loader = importlib.machinery.SourceFileLoader("clustercheck", str(CLUSTERCHECK))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("clustercheck", loader))
    loader.exec_module(module)
    return module


def values(state="4", status="Primary", ready="ON", reject="NONE", on="1"):
    return {"wsrep_on": on, "wsrep_reject_queries": reject, "wsrep_ready": ready, "wsrep_cluster_status": status,
            "wsrep_local_state": state, "wsrep_local_state_comment": "whatever"}


@pytest.mark.parametrize("reading,donor_ok,expected", [
    (values(), False, (200, "is Galera Synced, Primary")),
    (values(reject="ALL"), False,
     (503, "is a Galera node that refuses application queries (wsrep_reject_queries=ALL)")),
    (values(status="non-Primary", ready="OFF"), False,
     (503, "is a Galera node outside the primary component (non-Primary): it refuses application queries")),
    (values(ready="OFF"), False,
     (503, "is a Galera node that refuses application queries (not ready: wsrep_ready=OFF, Synced)")),
    (values(state="2"), False, (503, "is a Galera node in state Donor/Desynced (wsrep_local_state=2), not Synced")),
    (values(state="2"), True, (200, "is Galera Donor/Desynced, Primary")),
    (values(state="3"), True, (503, "is a Galera node in state Joined (wsrep_local_state=3), not Synced")),
    (values(on="0"), False, (503, "is not a Galera node (wsrep_on is off)")),
    (None, False, (503, "mariadbd did not answer within 1.5s")),
    (OSError(2002, "no socket"), False, (503, "mariadbd does not answer on its socket (error 2002)")),
    (OSError(1045, "denied"), False, (503, "the monitoring user's login is refused (error 1045)")),
], ids=["synced", "reject", "non-primary", "not-ready", "donor", "donor-ok", "joined", "plain", "timeout",
        "no-socket", "denied"])
def test_the_verdicts(cc, reading, donor_ok, expected):
    assert cc.verdict(reading, 1.5, donor_ok) == expected


class SlowReader:
    """The clustercheck's Reader with mariadbd answering after ``delay`` seconds (counted)."""

    def __init__(self, cc, delay):
        self.inner = cc.Reader("/nonexistent", "u", "p", 0.5)
        self.inner.query = self.query
        self.delay, self.calls = delay, 0
        self.timeout = self.inner.timeout

    def query(self):
        self.calls += 1
        time.sleep(self.delay)
        return values()

    def get(self, arrived, end):
        return self.inner.get(arrived, end)


@pytest.fixture
def serve(cc):
    """A clustercheck server on an ephemeral loopback port with a fake mariadbd; yields (port, reader)."""
    started = []

    def start(delay=0.0, max_clients=4):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        reader = SlowReader(cc, delay)
        server = cc.Server(listener, reader, "db9", False, 0.5, max_clients)
        threading.Thread(target=server.serve, daemon=True).start()
        started.append(listener)
        return listener.getsockname()[1], reader
    yield start
    for listener in started:
        listener.close()


def ask(port, data, timeout=5.0):
    """Send data, read until closed: (the answer, seconds)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(4096):
                got += chunk
        except ConnectionResetError:    # closed with our bytes unread: what came before counts
            pass
    return got.decode(errors="replace"), time.monotonic() - t0


def test_haproxys_check_gets_200(serve):
    port, _ = serve()
    answer, _ = ask(port, b"OPTIONS / HTTP/1.0\r\n\r\n")
    assert answer.startswith("HTTP/1.1 200 OK\r\n") and answer.endswith("\r\n\r\ndb9 is Galera Synced, Primary\r\n")


@pytest.mark.parametrize("data", [b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", b"hello\n\n", b"A" * 10000],
                         ids=["tls-hello", "words", "10k-no-newline"])
def test_garbage_gets_400_at_once(serve, data):
    port, reader = serve()
    answer, seconds = ask(port, data)
    assert seconds < 0.45 and reader.calls == 0
    # 10 kB: answered after the first 4 kB; the rest unread, the kernel may reset before the client reads
    assert answer.startswith("HTTP/1.1 400 Bad Request\r\n") or (len(data) > 4096 and answer == ""), answer


def test_a_silent_or_slow_client_is_closed_within_the_bound(serve):
    port, reader = serve()
    answer, seconds = ask(port, b"")
    assert answer == "" and 0.45 < seconds < 1.2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        t0 = time.monotonic()
        for byte in b"GET / HTTP/1.0\r\n":     # one byte every 0.1 s: 1.6 s for the request line
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        try:
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 1.2
    assert reader.calls == 0


def test_a_hung_mariadbd_costs_a_request_its_timeout_and_one_query(serve):
    port, reader = serve(delay=2.0, max_clients=8)
    results = []
    threads = [threading.Thread(target=lambda: results.append(ask(port, b"GET / HTTP/1.0\r\n\r\n"))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 5 and reader.calls == 1
    for answer, seconds in results:
        assert answer.startswith("HTTP/1.1 503 ") and answer.endswith("db9 mariadbd did not answer within 0.5s\r\n")
        assert seconds < 1.2


def test_beyond_max_clients_a_connection_is_closed_at_once(serve):
    port, _ = serve(max_clients=2)
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.1)
        answer, seconds = ask(port, b"GET / HTTP/1.0\r\n\r\n")
        assert answer == "" and seconds < 0.3
    finally:
        for sock in silent:
            sock.close()
    time.sleep(0.6)      # the silent ones' bound passed: their slots are free again
    assert ask(port, b"GET / HTTP/1.0\r\n\r\n")[0].startswith("HTTP/1.1 200 OK")


def test_the_credentials_file_must_be_private(cc, tmp_path):
    path = tmp_path / "cc.cnf"
    path.write_text(galera_ops.credentials_text("clustercheck", "s3cret"))
    path.chmod(0o644)
    with pytest.raises(SystemExit, match="no one else may read or write .*mode 0644"):
        cc.credentials(str(path))
    path.chmod(0o600)
    assert cc.credentials(str(path)) == ("clustercheck", "s3cret")
    link = tmp_path / "link.cnf"
    os.symlink(path, link)
    with pytest.raises(SystemExit, match="cannot open"):
        cc.credentials(str(link))


# ------------------------------------------------------------------ the lab's frontend, read back

# `show stat` and `show table galera` of the lab's frontend (HAProxy 2.6), the columns cut to
# those read (the parser goes by the header's names)
STAT = """# pxname,svname,status,iid,sid,throttle
galera,FRONTEND,OPEN,2,0,
galera,db1,{db1},2,1,
galera,db2,{db2},2,2,
galera,db3,{db3},2,3,
galera,last-resort,no check,2,4,
galera,BACKEND,UP,2,0,
"""
TABLE = "# table: galera, type: ip, size:1000, used:1\n0x7fd55402a4f0: key=10.232.0.250 use=0 exp=0 server_id={sid} server_key=db{sid}\n"


def stat(db1="UP", db2="UP", db3="UP"):
    return STAT.format(db1=db1, db2=db2, db3=db3)


def test_the_frontend_sends_to_the_stuck_server_while_it_is_up():
    from raolab import galera_lab
    assert galera_lab.frontend_states(stat(db1="DOWN")) == {"db1": "DOWN", "db2": "UP", "db3": "UP",
                                                            "last-resort": "no check"}
    assert galera_lab.frontend_server(stat(), TABLE.format(sid=1)) == "db1"
    # db1 came back: the table still names db2, and so does the frontend
    assert galera_lab.frontend_server(stat(), TABLE.format(sid=2)) == "db2"
    # the stuck server is down: the first one up in the frontend's order
    assert galera_lab.frontend_server(stat(db2="DOWN 1/2"), TABLE.format(sid=2)) == "db1"
    assert galera_lab.frontend_server(stat(db1="DOWN", db2="DOWN"), "") == "db3"
    # no node passes its check: the unchecked last resort
    assert galera_lab.frontend_server(stat("DOWN", "DOWN", "MAINT"), TABLE.format(sid=1)) == "last-resort"
    assert galera_lab.frontend_server(stat().replace("last-resort,no check", "last-resort,MAINT"), "") == "db1"
    assert galera_lab.frontend_server("", "") is None


def test_a_database_watch_verdict_counts_from_the_drills_start():
    from raolab.drills import galera as drills
    line = ("log.py(database-watch)[1869]:\tDec 06 11:08:41 WARNING: database-watch: openstack-db=0: database "
            "openstack-db:3306 is a Galera node outside the primary component (non-Primary): it refuses ...")
    at = time.mktime(time.strptime(f"{time.strftime('%Y')} Dec 06 11:08:41", "%Y %b %d %H:%M:%S"))
    assert drills._logged_after(line, at) and not drills._logged_after(line, at + 1)
    assert drills.GALERA_NAMES.search(drills.WATCH_VERDICT.search(line).group(1))
    assert not drills._logged_after("Dec 06 11:08:41.735 node1 pacemaker-controld [59] info: ...", 0)
