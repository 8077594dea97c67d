"""The agent-check responder's logic (issue 23): ``rotation.verdict`` (what this controller
tells HAProxy per backend, from the CIB's node states) and ``rotation.responder`` (the verdicts
kept from CIB readings, and ``serve``, the connection loop, driven in a thread on loopback with
bad input: garbage, oversized tokens, silent and half-open clients, too many connections).

The CIB is built by test_keys_watch's ``cib_xml`` (node_state as Pacemaker 2.1 writes it) with
the attributes of these tests added; the real agent and process: tests/integration/test_agent_check.py.
"""

import socket
import threading
import time
from xml.etree import ElementTree as ET

import pytest
from ocf_openstack.host import cib
from ocf_openstack.rotation import responder, verdict
from ocf_openstack.rotation.verdict import UP, Verdict, backends, judge
from test_keys_watch import cib_xml
from unit_support import need_loopback

DB, KEYS = "openstack-db", "openstack-keys"
TABLE = backends(DB, KEYS)
ME = "node1"
ADMIN_WORDS = ("ready", "drain", "maint")


# ---------------------------------------------------------------- a CIB

def cib_of(nodes):
    """nodes: name -> dict(online=True, attrs={transient name: value}, standby=None | "forever" |
    "transient", running=the resources active there, default keystone and glance-api): the CIB
    element ``cibadmin -Q -l`` would give (node ids 1, 2, ... by name)."""
    root = ET.fromstring(cib_xml({name: {"online": n.get("online", True), "watching": False}
                                  for name, n in nodes.items()}))
    for i, (name, n) in enumerate(sorted(nodes.items()), 1):
        state = root.find(f"./status/node_state[@uname='{name}']")
        resources = ET.SubElement(ET.SubElement(state, "lrm", id=str(i)), "lrm_resources")
        for rsc in n.get("running", ("keystone", "glance-api")):   # an anonymous clone's instance: its id
            ET.SubElement(ET.SubElement(resources, "lrm_resource", id=rsc), "lrm_rsc_op", id=f"{rsc}_last_0",
                          operation="start", **{"rc-code": "0"})
        attrs = dict(n.get("attrs", {}))
        if n.get("standby") == "transient":
            attrs["standby"] = "on"
        if n.get("standby") == "forever":
            ET.SubElement(root.find(f"./configuration/nodes/node[@uname='{name}']/instance_attributes"), "nvpair",
                          id=f"nodes-{i}-standby", name="standby", value="on")
        if attrs:
            state = root.find(f"./status/node_state[@uname='{name}']")
            sets = ET.SubElement(ET.SubElement(state, "transient_attributes", id=str(i)), "instance_attributes",
                                 id=f"status-{i}")
            for key, value in attrs.items():
                ET.SubElement(sets, "nvpair", id=f"status-{i}-{key}", name=key, value=value)
    return root


def verdicts_for(nodes, me=ME):
    found = cib.nodes(cib_of(nodes))
    return {name: judge(found, me, backend) for name, backend in TABLE.items()}


HEALTHY = {"node2": {}}
DB_REASON = "database unreachable from this controller (database-watch)"
KEYS_REASON = "Keystone keys differ from the token issuers' (keys-watch)"


def failed_reason(service):
    return f"{service} failed here, Pacemaker recovers it (failure watcher)"


def haproxy_words(line):
    """The words HAProxy acts on in an agent's line (before '#', the rest is a description)."""
    assert line.endswith("\n") and line.count("\n") == 1 and "\r" not in line
    return line[:-1].split("#", 1)[0].replace(",", " ").replace("\t", " ").split()


# ---------------------------------------------------------------- verdict.judge

@pytest.mark.parametrize("running", [(), ("glance-api",)], ids=["nothing-runs", "keystone-not-yet"])
def test_another_controller_counts_only_where_the_backend_runs(running):
    """The other controller is online and free of reasons, but its Keystone is not active
    (still starting after a reboot, banned; or a quorum node): HAProxy has it out by its health
    check, so taking this one out would leave no server at all."""
    found = verdicts_for({ME: {"attrs": {DB: "0"}}, "node2": {"running": running}})
    assert found["keystone"].up and found["keystone"].note, found
    assert found["glance-api"].up == ("glance-api" not in running), found
    found = verdicts_for({ME: {"attrs": {DB: "0"}}, "node2": {"running": running}, "node3": {}})
    assert not found["keystone"].up and not found["glance-api"].up, found


def test_the_builder_writes_what_cib_nodes_reads():
    found = cib.nodes(cib_of({ME: {"attrs": {DB: "0"}}, "node2": {"online": False},
                              "node3": {"standby": "forever"}, "node4": {"standby": "transient"}}))
    assert found[ME].online and found[ME].transient == {DB: "0"} and not found[ME].standby
    assert not found["node2"].online
    assert found["node3"].online and found["node3"].standby and found["node4"].standby


@pytest.mark.parametrize("attrs, keystone, glance", [
    ({DB: "0"}, DB_REASON, DB_REASON),
    ({KEYS: "0"}, KEYS_REASON, None),
    ({"openstack-keystone-failed": "1"}, failed_reason("keystone"), None),
    ({"openstack-glance-api-failed": "1"}, None, failed_reason("glance-api")),
], ids=["database", "keys", "keystone-failed", "glance-failed"])
def test_every_cause_takes_its_backend_out_while_another_serves(attrs, keystone, glance):
    got = verdicts_for({ME: {"attrs": attrs}, **HEALTHY})
    for name, reason in (("keystone", keystone), ("glance-api", glance)):
        assert got[name] == (Verdict(False, reason) if reason else UP), name


@pytest.mark.parametrize("attrs", [{DB: "1", KEYS: "1", "openstack-keystone-failed": "0"},
                                   {DB: "", KEYS: "yes", "openstack-glance-api-failed": "0"}, {}])
def test_other_values_are_no_cause(attrs):
    assert verdicts_for({ME: {"attrs": attrs}, **HEALTHY}) == {"keystone": UP, "glance-api": UP}


def test_several_causes_give_the_first_reason():
    everything = {DB: "0", KEYS: "0", "openstack-keystone-failed": "1", "openstack-glance-api-failed": "1"}
    got = verdicts_for({ME: {"attrs": everything}, **HEALTHY})
    assert got["keystone"] == Verdict(False, DB_REASON) and got["glance-api"] == Verdict(False, DB_REASON)
    got = verdicts_for({ME: {"attrs": {KEYS: "0", "openstack-keystone-failed": "1"}}, **HEALTHY})
    assert got["keystone"] == Verdict(False, KEYS_REASON)


@pytest.mark.parametrize("other", [
    {"online": False}, {"standby": "forever"}, {"standby": "transient"}, {"attrs": {DB: "0"}},
], ids=["offline", "standby-forever", "standby-transient", "has-a-reason-too"])
def test_never_the_last_controller(other):
    got = verdicts_for({ME: {"attrs": {DB: "0"}}, "node2": other})
    for name in ("keystone", "glance-api"):
        assert got[name].up and got[name].reason == DB_REASON, name
        assert name in got[name].note and "kept in rotation" in got[name].note
        assert got[name].line() == "up\n"


def test_alone_in_the_cib_stays_up():
    got = verdicts_for({ME: {"attrs": {KEYS: "0"}}})
    assert got["keystone"].up and got["keystone"].note


def test_one_healthy_controller_among_unfit_ones_is_enough():
    got = verdicts_for({ME: {"attrs": {DB: "0"}}, "node2": {"online": False}, "node3": {"attrs": {DB: "0"}},
                        "node4": {"standby": "transient"}, "node5": {}})
    assert got["keystone"] == Verdict(False, DB_REASON)


def test_a_reason_counts_only_for_its_own_backend():
    """node2's keys take it out of Keystone, not Glance: it still serves glance-api."""
    got = verdicts_for({ME: {"attrs": {DB: "0"}}, "node2": {"attrs": {KEYS: "0"}}})
    assert got["glance-api"] == Verdict(False, DB_REASON)
    assert got["keystone"].up and got["keystone"].note


def test_a_node_unknown_to_the_cib_is_up():
    assert verdicts_for({"node2": {"attrs": {DB: "0"}}, "node3": {}}, me="elsewhere") == \
        {"keystone": UP, "glance-api": UP}
    assert {n: judge({}, ME, b) for n, b in TABLE.items()} == {"keystone": UP, "glance-api": UP}


# ---------------------------------------------------------------- Verdict.line

def test_line_up_and_down():
    assert UP.line() == "up\n"
    assert Verdict(True, "some reason", "a note").line() == "up\n"
    assert Verdict(False, DB_REASON).line() == f"down #{DB_REASON}\n"
    assert Verdict(False, "").line() == Verdict(False, " \n\t ").line() == "down\n"


@pytest.mark.parametrize("reason", ["two\nlines\r\nand a tab\tand \x00 nul", "caf\u00e9 \u2013 \U0001f4a5 d\u00e9j\u00e0",
                                    "x" * 5000, "\n" * 300 + "late", "up ready # maint, drain 100%"])
def test_line_is_one_short_plain_ascii_line(reason):
    line = Verdict(False, reason).line()
    assert line.startswith("down") and line.isascii()
    assert line[:-1].isprintable() and haproxy_words(line) == ["down"]
    assert len(line) <= len("down #") + verdict.REASON_MAX + 1


def test_no_answer_has_an_admin_word():
    """ready/drain/maint would undo an operator's ``set server ... state``: never in any answer
    (the shipped reasons do not even mention them, also after the '#')."""
    lines = {UP.line()}
    for backend in TABLE.values():
        for cause in backend.causes:
            lines.add(Verdict(False, cause.reason).line())
            lines.add(Verdict(True, cause.reason, "note").line())
    for line in lines:
        assert haproxy_words(line) in (["up"], ["down"]), line
        assert not set(line.lower().replace("#", " ").replace(",", " ").split()) & set(ADMIN_WORDS), line


# ---------------------------------------------------------------- responder.Verdicts

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeCib:
    """read_cib: answers ``self.root`` (None: the CIB cannot be read); counts the readings."""

    def __init__(self, nodes=None):
        self.root = cib_of(nodes) if nodes is not None else None
        self.reads = 0

    def set(self, nodes):
        self.root = cib_of(nodes) if nodes is not None else None

    def __call__(self):
        self.reads += 1
        return self.root


@pytest.fixture
def kept():
    """(Verdicts of node1, its FakeCib, its Clock, its log lines)."""
    read, clock, log = FakeCib({ME: {"attrs": {DB: "0"}}, **HEALTHY}), Clock(), []
    return responder.Verdicts(ME, TABLE, read, log.append, clock), read, clock, log


def test_before_any_reading_every_known_backend_is_up(kept):
    verdicts, *_ = kept
    assert verdicts.line("keystone") == verdicts.line("glance-api") == "up\n"


def test_refresh_judges_every_backend(kept):
    verdicts, read, _, _ = kept
    assert verdicts.refresh() is True
    assert verdicts.line("keystone") == verdicts.line("glance-api") == f"down #{DB_REASON}\n"
    read.set({ME: {"attrs": {KEYS: "0"}}, **HEALTHY})
    verdicts.refresh()
    assert verdicts.line("keystone") == f"down #{KEYS_REASON}\n" and verdicts.line("glance-api") == "up\n"


@pytest.mark.parametrize("token", ["", "KEYSTONE", "keystone ", "glance", "nova", "keystone\n", "\x00", "up"])
def test_an_unknown_token_gets_none(kept, token):
    verdicts, *_ = kept
    verdicts.refresh()
    assert verdicts.line(token) is None


def test_an_unreadable_cib_keeps_the_last_verdicts(kept):
    verdicts, read, clock, log = kept
    verdicts.refresh()
    read.set(None)
    clock.now += 10
    assert verdicts.refresh() is False
    assert verdicts.line("keystone") == f"down #{DB_REASON}\n"
    assert len(log) == 2           # the first verdicts, nothing about the failed reading


def test_verdicts_older_than_stale_after_answer_up(kept):
    verdicts, read, clock, _ = kept
    verdicts.refresh()
    read.set(None)
    clock.now += responder.STALE_AFTER
    assert verdicts.line("keystone") == f"down #{DB_REASON}\n"
    clock.now += 0.5
    verdicts.refresh()
    assert verdicts.line("keystone") == verdicts.line("glance-api") == "up\n"
    assert verdicts.line("nova") is None
    read.set({ME: {"attrs": {DB: "0"}}, **HEALTHY})
    verdicts.refresh()
    assert verdicts.line("keystone") == f"down #{DB_REASON}\n"


def test_a_change_is_logged_once(kept):
    verdicts, read, clock, log = kept
    read.set({ME: {}, **HEALTHY})
    for _ in range(3):
        verdicts.refresh()
        clock.now += 1
    assert log == []              # all up from the start: nothing to say
    read.set({ME: {"attrs": {DB: "0"}}, **HEALTHY})
    for _ in range(5):
        verdicts.refresh()
        clock.now += 1
    assert len(log) == 2 and all(DB_REASON in line and ME in line for line in log)
    assert {line.split(" on ")[0] for line in log} == {"keystone", "glance-api"}
    read.set({ME: {"attrs": {DB: "0"}}, "node2": {"online": False}})     # kept in: the note is news
    for _ in range(3):
        verdicts.refresh()
    assert len(log) == 4 and all("kept in rotation" in line for line in log[2:])
    read.set({ME: {}, **HEALTHY})
    for _ in range(3):
        verdicts.refresh()
    assert len(log) == 6 and all(line.endswith(": up") for line in log[4:])


def test_run_survives_a_failing_reading_and_refreshes():
    calls, log, stop = [], [], threading.Event()

    def read():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        if len(calls) >= 3:
            stop.set()
        return cib_of({ME: {"attrs": {DB: "0"}}, **HEALTHY})
    verdicts = responder.Verdicts(ME, TABLE, read, log.append)
    thread = threading.Thread(target=verdicts.run, args=(0.01, stop), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(calls) == 3
    assert "reading the CIB failed: RuntimeError: boom" in log[0]
    assert verdicts.line("keystone") == f"down #{DB_REASON}\n"


# ---------------------------------------------------------------- responder.serve

ANSWER = f"down #{DB_REASON}\n".encode()


class Server:
    """serve() in a thread on 127.0.0.1 with node1's verdicts (the database cut: both down)."""

    def __init__(self, conn_timeout, max_conns):
        need_loopback()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.conn_timeout = conn_timeout
        self.verdicts = responder.Verdicts(ME, TABLE, FakeCib({ME: {"attrs": {DB: "0"}}, **HEALTHY}), print)
        self.verdicts.refresh()
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self._run, args=(conn_timeout, max_conns), daemon=True)
        self.thread.start()

    def _run(self, conn_timeout, max_conns):
        try:
            responder.serve(self.listener, self.verdicts.line, self.stop, conn_timeout, max_conns)
        except BaseException as err:     # the test says the loop died, and of what
            self.errors.append(err)
            raise

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def ask(self, *pieces, pause=0.0, then=None):
        """Send ``pieces`` (``pause`` s apart), ``then`` "shut" (SHUT_WR) or "reset" (RST);
        returns (what came back until the close, seconds from the connect to the close)."""
        with self.connect() as conn:
            started = time.monotonic()
            try:
                for i, piece in enumerate(pieces):
                    if i and pause:
                        time.sleep(pause)
                    conn.sendall(piece)
                if then == "shut":
                    conn.shutdown(socket.SHUT_WR)
                if then == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return b"", 0.0
            except (BrokenPipeError, ConnectionResetError):
                pass
            return read_to_close(conn), time.monotonic() - started

    def alive_and_answering(self):
        assert not self.errors and self.thread.is_alive()
        assert self.ask(b"keystone\n")[0] == ANSWER and self.ask(b"glance-api\n")[0] == ANSWER

    def close(self):
        self.stop.set()
        try:                       # wake the loop: it sees stop at once, not at its next 0.5 s tick
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.thread.join(5)
        self.listener.close()
        assert not self.thread.is_alive(), "serve() did not end within 5 s of stop"


def read_to_close(conn):
    data = b""
    try:
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


@pytest.fixture
def serving():
    """serving(conn_timeout, max_conns): a Server, closed at teardown."""
    made = []

    def make(conn_timeout=0.5, max_conns=8):
        made.append(Server(conn_timeout, max_conns))
        return made[-1]
    yield make
    for server in made:
        server.close()


@pytest.fixture
def server(serving):
    return serving()


def test_a_known_name_gets_its_line(server):
    assert server.ask(b"keystone\n") == (ANSWER, pytest.approx(0, abs=0.3))
    assert server.ask(b"glance-api\r\n")[0] == ANSWER
    assert server.ask(b"keys", b"tone\n", pause=0.1)[0] == ANSWER
    assert server.ask(b"keystone\nand more after it")[0] == ANSWER


def test_an_answer_also_reaches_a_half_closed_client(server):
    assert server.ask(b"keystone\n", then="shut")[0] == ANSWER


@pytest.mark.parametrize("payload", [
    b"nova\n", b"KEYSTONE\n", b"\n", b"up\n", b"keystone\x00\n", b"\x00\xff\xfe\x80garbage\n", bytes(range(256)),
    "k\u00e9ystone\n".encode(), b"keystone", b"x" * 65, b"x" * 10000, b"keystone" * 8 + b"\n"],
    ids=["unknown", "upper-case", "empty-line", "a-verdict-word", "nul", "binary-line", "every-byte", "utf-8",
         "no-newline", "65-bytes", "10-kB", "65-bytes-with-newline"])
def test_garbage_unknown_names_and_oversized_tokens_are_closed_without_answer(server, payload):
    got, seconds = server.ask(payload)
    assert got == b""
    if b"\n" in payload[:64] or len(payload) >= 64:
        assert seconds < server.conn_timeout / 2    # at once, not at the deadline
    server.alive_and_answering()


def test_a_token_is_at_most_64_bytes_even_in_pieces(server):
    """The token is the first 64 bytes: a newline beyond them is no token, however it arrives."""
    assert server.ask(b" " * 60, b"keystone\n", pause=0.05)[0] == b""
    assert server.ask(b" " * 20, b" " * 30, b" " * 13, b"keystone\n", pause=0.05)[0] == b""
    assert server.ask(b" " * 40 + b"keystone\n")[0] == ANSWER     # 49 bytes: fine
    server.alive_and_answering()


def test_a_shut_or_reset_client_is_closed_and_forgotten(server):
    assert server.ask(then="shut") == (b"", pytest.approx(0, abs=server.conn_timeout / 2))
    assert server.ask(b"keys", then="shut")[0] == b""
    server.ask(b"keys", then="reset")
    server.ask(then="reset")
    server.alive_and_answering()


def test_a_silent_connection_is_closed_within_conn_timeout(server):
    got, seconds = server.ask()
    assert got == b"" and server.conn_timeout * 0.8 <= seconds <= server.conn_timeout + 0.4
    got, seconds = server.ask(b"k", b"e", b"y", b"s", b"t", pause=0.2)     # trickling: no extension
    assert got == b"" and seconds <= server.conn_timeout + 0.4
    server.alive_and_answering()


def test_beyond_max_conns_new_connections_are_closed_at_once(serving):
    server = serving(conn_timeout=3.0, max_conns=4)
    held = [server.connect() for _ in range(4)]
    try:
        time.sleep(0.2)                           # all four accepted
        for _ in range(3):
            with server.connect() as extra:
                started = time.monotonic()
                extra.sendall(b"keystone\n")
                assert read_to_close(extra) == b"" and time.monotonic() - started < 0.5
        for conn in held:                         # the open ones are still served
            conn.sendall(b"keystone\n")
            assert read_to_close(conn) == ANSWER
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.1)
    server.alive_and_answering()


def test_many_connections_at_once_are_each_answered_or_closed_within_the_bound(serving):
    server = serving(conn_timeout=0.5, max_conns=32)
    conns = [server.connect() for _ in range(100)]
    started = time.monotonic()
    try:
        for conn in conns[::2]:
            conn.sendall(b"keystone\n")
        outcomes = [read_to_close(conn) for conn in conns]
    finally:
        for conn in conns:
            conn.close()
    assert time.monotonic() - started < server.conn_timeout + 1.5
    assert all(got in (b"", ANSWER) for got in outcomes)
    assert ANSWER in outcomes[::2] and not any(outcomes[1::2])   # the silent ones get nothing
    server.alive_and_answering()


def test_stop_ends_the_loop_and_closes_open_connections():
    server = Server(conn_timeout=30, max_conns=8)
    held = server.connect()
    time.sleep(0.1)
    server.close()
    held.settimeout(2)
    assert read_to_close(held) == b""
    held.close()


def test_leaving_answers_up_and_staleness_is_said_once():
    """After SIGTERM the responder answers "up" (HAProxy keeps an unreachable agent's last
    answer: a "down" must not outlive it); a dead refresher is logged once, not per answer."""
    said, now = [], [100.0]
    v = responder.Verdicts(ME, TABLE, lambda: cib_of({ME: {"attrs": {DB: "0"}}, "node2": {}}), said.append,
                           clock=lambda: now[0])
    assert v.refresh() and v.line("keystone").startswith("down #")
    v.leaving.set()
    assert v.line("keystone") == "up\n" and v.line("glance-api") == "up\n" and v.line("nova") is None
    v.leaving.clear()
    now[0] += responder.STALE_AFTER + 1
    logged = len(said)
    assert [v.line("keystone") for _ in range(5)] == ["up\n"] * 5
    assert len(said) == logged + 1 and "answering up" in said[-1], said
    assert v.refresh() and v.line("keystone").startswith("down #") and "current" in said[-1], said
