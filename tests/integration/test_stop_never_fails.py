"""Stop never fails (issue 22): with fencing on, Pacemaker's default on-fail for stop is
fence, so a stop of ours that fails or times out costs the whole controller. Every case of the
issue's list, for keystone and glance-api (the real services), database-watch, keys-watch and
the failure watcher, and where each is proven ("here" is this module):

Services (stop returns 0, nothing of the group left, the port free, the pidfile gone):
(a) already gone: killed -9 with its pidfile left: test_lifecycle.py
    test_kill_9_of_whole_group_is_not_running (both); stopped twice:
    test_double_start_and_double_stop (both); never started: every fixture's first stop.
(b) frozen (SIGSTOP of the whole group): test_lifecycle.py
    test_sigstopped_service_is_stopped_within_the_stop_timeout (10 s) and
    test_stop_is_quick_even_frozen_or_right_after_start (90 s, also right after a start), both
    services; tests/unit/test_agent.py (no grace for a frozen group, a graceful one when only
    the leader is stopped).
(c) a stale pidfile: a reused pid (a live stranger started after the pidfile), keystone:
    test_hostile.py test_stale_pidfile_of_a_reused_pid_is_not_ours; here the other service,
    and a pid that no longer exists for both, with a failure watcher state naming the stranger;
    garbage, pid 0 and 1: tests/unit/test_process.py.
(d) a child still holds the port after the main process died: glance-api's live worker:
    test_lifecycle.py test_kill_9_of_glance_parent_orphans_are_failed_then_cleaned; its
    frozen workers (they hold the port and handle no signal): here. Keystone has no such
    child: uwsgi's workers die with their master even when frozen, so (d) is (a) for it.
(e) the worst case fits the stop timeout: here, for both services at once, a service that
    ignores SIGTERM (a ptrace tracer swallows it: the whole graceful period, then SIGKILL) with
    its failure watcher frozen (SIGTERM, END_WAIT, SIGKILL), at the stop timeout the meta-data
    advertises, every `op stop timeout=` of the shipped snippets and a short 10 s. Processes
    that survive SIGKILL (stuck in the kernel): rc 1 with the reason within the timeout,
    tests/unit/test_agent.py test_stop_of_processes_that_survive_sigkill_fails_within_the_op_timeout.
(f) bad configuration: every bad parameter with nothing running: test_bad_input.py (both);
    here a running service stopped with a missing config file, binary, uwsgi ini, user, and
    malformed values, an unwritable HA_LOGFILE and a garbage op timeout, all at once.

The failure watcher's cleanup (gone after the services' stop): normal case,
test_failure_watch_live_services.py test_start_leaves_a_watcher_and_stop_ends_it_first;
frozen: here in (e); frozen with its state file corrupt or gone: here.

database-watch and keys-watch (stop touches only attrd and its files): here, stop returns 0
when never started and twice, with broken parameters, with the state file (and keys-watch's
verdict) garbage, foreign, a directory, a symlink, or its directory missing, and, with attrd
hung (a socket at attrd's address that never answers, in a network namespace of its own),
within the stop timeout the meta-data advertises (the snippets set none: Pacemaker's default
applies) and a short one.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Sequence
from xml.etree import ElementTree

import pytest
from agent_harness import (
    PORTS,
    ROOT,
    RSCTMP,
    Agent,
    Result,
    alive,
    group_of,
    listening,
    wait_for,
    watch_state,
    watcher_pid,
)

PYTHON = "/usr/bin/python3"
SERVICES = ("keystone", "glance-api")
WATCHERS = ("database-watch", "keys-watch")
SNIPPETS = sorted((ROOT / "crm").glob("openstack-ha*.crm"))
PACEMAKER_DEFAULT_TIMEOUT = 20     # s: an op without timeout= (no op_defaults in the snippets)
SHORT = 10                          # s: a short stop timeout an operator might set
WATCHER_SHORT = 5                   # s: the same for the watchers (their advertised one is 20 s)


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"(\d+)(ms|s|m|min)?", text).groups()
    return int(value) * {"ms": 0.001, "m": 60, "min": 60}.get(unit or "s", 1)


def advertised_stop_timeout(name: str) -> float:
    """The stop timeout of the agent's own meta-data."""
    out = subprocess.run([str(Agent(name, name, {}).path), "meta-data"], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    (stop,) = [a for a in ElementTree.fromstring(out).iterfind("./actions/action") if a.get("name") == "stop"]
    return _seconds(stop.get("timeout"))


def snippet_stop_timeouts(name: str) -> Dict[str, float]:
    """snippet file -> the stop timeout of its ocf:openstack:<name> primitive (Pacemaker's
    default where the primitive sets none)."""
    found = {}
    for path in SNIPPETS:
        text = path.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            if re.match(rf"\s*primitive\s+\S+\s+ocf:openstack:{re.escape(name)}\b", line):
                stop = re.search(r"\bop\s+stop\s+(?:\S+=\S+\s+)*?timeout=(\S+)", line)
                found[path.name] = _seconds(stop.group(1)) if stop else PACEMAKER_DEFAULT_TIMEOUT
    return found


SERVICE_TIMEOUTS = sorted({SHORT} | {advertised_stop_timeout(n) for n in SERVICES}
                          | {t for n in SERVICES for t in snippet_stop_timeouts(n).values()})
WATCHER_TIMEOUTS = sorted({WATCHER_SHORT} | {advertised_stop_timeout(n) for n in WATCHERS}
                          | {t for n in WATCHERS for t in snippet_stop_timeouts(n).values()})


def test_the_timeouts_come_from_the_meta_data_and_every_snippet():
    """The parsers found what they look for (else the worst case would be tried at 10 s alone)."""
    for name in SERVICES:
        assert advertised_stop_timeout(name) in SERVICE_TIMEOUTS
        timeouts = snippet_stop_timeouts(name)
        assert SNIPPETS and sorted(timeouts) == [p.name for p in SNIPPETS], timeouts
        assert set(timeouts.values()) <= set(SERVICE_TIMEOUTS)
    for name in WATCHERS:
        assert advertised_stop_timeout(name) in WATCHER_TIMEOUTS
        assert set(snippet_stop_timeouts(name).values()) <= set(WATCHER_TIMEOUTS)
    assert SERVICE_TIMEOUTS[0] == SHORT and max(SERVICE_TIMEOUTS) >= 60


def assert_stopped(agent: Agent, result: Result, pgid: int, timeout: float = 0) -> None:
    """rc 0 (within ``timeout`` s), nothing of the group left, the port free, no pidfile."""
    assert result.rc == 0, f"{agent.name} stop: rc {result.rc}, {result.reason}"
    if timeout:
        assert result.seconds < timeout, f"{agent.name} stop took {result.seconds:.1f}s of its {timeout}s"
    assert group_of(pgid) == [], f"{agent.name} stop left {group_of(pgid)}"
    assert not listening(PORTS[agent.name]), f"{agent.name}'s port {PORTS[agent.name]} still accepts"
    assert not os.path.exists(agent.pidfile)


@contextmanager
def killed_at_exit(pids: Sequence[int]) -> Iterator[None]:
    """Processes our agents started for this test (watchers, frozen orphans): whatever the
    test leaves of them is killed by pid (never by name: a lab may run beside us)."""
    try:
        yield
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------- (c) stale pidfile

@pytest.fixture
def stranger() -> Iterator[subprocess.Popen]:
    """A live process of someone else's, leading its own group (as a daemon of ours would)."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _gone_pid() -> int:
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("name, stale", [("keystone", "gone"), ("glance-api", "gone"), ("glance-api", "reused")])
def test_stop_with_a_stale_pidfile_kills_nothing_and_cleans_up(name, stale, request, stranger):
    agent = request.getfixturevalue("glance" if name == "glance-api" else "keystone")
    assert agent.run("stop").rc == 0
    watch = Path(RSCTMP) / f"openstack-{agent.instance}.watch"
    Path(agent.pidfile).write_text(f"{_gone_pid() if stale == 'gone' else stranger.pid}\n")
    # the reused pid: the pidfile predates the process that has that pid now
    an_hour_ago = time.time() - 3600
    os.utime(agent.pidfile, (an_hour_ago, an_hour_ago))
    # and a failure watcher state left from before, naming the stranger as its watcher
    watch.write_text(f"format=1\npid={stranger.pid}\nwatcher_pid={stranger.pid}\nwatcher_started=1.00\n")
    watch.chmod(0o600)
    result = agent.run("stop", timeout_ms=SHORT * 1000)
    assert result.rc == 0 and result.reason == ""
    assert stranger.poll() is None, "stop killed a process that was not ours"
    assert not os.path.exists(agent.pidfile) and not watch.exists()


# ------------------------------------------------------- (d) a child holds the port

def test_stop_after_glances_parent_died_ends_its_frozen_workers_that_hold_the_port(running_glance):
    """Orphaned workers that handle no signal (frozen) still hold 9292: stop kills them. (Keystone
    has no such case: uwsgi's workers die with their master, even frozen: measured, port 5000
    refuses 0.5 s after a SIGKILL of the master whose workers were SIGSTOPped.)"""
    agent = running_glance
    leader = agent.leader()
    workers = [p for p in group_of(leader) if p != leader]
    assert workers, "glance-api runs no worker"
    with killed_at_exit(workers + [watcher_pid(agent)]):
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        os.kill(leader, signal.SIGKILL)
        wait_for(lambda: not alive(leader), 5, "the main process to die")
        assert listening(PORTS[agent.name]), "the orphaned workers should still hold the port"
        result = agent.run("stop", timeout_ms=SHORT * 1000)
        assert_stopped(agent, result, leader, SHORT)


# ------------------------------------------------------------ (e) the worst case

# A ptrace tracer that swallows every SIGTERM the process gets (SIGKILL can not be traced):
# a service that ignores SIGTERM whatever its code does. Prints "tracing", then a line per
# swallowed SIGTERM, and "killed by N" when it dies.
SIGTERM_SWALLOWER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
CONT, SEIZE, LISTEN, O_TRACECLONE, EVENT_STOP, WALL = 7, 0x4206, 0x4208, 0x8, 128, 0x40000000
pid = int(sys.argv[1])
for tid in os.listdir(f"/proc/{pid}/task"):
    if libc.ptrace(SEIZE, int(tid), None, O_TRACECLONE):
        sys.exit(f"cannot trace {tid}: {os.strerror(ctypes.get_errno())}")
print("tracing", flush=True)
while True:
    try:
        tid, status = os.waitpid(-1, WALL)
    except ChildProcessError:
        break
    if os.WIFSIGNALED(status) and tid == pid:
        print(f"killed by {os.WTERMSIG(status)}", flush=True)
    if not os.WIFSTOPPED(status):
        continue
    sig, event = os.WSTOPSIG(status), status >> 16
    if event == EVENT_STOP and sig in (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        libc.ptrace(LISTEN, tid, None, None)
        continue
    if event or sig == signal.SIGTRAP:
        sig = 0
    elif sig == signal.SIGTERM:
        print("SIGTERM swallowed", flush=True)
        sig = 0
    libc.ptrace(CONT, tid, None, sig)
"""


@contextmanager
def ignoring_sigterm(pid: int) -> Iterator[subprocess.Popen]:
    tracer = subprocess.Popen([PYTHON, "-c", SIGTERM_SWALLOWER, str(pid)], stdout=subprocess.PIPE, text=True)
    try:
        assert tracer.stdout.readline().strip() == "tracing", "could not trace the service"
        yield tracer
    finally:
        if tracer.poll() is None:
            tracer.kill()
        tracer.wait(5)


def stop_together(agents: Sequence[Agent], timeout: float) -> List[Result]:
    """Stop every agent at once (as Pacemaker may), each with the op timeout ``timeout`` s."""
    with ThreadPoolExecutor(len(agents)) as pool:
        return list(pool.map(lambda a: a.run("stop", timeout_ms=int(timeout * 1000)), agents))


@pytest.mark.parametrize("timeout", SERVICE_TIMEOUTS, ids=[f"{t:g}s" for t in SERVICE_TIMEOUTS])
def test_a_service_ignoring_sigterm_with_a_frozen_watcher_is_stopped_within_the_stop_timeout(
        timeout, running_glance, keystone):
    """The slowest path stop can take with processes that SIGKILL ends: the frozen watcher costs
    END_WAIT (its SIGTERM waits, then SIGKILL), then the service's graceful period
    (min(20 s, 0.6 x what is left)) passes without effect, then SIGKILL and the wait. Both
    services at once, as Pacemaker stops a group's members or a node's clones."""
    agents = [keystone, running_glance]
    leaders = [a.leader() for a in agents]
    watchers = [watcher_pid(a) for a in agents]
    assert all(watchers), "the services should run with their failure watchers (watch=true)"
    members = [p for leader in leaders for p in group_of(leader)]
    with ExitStack() as stack:
        stack.enter_context(killed_at_exit(watchers + members))
        tracers = [stack.enter_context(ignoring_sigterm(leader)) for leader in leaders]
        for pid in watchers:
            os.kill(pid, signal.SIGSTOP)
        results = stop_together(agents, timeout)
        for agent, result, leader, watcher, tracer in zip(agents, results, leaders, watchers, tracers):
            assert_stopped(agent, result, leader, timeout)
            assert not alive(watcher), f"{agent.name}'s frozen failure watcher outlived the stop"
            said = tracer.communicate(timeout=10)[0]
            assert "SIGTERM swallowed" in said and "killed by 9" in said, said


# ----------------------------------------------------------- (f) bad configuration

BAD = {"config": "/nonexistent/service.conf", "binary": "/nonexistent/bin/daemon", "user": "no-such-user",
       "group": "no-such-group", "log_file": "relative.log", "url": "not a url", "http_timeout": "abc",
       "insecure": "maybe", "additional_parameters": '"unbalanced', "os_auth_url": "keystone:5000",
       "os_interface": "private", "ca_file": "/nonexistent/ca.pem", "health_path": "healthcheck",
       "watch": "maybe", "watch_interval": "0", "watch_misses": "x"}
BAD_KEYSTONE = {"uwsgi_ini": "/nonexistent/keystone-uwsgi.ini", "bind": "host:port",
                "ssl_cert": "/etc/ssl/certs/ca-certificates.crt"}
BAD_ENV = {"HA_LOGFILE": "/nonexistent-dir/ha.log", "OCF_RESKEY_CRM_meta_timeout": "ten seconds",
           "OCF_CHECK_LEVEL": "deep"}


def test_stop_with_bad_configuration_stops_what_runs(running: Agent):
    leader, watcher = running.leader(), watcher_pid(running)
    bad = dict(BAD, **(BAD_KEYSTONE if running.name == "keystone" else {}))
    with killed_at_exit(group_of(leader) + [watcher]):
        result = running.run("stop", **{f"OCF_RESKEY_{k}": v for k, v in bad.items()}, **BAD_ENV)
        assert_stopped(running, result, leader, advertised_stop_timeout(running.name))
        assert not alive(watcher)


# ------------------------------------------------------ the failure watcher's cleanup

@pytest.mark.parametrize("state", ["garbage", "gone"])
def test_stop_ends_a_frozen_failure_watcher_whose_state_file_is_corrupt_or_gone(running: Agent, state):
    leader, watcher = running.leader(), watcher_pid(running)
    assert watcher, "no failure watcher runs"
    path = Path(RSCTMP) / f"openstack-{running.instance}.watch"
    with killed_at_exit([watcher]):
        os.kill(watcher, signal.SIGSTOP)
        if state == "garbage":
            path.write_bytes(b"\xff\xfe not a state \0 file\nwatcher_pid=\nformat\n")
        else:
            path.unlink()
        result = running.run("stop", timeout_ms=SHORT * 1000)
        assert_stopped(running, result, leader, SHORT)
        assert not alive(watcher), "the frozen failure watcher outlived the stop"
        assert watch_state(running) == {}


# ------------------------------------------------------ database-watch and keys-watch

WATCHER_PARAMS = {"database-watch": {"attribute": "rao-it-stop-db"},
                  "keys-watch": {"attribute": "rao-it-stop-keys"}}   # never an attribute a cluster uses
BROKEN = {"database-watch": {"attribute": "bad name!", "probe_timeout": "abc", "configs": ""},
          "keys-watch": {"attribute": "bad name!", "grace": "-1", "issuer": "no such resource!",
                         "config": "/nonexistent/keystone.conf"}}


def watcher_agent(name: str, rsctmp: Path, **params: str) -> Agent:
    agent = Agent(name, f"it-{name}-stop", dict(WATCHER_PARAMS[name], **params))
    run = agent.run
    agent.run = lambda action, **kw: run(action, **{"HA_RSCTMP": str(rsctmp), **kw})
    return agent


def files_of(name: str, rsctmp: Path) -> List[Path]:
    """What the watcher's stop removes: its state file (and keys-watch's verdict)."""
    return [rsctmp / f"openstack-it-{name}-stop.state"] + ([rsctmp / "openstack-keys.verdict"]
                                                            if name == "keys-watch" else [])


@pytest.mark.parametrize("name", WATCHERS)
def test_watcher_stop_when_never_started_twice_and_with_broken_parameters(name, tmp_path, services_ready):
    agent = watcher_agent(name, tmp_path)
    assert agent.run("stop").rc == 0                       # never started
    assert agent.run("start").rc == 0
    broken = {f"OCF_RESKEY_{k}": v for k, v in BROKEN[name].items()}
    assert agent.run("validate-all", **broken).rc != 0, "the broken parameters should be broken"
    result = agent.run("stop", OCF_RESKEY_CRM_meta_timeout="nonsense", HA_LOGFILE="/nonexistent-dir/ha.log",
                       **broken)
    assert result.rc == 0 and result.reason == "", result
    assert not any(p.exists() for p in files_of(name, tmp_path))
    assert agent.run("monitor").rc == 7
    assert agent.run("stop").rc == 0                       # stopped twice
    gone = watcher_agent(name, tmp_path / "no-such-directory")
    assert gone.run("stop").rc == 0


CORRUPTIONS = ["garbage", "foreign", "directory", "symlink"]


@pytest.mark.parametrize("name", WATCHERS)
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_watcher_stop_with_its_files_corrupt(name, corruption, tmp_path, services_ready):
    agent = watcher_agent(name, tmp_path / "rsctmp")
    assert agent.run("start").rc == 0
    precious = tmp_path / "precious"
    precious.write_text("precious\n")
    for path in files_of(name, tmp_path / "rsctmp"):
        if path.exists():
            path.unlink()
        if corruption == "garbage":
            path.write_bytes(b"\xff\xfe\0=\n" * 100 + b"x" * 70000)
        elif corruption == "foreign":     # not ours alone: someone else's file
            path.write_text("published=1\n")
            path.chmod(0o666)
            os.chown(path, 65534, 65534)
        elif corruption == "directory":
            path.mkdir()
        else:
            path.symlink_to(precious)
    result = agent.run("stop")
    assert result.rc == 0 and result.reason == "", result
    assert precious.read_text() == "precious\n", "stop wrote or removed through a symlink"
    for path in files_of(name, tmp_path / "rsctmp"):
        assert not os.path.lexists(path) or (corruption == "directory" and path.is_dir())
    assert agent.run("monitor").rc == 7
    if corruption == "directory":
        for path in files_of(name, tmp_path / "rsctmp"):
            shutil.rmtree(path)


# attrd that hangs: a socket at the address attrd_updater connects to (libqb's abstract
# "attrd") that accepts and never answers. In a network namespace of our own: abstract sockets
# belong to one, so no other attrd_updater on this host meets it. Runs the agents given as JSON
# [[argv, env], ...] on stdin at once, prints [[rc, seconds, stderr], ...].
MUTE_ATTRD = r"""
import json, socket, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
mute.bind(b"\0attrd" + b"\0" * 102)
mute.listen(64)
def run(job):
    started = time.monotonic()
    proc = subprocess.run(job[0], env=job[1], capture_output=True, text=True, timeout=120)
    return proc.returncode, time.monotonic() - started, proc.stderr
jobs = json.load(sys.stdin)
with ThreadPoolExecutor(len(jobs)) as pool:
    print(json.dumps(list(pool.map(run, jobs))))
"""


def test_watcher_stop_with_attrd_hung_fits_every_stop_timeout(tmp_path, services_ready):
    """Both watchers, each stopped at every timeout at once (one attrd for all of them)."""
    runs = [(name, timeout, watcher_agent(name, tmp_path / f"{name}-{timeout:g}"))
            for name in WATCHERS for timeout in WATCHER_TIMEOUTS]
    for _, _, agent in runs:
        assert agent.run("start").rc == 0
    jobs = [[[agent.path, "stop"], agent.env(int(timeout * 1000), HA_RSCTMP=str(tmp_path / f"{name}-{timeout:g}"))]
            for name, timeout, agent in runs]
    proc = subprocess.run(["unshare", "--net", PYTHON, "-c", MUTE_ATTRD], input=json.dumps(jobs),
                          capture_output=True, text=True, timeout=max(WATCHER_TIMEOUTS) + 30)
    assert proc.returncode == 0, proc.stderr
    for (name, timeout, _), (rc, seconds, stderr) in zip(runs, json.loads(proc.stdout)):
        assert "Traceback" not in stderr, stderr
        assert rc == 0, f"{name} stop at {timeout}s: rc {rc}, {stderr}"
        assert seconds < timeout, f"{name} stop took {seconds:.1f}s of its {timeout}s with attrd hung"
        # the proof that attrd_updater did hang (outside a cluster it fails at once)
        assert seconds >= min(timeout * 0.8, 5), f"{name} stop ({seconds:.1f}s) never waited for the hung attrd"
        assert not any(p.exists() for p in files_of(name, tmp_path / f"{name}-{timeout:g}"))
