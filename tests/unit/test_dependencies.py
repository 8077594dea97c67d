"""Dependency probes (dependencies.py) and the monitor's verdict: a failure that a dead
dependency explains is degraded (190), anything else is the service's (1).

The database is a fake MySQL server on loopback that greets and answers a login and the
probe's queries like a plain MariaDB (or, in test_galera, like a Galera node in each state),
stays silent, refuses (an error packet) or closes; or a port nothing listens on; or a
connection string the agent can not probe. The depth-10 check is stubbed to fail with each
kind of failure."""

import socket
import struct

import pytest
from ocf_openstack.checks import dependencies, galera, health
from ocf_openstack.checks.health import HealthResult
from ocf_openstack.host import process
from ocf_openstack.services import glance, keystone
from unit_support import depth10_env, free_port, needs_proc, reason, run, wait_for

DB_PASSWORD = "Db-S3cret-pw-4711"
# protocol 41, secure connection and plugin auth: what pymysql needs to log in
CAPABILITIES = 0x1 | 0x4 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000
GREETING = (b"\x0a5.5.5-10.11.19-MariaDB\x00" + struct.pack("<I", 7) + b"scramble" + b"\x00"
            + struct.pack("<HBHHB", CAPABILITIES & 0xFFFF, 45, 2, CAPABILITIES >> 16, 21) + b"\x00" * 10
            + b"12-more-byte\x00" + b"mysql_native_password\x00")
OK = b"\x00\x00\x00\x02\x00\x00\x00"
EOF_PACKET = b"\xfe\x00\x00\x02\x00"
COM_QUIT = 1
# what a plain MariaDB built with wsrep (Debian's) answers the probe's first query
PLAIN = {galera.SETTINGS_QUERY: [("0", "NONE")]}


def packet(payload: bytes, seq: int = 0) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def error(code: int, message: str, state: str = "HY000") -> bytes:
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode()


def _lenenc(value) -> bytes:
    data = str(value).encode()
    return bytes([len(data)]) + data


def _read_client_packet(conn: socket.socket) -> bytes:
    header = b""
    while len(header) < 4:
        chunk = conn.recv(4 - len(header))
        if not chunk:
            return b""
        header += chunk
    size, body = int.from_bytes(header[:3], "little"), b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            return b""
        body += chunk
    return body


def _answer(answer) -> bytes:
    """A query's answer: rows (a result set of string columns) or (code, message), an error."""
    if isinstance(answer, tuple):
        return packet(error(*answer), 1)
    width = len(answer[0]) if answer else 2
    out = [bytes([width])]
    # column definitions: catalog, schema, tables, names; utf8, VAR_STRING
    out += [b"".join(_lenenc(x) for x in ("def", "", "", "", f"c{i}", ""))
            + b"\x0c" + struct.pack("<HIBHBxx", 33, 64, 253, 0, 0) for i in range(width)]
    out += [EOF_PACKET] + [b"".join(_lenenc(v) for v in row) for row in answer] + [EOF_PACKET]
    return b"".join(packet(p, seq) for seq, p in enumerate(out, 1))


def mysql_session(answers=None, login_error=None):
    """A fake MySQL server's side of one connection: greeting, login (OK, or the error packet
    ``login_error`` = (code, message)), then each query answered from ``answers`` (query ->
    rows or (code, message); a plain MariaDB's answer by default). Records what it read."""
    answers = PLAIN if answers is None else answers

    def talk(conn, stop):
        conn.sendall(packet(GREETING))
        talk.logins.append(_read_client_packet(conn))
        if login_error:
            conn.sendall(packet(error(*login_error, state="28000"), 2))
            return
        conn.sendall(packet(OK, 2))
        while True:
            request = _read_client_packet(conn)
            if not request or request[0] == COM_QUIT:
                return
            query = request[1:].decode()
            if query.upper().startswith("SET NAMES "):   # pymysql 1.1 (Debian 13) sends it after the login
                conn.sendall(packet(OK, 1))
                continue
            talk.queries.append(query)
            conn.sendall(_answer(answers.get(query, (1064, "You have an error in your SQL syntax"))))
    talk.logins, talk.queries = [], []
    return talk


@pytest.fixture
def mysql(raw_server, silent_port):
    """Factory: a fake database in a mode -> its port."""
    def make(mode: str) -> int:
        if mode == "answers":
            return raw_server(mysql_session())
        if mode == "greets-only":
            return raw_server(lambda conn, stop: conn.sendall(packet(GREETING)))
        if mode == "refuses-clients":
            return raw_server(lambda conn, stop: conn.sendall(
                packet(b"\xff" + struct.pack("<H", 1040) + b"#08004Too many connections")))
        if mode == "closes":
            return raw_server(lambda conn, stop: None)
        if mode == "hangs":
            return silent_port
        if mode == "down":
            return free_port()
        raise ValueError(mode)
    return make


def config_with(tmp_path, connection: str) -> str:
    path = tmp_path / "service.conf"
    path.write_text(f"[DEFAULT]\ndebug = false\n\n[database]\nconnection = {connection}\n")
    return str(path)


def mysql_url(port: int) -> str:
    return f"mysql+pymysql://keystone:{DB_PASSWORD}@127.0.0.1:{port}/keystone"


# ---------------------------------------------------------------- parsing

@pytest.mark.parametrize("url, where", [
    ("mysql+pymysql://k:pw@openstack-db/keystone", "openstack-db:3306"),
    ("mysql://k:pw@db.example:3307/keystone?charset=utf8", "db.example:3307"),
    ("mariadb+pymysql://k:pw@[::1]:3306/k", "[::1]:3306"),
    ("mysql+pymysql://k:pw@/k?unix_socket=/run/mysqld/mysqld.sock", "/run/mysqld/mysqld.sock"),
    ("sqlite:////var/lib/keystone/keystone.db", "/var/lib/keystone/keystone.db"),
])
def test_database_urls(url, where):
    assert dependencies.parse_database_url(url).where == where


@pytest.mark.parametrize("url, why", [
    ("", "empty"),
    (f"postgresql://u:{DB_PASSWORD}@h/d", "can not probe"),
    (f"mysql://u:{DB_PASSWORD}@h:port/d", "does not parse"),
    (f"mysql://u:{DB_PASSWORD}@/d", "without a host"),
])
def test_unprobeable_urls_never_quote_the_password(url, why):
    with pytest.raises(ValueError) as err:
        dependencies.parse_database_url(url)
    assert why in str(err.value) and DB_PASSWORD not in str(err.value)


# ---------------------------------------------------------------- probes

@pytest.mark.parametrize("mode, ok, words", [
    ("answers", True, "answers (server 5.5.5-10.11.19-MariaDB)"),
    ("refuses-clients", False, "refuses clients (error 1040: 08004Too many connections)"),
    ("closes", False, "refuses clients (closed the connection without a greeting)"),
    ("greets-only", False, "closed the connection after its greeting"),
    ("hangs", False, "does not answer (no greeting within 0.5s)"),
    ("down", False, "refuses connections"),
])
def test_mysql_probe(tmp_path, mysql, mode, ok, words):
    dep = dependencies.database_of(config_with(tmp_path, mysql_url(mysql(mode))))
    result = dep.probe(0.5)
    assert result.ok is ok and words in result.detail, result
    assert DB_PASSWORD not in result.detail + dep.name


def test_sqlite_probe(tmp_path):
    db = tmp_path / "k.db"
    assert dependencies.database_of(config_with(tmp_path, f"sqlite:///{db}")).probe(1).ok is False
    db.write_bytes(b"")
    assert dependencies.database_of(config_with(tmp_path, f"sqlite:///{db}")).probe(1).ok is True


def test_unreadable_config_or_no_connection_is_unknown(tmp_path):
    assert dependencies.database_of(str(tmp_path / "missing.conf")).probe(1).ok is None
    empty = tmp_path / "empty.conf"
    empty.write_text("[DEFAULT]\n")
    result = dependencies.database_of(str(empty)).probe(1)
    assert result.ok is None and "is empty" in result.detail


def test_check_leaves_no_probe_without_time(tmp_path, mysql):
    dep = dependencies.database_of(config_with(tmp_path, mysql_url(mysql("answers"))))
    verdict = dependencies.check([dep], lambda: 0.0, 2.0)
    assert verdict.down == () and "no time left" in verdict.unknown[0].detail


# ---------------------------------------------------------------- the monitor's verdict

KINDS = {health.SERVER_ERROR: 190, health.TIMEOUT: 190, health.CLOSED: 190,
         health.REFUSED: 1, health.TLS: 1, health.REJECTED: 1}


def _monitor(env, tmp_path, capsys, db_mode, mysql, failure_kind=None, depth=10, probe=False):
    url = "postgresql://u:%s@h/d" % DB_PASSWORD if db_mode == "unparsable" else mysql_url(mysql(db_mode))
    env.update(OCF_RESKEY_config=config_with(tmp_path, url), OCF_RESKEY_CRM_meta_timeout="20000")
    if probe:
        env["OCF_RESKEY_CRM_meta_interval"] = "0"
    spec = keystone.SPEC
    if depth == 10:
        depth10_env(env)
        spec = spec._replace(depth10=lambda check: HealthResult(False, f"token request failed ({failure_kind})",
                                                                kind=failure_kind))
    rc, out, err = run(spec, "monitor", env, capsys)
    assert DB_PASSWORD not in out + err
    return rc, err


@needs_proc
@pytest.mark.parametrize("kind, expected", sorted(KINDS.items()))
@pytest.mark.parametrize("db_mode", ["down", "hangs", "refuses-clients"])
def test_depth10_failure_with_the_database_down(monitored, tmp_path, capsys, mysql, db_mode, kind, expected):
    rc, err = _monitor(monitored[1], tmp_path, capsys, db_mode, mysql, kind)
    assert rc == expected, err
    if expected == 190:
        assert "database 127.0.0.1:" in reason(err) and "restarting keystone would not help" in reason(err)


@needs_proc
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_depth10_failure_with_the_database_answering_is_the_services(monitored, tmp_path, capsys, mysql, kind):
    rc, err = _monitor(monitored[1], tmp_path, capsys, "answers", mysql, kind)
    assert rc == 1 and "would not help" not in reason(err)


@needs_proc
def test_depth10_failure_with_an_unprobeable_database_says_so(monitored, tmp_path, capsys, mysql):
    rc, err = _monitor(monitored[1], tmp_path, capsys, "unparsable", mysql, health.TIMEOUT)
    assert rc == 1 and "its dependencies could not be checked" in reason(err)
    assert "postgresql database URL, which the agent can not probe" in reason(err)


@needs_proc
@pytest.mark.parametrize("probe, expected", [(False, 190), (True, 0)])
def test_healthcheck_timeout_with_the_database_down(monitored, tmp_path, capsys, mysql, silent_port,
                                                    probe, expected):
    env = monitored[1]
    env.update(OCF_RESKEY_url=f"http://127.0.0.1:{silent_port}", OCF_RESKEY_http_timeout="1")
    rc, err = _monitor(env, tmp_path, capsys, "down", mysql, depth=0, probe=probe)
    assert rc == expected, err   # a probe never returns 190: it reports the service running
    if probe:
        assert "ocf-exit-reason" not in err


@needs_proc
def test_healthcheck_503_is_the_services_even_with_the_database_down(monitored, http_server, tmp_path,
                                                                    capsys, mysql):
    http_server.routes[("GET", "/healthcheck")] = (503, b"DISABLED BY FILE", {})
    rc, err = _monitor(monitored[1], tmp_path, capsys, "down", mysql, depth=0)
    assert rc == 1 and "503" in reason(err)


@needs_proc
def test_start_never_returns_190(daemon, agent_env, silent_port, tmp_path, capsys, mysql):
    """A start whose service never becomes healthy (its database down) fails: 1, not 190."""
    agent_env.update(OCF_RESKEY_config=config_with(tmp_path, mysql_url(mysql("down"))),
                     OCF_RESKEY_url=f"http://127.0.0.1:{silent_port}", OCF_RESKEY_CRM_meta_timeout="3000",
                     OCF_RESKEY_pid=daemon[1], OCF_RESKEY_binary="/usr/bin/sleep", OCF_RESKEY_user="",
                     OCF_RESKEY_log_file=str(tmp_path / "log"))
    rc, _, err = run(glance.SPEC, "start", agent_env, capsys)
    assert rc not in (0, 190), err


@needs_proc
def test_a_database_that_came_back_during_the_check_is_no_failure(monitored, tmp_path, capsys, mysql, caplog):
    """The check timed out while the database was frozen; by the time the agent asks, the
    database answers again: a second check decides (here it passes: 0, not a restart)."""
    env = depth10_env(monitored[1])
    env.update(OCF_RESKEY_config=config_with(tmp_path, mysql_url(mysql("answers"))),
               OCF_RESKEY_CRM_meta_timeout="20000")
    results = iter([HealthResult(False, "token request timed out", kind=health.TIMEOUT), HealthResult(True, "fine")])
    rc, _, err = run(keystone.SPEC._replace(depth10=lambda check: next(results)), "monitor", env, capsys)
    assert rc == 0 and "ocf-exit-reason" not in err
    assert "a second check passed" in caplog.text


@needs_proc
def test_a_second_failure_with_the_database_answering_is_the_services(monitored, tmp_path, capsys, mysql):
    env = depth10_env(monitored[1])
    env.update(OCF_RESKEY_config=config_with(tmp_path, mysql_url(mysql("answers"))),
               OCF_RESKEY_CRM_meta_timeout="20000")
    calls = []

    def depth10(check):
        calls.append(check.timeout)
        return HealthResult(False, f"timed out ({len(calls)})", kind=health.TIMEOUT)
    rc, _, err = run(keystone.SPEC._replace(depth10=depth10), "monitor", env, capsys)
    assert rc == 1 and len(calls) == 2
    assert "its dependencies answer, and a second check failed too: timed out (2)" in reason(err)
    assert calls[1] <= 5.0 < calls[0], "the second check must not wait the whole http_timeout again"


@needs_proc
@pytest.mark.parametrize("busy", [True, False])
def test_requests_that_time_out_while_the_service_works_are_overload_not_a_failure(
        monitored, children, tmp_path, capsys, mysql, busy):
    """The soak's depth-10 failure: an overloaded Keystone (both workers hashing passwords)
    answered /healthcheck but not a token request in time, twice. Its processes were busy:
    degraded (190), not a restart that throws away the requests in flight. An idle service
    whose requests time out is hung: 1, as before."""
    env = depth10_env(monitored[1])
    if busy:
        spin = children.start(["sh", "-c", "while :; do :; done"])
        assert wait_for(lambda: process.proc_info(spin.pid).argv)
        process.write_pidfile(env["OCF_RESKEY_pid"], spin.pid)
        env["OCF_RESKEY_binary"] = "/bin/sh"
    env.update(OCF_RESKEY_config=config_with(tmp_path, mysql_url(mysql("answers"))),
               OCF_RESKEY_CRM_meta_timeout="20000")

    def depth10(check):
        import time
        time.sleep(0.4)     # the request's timeout, shortened
        return HealthResult(False, "Keystone v3 token from http://127.0.0.1:5000/v3 failed: ConnectTimeout",
                            kind=health.TIMEOUT)
    rc, _, err = run(keystone.SPEC._replace(depth10=depth10), "monitor", env, capsys)
    if busy:
        assert rc == 190, err
        assert reason(err).startswith("ocf-exit-reason:keystone is busy, not hung: its processes used ")
        assert "restarting it would not help" in reason(err)
    else:
        assert rc == 1 and "busy" not in reason(err)
