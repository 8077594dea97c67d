"""ocf:openstack:agent-check for real (issue 23): the agent's actions as Pacemaker's executor
runs them (agent_harness.Agent) and its responder process on loopback, with no cluster here
(cibadmin fails, so every answer is "up").

Life cycle: start, monitor, the answers, the responder as hacluster:haclient listening on the
given address only; start twice; kill -9 (monitor 7, start brings it back); SIGSTOP (monitor 1
within its timeout, stop still stops it); stop without the pidfile, with every parameter bad.
Bad input against the real process: garbage, binary, 10 kB without a newline, a silent and a
half-open client, 200 connections at once. Bad configuration: a port taken by another process,
a wildcard address, an address not on this host, a node name that does not resolve. Every
non-zero exit carries an ocf-exit-reason. Ports 14990-14999 (the shipped default is 4993).
The logic (verdicts, serve's bounds): tests/unit/test_rotation.py.
"""

import os
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from agent_harness import RSCTMP, Agent, Result, alive, wait_for
from ocf_openstack.host.sockets import socket_inodes

RESPONDER = "ocf_openstack.rotation.responder"
ADDRESS = "127.0.0.1"
PORT = 14991              # the module's responder
TAKEN_PORT = 14992        # held by the test when start must fail
SPARE_PORT = 14993        # starts that must fail before they bind
CONN_TIMEOUT = 2.0        # the responder's bound per connection (responder.CONN_TIMEOUT)
SLACK = 1.0               # scheduling on a loaded 2-core machine
UP = b"up\n"
IPV6_LOOPBACK = os.path.exists("/proc/net/if_inet6") and "0" * 31 + "1 " in Path("/proc/net/if_inet6").read_text()

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the responder runs as hacluster")


# ---------------------------------------------------------------- independent of the agent's code

def responders(pidfile: str) -> List[int]:
    """Live responder processes of the instance whose pidfile is ``pidfile`` (their argv names it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if RESPONDER in argv and pidfile in argv and alive(int(entry)):
            found.append(int(entry))
    # a responder's own child between fork and exec (its cibadmin every second) shows its argv
    return [pid for pid in found if parent(pid) not in found]


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def kill_responders(pidfile: str) -> None:
    """The finalizers' last resort: only the responders this module's instances started."""
    for pid in responders(pidfile):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    wait_for(lambda: not responders(pidfile), 5, "the responders to die")


def listeners(port: int) -> Dict[str, int]:
    """Listening TCP sockets on ``port`` (IPv4 and IPv6), address -> inode, from /proc/net."""
    found = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hexport = fields[1].partition(":")
            if fields[3] != "0A" or int(hexport, 16) != port:
                continue
            if width == 8:
                shown = socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
            else:
                raw = bytes.fromhex(address)
                shown = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found[shown] = int(fields[9])
    return found


def held_connections(pid: int) -> List[str]:
    """TCP connections (not listeners) on PORT that ``pid`` has open, from /proc/net/tcp."""
    mine = set(socket_inodes(pid))
    held = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].partition(":")[2], 16) == PORT and fields[3] != "0A" and int(fields[9]) in mine:
            held.append(fields[2])
    return held


def ids(pid: int) -> Dict[str, List[str]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.split() for k, _, v in (line.partition(":") for line in status) if k in ("Uid", "Gid", "Groups")}


def ask(payload: bytes = b"keystone\n", port: int = PORT, shut: bool = False, timeout: float = 5.0):
    """(what came back until the responder closed, seconds from the connect to the close)."""
    with socket.create_connection((ADDRESS, port), timeout=timeout) as conn:
        started = time.monotonic()
        try:
            if payload:
                conn.sendall(payload)
            if shut:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        return data, time.monotonic() - started


def storm(count: int, send_every: int, limit: float) -> List[tuple]:
    """``count`` connections opened at once (non-blocking); every ``send_every``-th sends
    "keystone\\n" once connected. Per connection (what came back, seconds until the close or a
    refusal, how it ended); "hung" after ``limit`` seconds."""
    sel = selectors.DefaultSelector()
    started = time.monotonic()
    data: Dict[int, bytes] = {}
    outcome: Dict[int, tuple] = {}
    for i in range(count):
        conn = socket.socket()
        conn.setblocking(False)
        conn.connect_ex((ADDRESS, PORT))
        sel.register(conn, selectors.EVENT_WRITE, i)
        data[i] = b""

    def end(conn, i, how):
        outcome[i] = (data[i], time.monotonic() - started, how)
        sel.unregister(conn)
        conn.close()
    try:
        while sel.get_map() and time.monotonic() - started < limit:
            for key, events in sel.select(0.2):
                conn, i = key.fileobj, key.data
                if events & selectors.EVENT_WRITE:
                    if conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        end(conn, i, "refused")
                        continue
                    if i % send_every == 0:
                        try:
                            conn.send(b"keystone\n")
                        except OSError:
                            end(conn, i, "reset")
                            continue
                    sel.modify(conn, selectors.EVENT_READ, i)
                    continue
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    end(conn, i, "reset")
                    continue
                if chunk:
                    data[i] += chunk
                else:
                    end(conn, i, "closed")
    finally:
        for key in list(sel.get_map().values()):
            end(key.fileobj, key.data, "hung")
        sel.close()
    return [outcome[i] for i in range(count)]


def call(agent: Agent, action: str, **extra) -> Result:
    """An action; a non-zero exit must say why (ocf-exit-reason)."""
    result = agent.run(action, **extra)
    if result.rc != 0:
        assert result.reason.strip(), f"{action} rc {result.rc} without an ocf-exit-reason:\n{result.stderr}"
    return result


def succeeds(agent: Agent, action: str, **extra) -> Result:
    result = call(agent, action, **extra)
    assert result.rc == 0, f"{action} rc {result.rc}: {result.stderr}"
    return result


def make_agent(request, instance: str, **params: str) -> Agent:
    os.makedirs(RSCTMP, exist_ok=True)
    agent = Agent("agent-check", instance, {"address": ADDRESS, "port": str(PORT), **params})

    def clean():
        agent.run("stop", OCF_RESKEY_address=ADDRESS)
        kill_responders(agent.pidfile)
    request.addfinalizer(clean)
    kill_responders(agent.pidfile)
    return agent


@pytest.fixture(scope="module")
def agent(request) -> Agent:
    """The module's instance (127.0.0.1:14991), stopped at the start and the end."""
    made = make_agent(request, "it-agent-check")
    succeeds(made, "stop")
    return made


@pytest.fixture
def running(agent) -> Iterator[Agent]:
    """The module's responder, started (once: a test that kills it restarts it through this)."""
    if not (responders(agent.pidfile) and ask()[0] == UP):
        succeeds(agent, "start")
    yield agent


def only_one(agent: Agent) -> int:
    pids = responders(agent.pidfile)
    assert len(pids) == 1, pids
    return pids[0]


# ---------------------------------------------------------------- life cycle

def test_start_monitor_and_the_answers(agent):
    assert call(agent, "monitor", probe=True).rc == 7
    result = call(agent, "start")
    assert result.rc == 0, result.stderr
    succeeds(agent, "monitor")
    assert ask(b"keystone\n")[0] == UP and ask(b"glance-api\n")[0] == UP     # no cluster: up
    assert agent.leader() == only_one(agent)


def test_the_responder_runs_as_hacluster_and_listens_only_on_its_address(running):
    import grp
    import pwd
    pid = only_one(running)
    got = ids(pid)
    uid, gid = pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
    assert set(got["Uid"]) == {str(uid)} and set(got["Gid"]) == {str(gid)}
    assert "0" not in got["Groups"]
    bound = listeners(PORT)
    assert list(bound) == [ADDRESS], f"listening on {list(bound)}: only {ADDRESS} is asked for"
    assert bound[ADDRESS] in socket_inodes(pid)            # the responder holds it, nobody else
    others = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for other in [a for a in others if "." in a][:2]:         # this host's other addresses: refused
        with pytest.raises(OSError):
            socket.create_connection((other, PORT), timeout=1).close()


def test_start_twice_keeps_the_running_responder(running):
    pid = only_one(running)
    succeeds(running, "start")
    assert only_one(running) == pid and call(running, "monitor").rc == 0


def test_kill_9_is_not_running_and_start_brings_it_back(running):
    pid = only_one(running)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 5, "the responder to die")
    result = call(running, "monitor")
    assert result.rc == 7 and "not running" in result.reason
    succeeds(running, "start")
    new = only_one(running)
    assert new != pid and ask()[0] == UP and call(running, "monitor").rc == 0


def test_a_frozen_responder_fails_the_monitor_in_time_and_stop_stops_it(running):
    pid = only_one(running)
    os.kill(pid, signal.SIGSTOP)
    try:
        result = call(running, "monitor", timeout_ms=10000)
        assert result.rc == 1 and "does not answer" in result.reason and str(pid) in result.reason
        assert result.seconds < 10 - SLACK
        stopped = call(running, "stop", timeout_ms=20000)
        assert stopped.rc == 0 and stopped.seconds < 20
        assert not responders(running.pidfile) and not listeners(PORT)
        assert not os.path.exists(running.pidfile)
    finally:
        kill_responders(running.pidfile)


def test_start_replaces_a_frozen_responder(running):
    pid = only_one(running)
    os.kill(pid, signal.SIGSTOP)
    try:
        succeeds(running, "start")
        new = only_one(running)
        assert new != pid and not alive(pid) and ask()[0] == UP
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_monitor_without_the_pidfile_does_not_say_stopped_while_the_responder_runs(running):
    pid = only_one(running)
    os.unlink(running.pidfile)
    try:
        assert call(running, "monitor").rc != 7
    finally:
        call(running, "stop")
        assert not alive(pid)


def test_stop_finds_the_responder_without_its_pidfile(running):
    pid = only_one(running)
    os.unlink(running.pidfile)
    succeeds(running, "stop")
    assert not alive(pid) and not responders(running.pidfile) and not listeners(PORT)


def test_start_without_the_pidfile_replaces_the_stray(running):
    pid = only_one(running)
    os.unlink(running.pidfile)
    succeeds(running, "start")
    new = only_one(running)
    assert new != pid and not alive(pid) and ask()[0] == UP


BAD_PARAMS = {"OCF_RESKEY_address": "0.0.0.0", "OCF_RESKEY_port": "not-a-port", "OCF_RESKEY_interval": "-3",
              "OCF_RESKEY_database_attribute": "bad attribute!", "OCF_RESKEY_keys_attribute": "",
              "OCF_RESKEY_CRM_meta_on_node": "no-such-node.invalid", "HA_LOGFILE": "/nonexistent-dir/ha.log",
              "OCF_RESKEY_CRM_meta_timeout": "ten seconds"}


def test_stop_with_every_parameter_bad_stops_what_runs(running):
    pid = only_one(running)
    succeeds(running, "stop", **BAD_PARAMS)
    assert not alive(pid) and not responders(running.pidfile) and not listeners(PORT)
    succeeds(running, "stop", **BAD_PARAMS)       # and when nothing runs


# ---------------------------------------------------------------- bad input, the real process

@pytest.mark.parametrize("payload", [
    b"nova\n", b"KEYSTONE\n", b"\n", b"up\n", b"ready\n", b"\x00\xff\xfe\x80garbage\n", bytes(range(256)) * 4,
    "k\u00e9ystone\n".encode(), b"keystone" * 8 + b"\n", b"x" * 10240],
    ids=["unknown", "upper-case", "empty-line", "up", "ready", "binary-line", "1-kB-binary", "utf-8",
         "65-bytes-with-newline", "10-kB-no-newline"])
def test_garbage_gets_no_answer_and_is_closed_at_once(running, payload):
    pid = only_one(running)
    got, seconds = ask(payload)
    assert got == b"" and seconds < CONN_TIMEOUT / 2
    assert ask()[0] == UP and only_one(running) == pid


def test_a_silent_connection_is_closed_within_its_bound(running):
    got, seconds = ask(b"")
    assert got == b"" and CONN_TIMEOUT - 0.2 <= seconds <= CONN_TIMEOUT + SLACK
    got, seconds = ask(b"keys")           # a token that never ends
    assert got == b"" and seconds <= CONN_TIMEOUT + SLACK
    assert ask()[0] == UP


def test_half_open_clients(running):
    pid = only_one(running)
    assert ask(b"keystone\n", shut=True)[0] == UP         # asked, then its sending side closed
    got, seconds = ask(b"", shut=True)                    # closed its side without asking
    assert got == b"" and seconds < CONN_TIMEOUT / 2
    with socket.create_connection((ADDRESS, PORT)) as conn:   # gone with a reset mid-token
        conn.sendall(b"keys")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert ask()[0] == UP and only_one(running) == pid


def test_200_connections_at_once_that_ask(running):
    """HAProxy's way (agent-send first), 200 at once: each answered or closed within the bound,
    also those whose SYN the full accept queue dropped (retransmitted after 1 s, then 3 s)."""
    pid = only_one(running)
    outcomes = storm(200, send_every=1, limit=15)
    assert not [i for i, (_, _, how) in enumerate(outcomes) if how == "hung"]
    assert all(got in (b"", UP) for got, _, _ in outcomes)
    assert sum(got == UP for got, _, _ in outcomes) >= 32       # at least as many as it keeps open
    slowest = max(seconds for _, seconds, _ in outcomes)
    assert slowest <= CONN_TIMEOUT + 4 + SLACK, f"the slowest took {slowest:.1f} s"
    assert only_one(running) == pid
    assert ask()[0] == UP and call(running, "monitor").rc == 0


def test_200_connections_at_once_half_of_them_silent(running):
    """The asking half is answered or closed; the silent ones the responder accepted are closed
    at its bound. A silent one may stay half-open on the client's side only: its handshake's last
    ACK came while the accept queue was full, the kernel dropped it and (an ACK already seen)
    resends no SYN-ACK, so the connection never reaches the responder and the kernel forgets it
    (tcp_synack_retries). What proves the responder kept nothing: its open TCP connections."""
    pid = only_one(running)
    outcomes = storm(200, send_every=2, limit=CONN_TIMEOUT + 2 * SLACK)
    assert not [i for i, (_, _, how) in enumerate(outcomes[::2]) if how == "hung"]
    assert all(got in (b"", UP) for got, _, _ in outcomes[::2]) and UP in [got for got, _, _ in outcomes]
    assert not any(got for got, _, _ in outcomes[1::2])          # the silent ones get nothing
    assert not held_connections(pid), "the responder still holds connections beyond its bound"
    assert only_one(running) == pid
    assert ask()[0] == UP and call(running, "monitor").rc == 0


# ---------------------------------------------------------------- bad configuration

def test_a_port_taken_by_another_process_fails_the_start_with_the_address(request):
    taken = make_agent(request, "it-agent-check-taken", port=str(TAKEN_PORT))
    for where in (ADDRESS, "0.0.0.0"):
        with socket.socket() as holder:
            holder.bind((where, TAKEN_PORT))
            holder.listen(1)
            result = call(taken, "start")
            assert result.rc == 1 and f"{ADDRESS}:{TAKEN_PORT}" in result.reason, result.stderr
            assert not responders(taken.pidfile) and list(listeners(TAKEN_PORT)) == [where]
    succeeds(taken, "stop")


@pytest.mark.parametrize("params, words, rc", [
    ({"address": "0.0.0.0"}, "wildcard", 6),
    ({"address": "::"}, "wildcard", 6),
    ({"address": "::0"}, "wildcard", 6),
    ({"address": "not-an-address"}, "IP address", 6),
    # a problem of this host, not of the configuration: 2 keeps it off this node only (a 6
    # would keep the clone off every controller)
    ({"address": "192.0.2.99"}, "192.0.2.99 is not an address of this host", 2),
    ({"address": "203.0.113.7"}, "203.0.113.7 is not an address of this host", 2),
    ({"address": "", "CRM_meta_on_node": "no-such-node.invalid"}, "no-such-node.invalid resolves to no", 2),
    ({"address": "", "CRM_meta_on_node": "localhost"}, "localhost resolves to no non-loopback address", 2),
    ({"port": "0"}, "port", 6),
    ({"port": "70000"}, "port", 6),
], ids=["0.0.0.0", "::", "::0", "no-address", "not-here", "not-here-either", "name-unresolved", "name-loopback",
        "port-0", "port-too-big"])
def test_a_wrong_address_is_refused_with_the_right_code(request, params, words, rc):
    bad = make_agent(request, "it-agent-check-bad", port=str(SPARE_PORT))
    extra = {f"OCF_RESKEY_{k}": v for k, v in params.items()}
    for action in ("validate-all", "start"):
        result = call(bad, action, **extra)
        assert result.rc == rc and words in result.reason, (action, result.stderr)
    assert not responders(bad.pidfile) and not listeners(SPARE_PORT)
    succeeds(bad, "stop", **extra)


@pytest.mark.skipif(not IPV6_LOOPBACK, reason="no IPv6 loopback (::1) here")
def test_a_local_ipv6_address_in_any_spelling_is_accepted(request):
    six = make_agent(request, "it-agent-check-six", address="0:0:0:0:0:0:0:1", port=str(SPARE_PORT))
    succeeds(six, "start")
    assert list(listeners(SPARE_PORT)) == ["::1"]
