"""The database probe knows Galera (checks/galera.py through dependencies.py): the verdict on
the wsrep values a server reports, for every state, and the whole probe against a fake MySQL
server that greets, takes the login and answers the probe's queries with the values a real
MariaDB 10.11 + galera-4 26.4 node printed in that state (recorded by hand, see
tests/integration/test_galera_probe.py for the real thing); also the login refused, a
greeting that never comes, a connection closed before it, and the probe's deadline."""

import hashlib
import sys
import time

import pytest
from ocf_openstack.checks import dependencies, galera, health
from test_database_watch import act, attrs, watch_env  # noqa: F401  (fixtures)
from test_dependencies import (DB_PASSWORD, GREETING, OK, PLAIN, _monitor, config_with, mysql,  # noqa: F401
                               mysql_session, mysql_url, packet)
from unit_support import needs_proc, reason

SETTINGS, STATUS = galera.SETTINGS_QUERY, galera.STATUS_QUERY
REFUSES = "refuses application queries"


def node(on="1", reject="NONE", ready="ON", cluster="Primary", state="4", comment="Synced"):
    """A Galera node's answers to the probe's two queries (rows as SHOW GLOBAL STATUS orders them)."""
    return {SETTINGS: [(on, reject)],
            STATUS: [("wsrep_local_state", state), ("wsrep_local_state_comment", comment),
                     ("wsrep_cluster_status", cluster), ("wsrep_ready", ready)]}


# state -> (answers, ok, words in the detail, words in the warning)
STATES = {
    "synced-primary": (node(), True, "answers (server 5.5.5-10.11.19-MariaDB; Galera Synced, Primary)", ""),
    "non-primary": (node(ready="OFF", cluster="non-Primary", state="0", comment="Initialized"), False,
                    f"is a Galera node outside the primary component (non-Primary): it {REFUSES}", ""),
    "reject-all": (node(reject="ALL"), False, f"is a Galera node that {REFUSES} (wsrep_reject_queries=ALL)", ""),
    "reject-all-kill": (node(reject="ALL_KILL"), False,
                        f"is a Galera node that {REFUSES} (wsrep_reject_queries=ALL_KILL)", ""),
    "donor": (node(state="2", comment="Donor/Desynced"), True, "Galera Donor/Desynced, Primary",
              "is a Galera node in state Donor/Desynced (wsrep_local_state=2): it serves queries, but may lag"),
    "joining": (node(ready="OFF", state="1", comment="Joining: receiving State Transfer"), False,
                f"is a Galera node that {REFUSES} (not ready: wsrep_ready=OFF, Joining)", ""),
    "disconnected": (node(ready="OFF", cluster="Disconnected", state="0", comment="Initialized"), False,
                     f"outside the primary component (Disconnected): it {REFUSES}", ""),
    # Debian's MariaDB has wsrep built in: off, it says Disconnected and not ready, and is fine
    "wsrep-off": ({**PLAIN, STATUS: [("wsrep_cluster_status", "Disconnected"), ("wsrep_ready", "OFF")]}, True,
                  "answers (server 5.5.5-10.11.19-MariaDB)", ""),
    "no-wsrep-variables": ({SETTINGS: (1193, "Unknown system variable 'wsrep_on'")}, True,
                           "answers (server 5.5.5-10.11.19-MariaDB)", ""),
    "status-refused": ({**node(), STATUS: (1047, "WSREP has not yet prepared node for application use")}, False,
                       f"is a Galera node that {REFUSES} (error 1047)", ""),
}


def _values(answers):
    """The values read() gathers from recorded answers (what assess() is given)."""
    if isinstance(answers[SETTINGS], tuple):
        return {}
    (on, reject), = answers[SETTINGS]
    values = {"wsrep_on": on, "wsrep_reject_queries": reject}
    if on == "1" and isinstance(answers.get(STATUS), list):
        values.update(answers[STATUS])
    return values


@pytest.mark.parametrize("state", [s for s in STATES if s != "status-refused"])
def test_the_verdict_on_each_state(state):
    answers, ok, words, warning = STATES[state]
    verdict = galera.assess(_values(answers))
    assert verdict.serves is ok
    assert verdict.text in words if ok else verdict.text.endswith(words)
    assert verdict.warning.startswith(warning) and bool(verdict.warning) == bool(warning)


def probe(tmp_path, port, timeout=1.0, password=DB_PASSWORD):
    dep = dependencies.database_of(config_with(tmp_path, mysql_url(port).replace(DB_PASSWORD, password)))
    return dep.probe(timeout)


def assert_nothing_secret(result):
    # neither the password nor the user (MariaDB's messages name it) in anything shown
    shown = f"{result!r} {result.detail} {result.warning}"
    assert DB_PASSWORD not in shown and "keystone" not in shown, shown


@pytest.mark.parametrize("state", sorted(STATES))
def test_the_probe_on_each_state(tmp_path, raw_server, state):
    answers, ok, words, warning = STATES[state]
    talk = mysql_session(answers)
    result = probe(tmp_path, raw_server(talk))
    assert result.ok is ok and words in result.detail, result
    assert warning in result.warning and bool(result.warning) == bool(warning), result
    assert result.detail.startswith("database 127.0.0.1:") and result.detail.endswith(words if not ok else ")")
    assert_nothing_secret(result)
    assert talk.queries[0] == SETTINGS
    assert (STATUS in talk.queries) == (state not in ("wsrep-off", "no-wsrep-variables"))   # wsrep off: one query


def test_reasons_fit_what_pacemaker_keeps(tmp_path, raw_server):
    """Pacemaker keeps 128 characters of a reason: the Galera part must be whole within them."""
    for answers, ok, words, _ in STATES.values():
        if not ok:
            port = raw_server(mysql_session(answers))
            detail = probe(tmp_path, port).detail.replace(f"127.0.0.1:{port}", "openstack-db:3306")
            assert len(detail) <= 128, detail


def test_the_login_uses_the_urls_user_and_decoded_password(tmp_path, raw_server):
    talk = mysql_session(node())
    password = "p@ss/w:rd%?&=+" + DB_PASSWORD
    quoted = "".join(c if c.isalnum() or c in "-" else "".join(f"%{b:02X}" for b in c.encode()) for c in password)
    assert probe(tmp_path, raw_server(talk), password=quoted).ok is True
    login = talk.logins[0]
    user_end = login.index(b"\0", 32)
    assert login[32:user_end] == b"keystone"
    scramble = login[user_end + 2:user_end + 2 + login[user_end + 1]]
    # mysql_native_password: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))
    salt = b"scramble" + b"12-more-byte"     # the fake's greeting
    stage1 = hashlib.sha1(password.encode()).digest()
    stage2 = hashlib.sha1(salt + hashlib.sha1(stage1).digest()).digest()
    assert scramble == bytes(a ^ b for a, b in zip(stage1, stage2))


def test_no_user_in_the_url_means_the_greeting_only(tmp_path, raw_server):
    talk = mysql_session(node(cluster="non-Primary"))
    port = raw_server(talk)
    dep = dependencies.database_of(config_with(tmp_path, f"mysql+pymysql://127.0.0.1:{port}/keystone"))
    result = dep.probe(1.0)
    assert result.ok is True and result.detail.endswith("answers (server 5.5.5-10.11.19-MariaDB)")
    assert talk.queries == []


@pytest.mark.parametrize("code, message, why", [
    (1045, "Access denied for user 'keystone'@'127.0.0.1' (using password: YES)", "access denied (error 1045)"),
    (1044, "Access denied for user 'keystone'@'%' to database 'keystone'", "access denied (error 1044)"),
    (1049, "Unknown database 'keystone'", "unknown database (error 1049)"),
    (1130, "Host '127.0.0.1' is not allowed to connect", "the login or query failed (error 1130)"),
])
def test_a_refused_login_is_no_outage(tmp_path, raw_server, code, message, why):
    """The greeting proves a server; the state just could not be read, and the detail says why."""
    result = probe(tmp_path, raw_server(mysql_session(node(), login_error=(code, message))))
    assert result.ok is True and result.detail.endswith(f"; Galera state not read: {why})"), result
    assert_nothing_secret(result)


def test_without_pymysql_the_greeting_counts(tmp_path, raw_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymysql", None)    # import pymysql raises ImportError
    result = probe(tmp_path, raw_server(mysql_session(node(cluster="non-Primary"))))
    assert result.ok is True and "Galera state not read: python3-pymysql is not installed" in result.detail


@pytest.mark.parametrize("mode, words", [
    ("hangs", "does not answer (no greeting within 0.5s)"),
    ("closes", "refuses clients (closed the connection without a greeting)"),
    ("greets-only", "closed the connection after its greeting"),
])
def test_no_greeting_or_no_login_is_down(tmp_path, mysql, mode, words):  # noqa: F811
    result = probe(tmp_path, mysql(mode), timeout=0.5)
    assert result.ok is False and result.detail.endswith(words), result
    assert_nothing_secret(result)


@pytest.mark.parametrize("after", ["login", "query"])
def test_the_probe_keeps_its_deadline(tmp_path, raw_server, after):
    """A server that greets and then trickles one byte at a time (each read gets an answer
    well within any per-read timeout) is cut at the probe's deadline, never a hang: with the
    whole time after its greeting, it stalled, and is down."""
    def trickle(conn, stop):
        conn.sendall(packet(GREETING))
        conn.recv(4096)     # the login
        if after == "query":
            conn.sendall(packet(OK, 2))
            conn.recv(4096)
        for byte in packet(b"\x00" * 200, 1 if after == "query" else 2):
            if stop.wait(0.05):
                return
            conn.sendall(bytes([byte]))
    start = time.monotonic()
    result = probe(tmp_path, raw_server(trickle), timeout=0.8)
    elapsed = time.monotonic() - start
    assert result.ok is False and "greets but then does not answer in time" in result.detail, result
    assert elapsed < 1.0, elapsed


def test_a_late_greeting_leaves_the_login_no_fair_time_and_blames_nothing(tmp_path, raw_server):
    """The greeting came when the probe had less than LOGIN_FAIR left (a loaded host: the
    trixie leg's SIGSTOPped Keystone was once called degraded by its database for this): the
    state is not read, and the greeting counts."""
    def late(conn, stop):
        if stop.wait(0.65):
            return
        conn.sendall(packet(GREETING))
        conn.recv(4096)
        stop.wait(2)
    result = probe(tmp_path, raw_server(late), timeout=0.8)
    assert result.ok is True and "Galera state not read" in result.detail and "late greeting" in result.detail, result


def test_check_hands_on_the_warnings(tmp_path, raw_server):
    answers = STATES["donor"][0]
    dep = dependencies.database_of(config_with(tmp_path, mysql_url(raw_server(mysql_session(answers)))))
    verdict = dependencies.check([dep], lambda: 10.0, 1.0)
    assert verdict.down == () and verdict.unknown == ()
    assert [p.warning for p in verdict.warned] == [f"{dep.name} {galera.assess(_values(answers)).warning}"]


@pytest.mark.parametrize("state, logged", [
    ("donor", "is a Galera node in state Donor/Desynced"),
    ("non-primary", "outside the primary component (non-Primary): it refuses application queries"),
])
def test_database_watch_reports_galera(tmp_path, raw_server, watch_env, attrs, capsys, caplog,  # noqa: F811
                                       state, logged):
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(raw_server(mysql_session(STATES[state][0]))))
    assert act("start", watch_env, capsys)[0] == 0
    rc, err = act("monitor", watch_env, capsys)
    assert rc == 0 and logged in caplog.text
    assert attrs().get("openstack-db", {}).get("node1") != "0"     # alone: an outage, nothing moves
    assert DB_PASSWORD not in caplog.text + err
    if state == "donor":
        assert "openstack-db-seen" in attrs()


def test_pymysql_comes_without_cryptography():
    """pymysql's auth module would import python3-cryptography (half its import cost, at every
    monitor) for MySQL 8's RSA exchange only: kept out, and still importable afterwards."""
    import subprocess
    from unit_support import PACKAGE_ROOT
    code = ("import sys; from ocf_openstack.checks import galera; assert galera._load_pymysql();"
            "print('cryptography' in sys.modules); import cryptography")
    pytest.importorskip("cryptography")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          env={"PYTHONPATH": str(PACKAGE_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


@needs_proc
def test_keystone_is_degraded_not_restarted_by_a_non_primary_database(monitored, tmp_path, capsys, raw_server):
    """The monitor's verdict: a depth-10 timeout while the database is a non-Primary Galera node
    (it greets and takes logins) is the database's (190), named first in the reason."""
    port = raw_server(mysql_session(STATES["non-primary"][0]))
    rc, err = _monitor(monitored[1], tmp_path, capsys, "galera", lambda mode: port, health.TIMEOUT)
    assert rc == 190, err
    assert reason(err).startswith(f"ocf-exit-reason:database 127.0.0.1:{port} is a Galera node outside the primary "
                                  "component (non-Primary): it refuses application queries: restarting keystone "
                                  "would not help")
