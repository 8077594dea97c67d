"""The failure watcher: Pacemaker hears of a dead service at once, of a hung one in seconds.

While a service runs under Pacemaker, the agent's ``start`` (and a recurring ``monitor``
that finds it missing) leaves one detached process per resource instance that

- waits on the service's main process through a pidfd (``os.pidfd_open``: it refers to
  that process, not to a number the kernel may hand out again) and, the moment the process
  exits, tells Pacemaker with ``crm_resource --fail --resource <instance> --node <node>``
  (as resource-agents' ``sfex_daemon`` does): Pacemaker records a failed ``asyncmon`` and
  recovers as for a failed monitor;
- between two waits, asks ``<url><health_path>`` in-process every ``watch_interval``
  seconds (each check may take that long) and after ``watch_misses`` consecutive misses
  asks the service's dependencies (the monitor's own check, ``dependencies``): a service
  that stalls because its database does not answer is not hung, and the watcher stands
  down; then whether the service's processes used CPU while the checks went unanswered
  (``activity``): a service slow under load is busy, not hung, and the watcher stands
  down too (the recurring monitor, with its longer http_timeout, stays the judge of it);
  only an idle service whose dependencies answer is reported hung.

Before it reports anything it re-checks that it should (``should_report``): the agent did
not stop the service (``stop`` writes a stop marker first, then ends the watcher, then
stops the service), the pidfile still names the watched process, and one bounded
``crm_mon --output-as=xml`` says the instance is active on this node, managed, not failed
already, and neither the cluster (maintenance-mode) nor the node (maintenance, standby)
is in a state where Pacemaker would not act. Anything it cannot verify means no report:
the recurring monitor stays the source of truth, and restarts a watcher that is missing.
It reports once, then exits.

The pure part (``Machine``, ``judge_cluster``) does no I/O and is what the unit tests
drive; ``Watcher`` is the loop with the pidfd, the clock and the commands; the functions
at the bottom are what the agent's actions call (they import nothing heavy: the monitor
runs them every 10 s).

Its state lives in ``$HA_RSCTMP/openstack-<instance>.watch`` (root-only ``key=value``
lines: the settings, no password, and the watcher's own pid and start time so that an
action identifies it without PID-reuse confusion) and ``.watch-stop`` (the stop marker).
It runs as root: ``crm_resource --fail`` needs Pacemaker's IPC as root (or haclient) and
the dependency check reads the service's configuration file; its environment is a clean
PATH and the logging variables Pacemaker gave the agent, never an ``OCF_RESKEY_``.
"""

import os
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from . import failed_mark, privatefile, process
from .params import Parameter

if TYPE_CHECKING:
    from .activity import Meter

STATE_FORMAT = "1"
CRM_MON = "/usr/sbin/crm_mon"
CRM_RESOURCE = "/usr/sbin/crm_resource"
CLUSTER_QUERY_TIMEOUT = 5.0
REPORT_TIMEOUT = 10.0
DEPENDENCY_TIMEOUT = 2.0
END_WAIT = 2.0          # seconds an action waits for a signalled watcher to exit
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# what the watcher inherits from the agent's environment: where and how to log
INHERITED = ("LANG", "OCF_ROOT", "OCF_FUNCTIONS_DIR", "OCF_RESOURCE_INSTANCE", "HA_LOGFILE",
             "HA_DEBUGLOG", "HA_LOGFACILITY", "HA_LOGTAG", "HA_debug", "HA_RSCTMP")
# the values the watcher needs (a service's dependencies read config, os_auth_url, the TLS
# options): never a credential
SETTINGS = ("url", "health_path", "http_timeout", "ca_file", "insecure", "config", "os_auth_url",
            "watch_interval", "watch_misses")

MONITORING_ONLY = " Only monitoring uses it: changing it reloads the agent, the service keeps running."
PARAMETERS = (
    Parameter("watch", "Failure watcher",
              "Keep a watcher beside the service that tells Pacemaker at once when the service's "
              "main process exits (crm_resource --fail) and within watch_interval x watch_misses "
              "seconds when /healthcheck stops answering while its dependencies answer. The "
              "recurring monitor still detects everything and restarts a missing watcher. "
              "false: no watcher (the recurring monitors alone detect a failure, at their interval)."
              + MONITORING_ONLY, kind="boolean", default="true"),
    Parameter("watch_interval", "Watcher check interval (s)",
              "Seconds between the watcher's /healthcheck requests; each may take that long "
              "(and at most http_timeout)." + MONITORING_ONLY, kind="integer", default="2", minimum=1),
    Parameter("watch_misses", "Watcher misses before a report",
              "Consecutive failed /healthcheck requests after which the watcher, if the service's "
              "dependencies answer, reports the service hung." + MONITORING_ONLY,
              kind="integer", default="3", minimum=1),
)


# ---------------------------------------------------------------- the pure state machine

CONTINUE = "continue"                # keep watching
CHECK_DEPENDENCIES = "dependencies"  # enough misses: ask the dependencies
CHECK_ACTIVITY = "activity"          # dependencies answer: busy or idle?
VERIFY = "verify"                    # about to report: check that it should
REPORT = "report"                    # tell Pacemaker, then exit
EXIT = "exit"                        # stop watching, no report


class Machine:
    """What the watcher does next, from what it saw. No I/O: every method takes an event
    and returns one of the actions above; ``reason`` says what would be reported."""

    def __init__(self, misses: int) -> None:
        self.limit = misses
        self.misses = 0
        self.reason = ""
        self.dead = False
        self.last_failure = ""
        self.stood_down = ""     # why the last report was not made ("" none)

    def exited(self) -> str:
        """The main process is gone."""
        self.dead = True
        self.reason = "main process exited"
        return VERIFY

    def checked(self, ok: bool, detail: str = "") -> str:
        """One /healthcheck answered (``ok``) or not."""
        if ok:
            self.misses = 0
            self.stood_down = ""
            return CONTINUE
        self.misses += 1
        self.last_failure = detail
        return CHECK_DEPENDENCIES if self.misses >= self.limit else CONTINUE

    def dependencies(self, down: str, unknown: str) -> str:
        """What the dependency check found ("" each when nothing is down / unchecked)."""
        if down or unknown:
            self.misses = 0      # a database outage never turns into a report: start over
            self.stood_down = down or f"its dependencies could not be checked: {unknown}"
            return CONTINUE
        return CHECK_ACTIVITY

    def activity(self, busy: str) -> str:
        """Whether the service's processes worked while the checks missed (``busy``: how, or "")."""
        if busy:
            self.misses = 0      # slow under load, not hung: start over
            self.stood_down = f"it is busy, not hung ({busy})"
            return CONTINUE
        self.reason = (f"{self.limit} consecutive health checks failed while its dependencies answer "
                       f"and its processes are idle (last: {self.last_failure})")
        return VERIFY

    def verified(self, report: bool, why: str, final: bool = False) -> str:
        """The re-check before a report: ``report`` True to go ahead; else ``why`` not.
        ``final``: what was found ends the watch (the agent stopped or replaced the service)."""
        if report:
            return REPORT
        self.stood_down = why
        self.misses = 0
        # nothing is left to watch after a death; a hang in maintenance may end: keep watching
        return EXIT if self.dead or final else CONTINUE


class ClusterView(NamedTuple):
    report: bool
    why: str       # why not (or what was found)


def _bool(value: Optional[str]) -> bool:
    return (value or "").lower() == "true"


def judge_cluster(xml: str, instance: str, node: str) -> ClusterView:
    """Whether Pacemaker, per ``crm_mon --output-as=xml``, would act on a failure of
    ``instance`` on ``node``: it runs there, managed, not failed already, and neither the
    cluster nor the node is in maintenance, nor the node in standby."""
    from xml.etree import ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ClusterView(False, "crm_mon's answer does not parse")
    options = root.find("./summary/cluster_options")
    if options is not None and _bool(options.get("maintenance-mode")):
        return ClusterView(False, "the cluster is in maintenance mode")
    for n in root.iterfind("./nodes/node"):
        if n.get("name") == node:
            if _bool(n.get("maintenance")):
                return ClusterView(False, f"node {node} is in maintenance")
            if _bool(n.get("standby")) or _bool(n.get("standby_onfail")):
                return ClusterView(False, f"node {node} is in standby")
            if not _bool(n.get("online")):
                return ClusterView(False, f"node {node} is not online")
            break
    else:
        return ClusterView(False, f"crm_mon does not list node {node}")
    base = instance.split(":", 1)[0]     # an anonymous clone's instances show the primitive's id
    for rsc in root.iter("resource"):
        if rsc.get("id") not in (instance, base):
            continue
        if not any(n.get("name") == node for n in rsc.iterfind("node")):
            continue
        if not _bool(rsc.get("managed")):
            return ClusterView(False, f"{instance} is unmanaged")
        if _bool(rsc.get("failed")):
            return ClusterView(False, f"{instance} has already failed (Pacemaker is recovering it)")
        if not _bool(rsc.get("active")) or rsc.get("role") not in ("Started", "Promoted", "Unpromoted",
                                                                    "Master", "Slave"):
            return ClusterView(False, f"{instance} is {rsc.get('role')} on {node}")
        return ClusterView(True, f"{instance} is {rsc.get('role')} on {node}, managed")
    return ClusterView(False, f"{instance} is not active on {node}")


# ---------------------------------------------------------------- state files

def state_file(service: str, env: Mapping[str, str]) -> str:
    from .service import instance_file
    return instance_file(service, env, ".watch")


def stop_marker(path: str) -> str:
    return path + "-stop"


def read_state(path: str) -> Optional[Dict[str, str]]:
    text = privatefile.read(path)
    if text is None:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def write_state(path: str, state: Mapping[str, str]) -> None:
    privatefile.write(path, "".join(f"{k}={v}\n" for k, v in state.items()))


# ---------------------------------------------------------------- the watcher process

class Watcher:
    """The loop. Every outside effect is a function given to it, so a test can drive it
    against a real process with a recorder in place of crm_resource."""

    def __init__(self, state: Mapping[str, str], path: str,
                 check: Callable[[float], Tuple[bool, str]],
                 dependencies: Callable[[], Tuple[str, str]],
                 cluster: Callable[[], ClusterView],
                 report: Callable[[str], bool],
                 log: Callable[[str], None],
                 meter: Optional["Meter"] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state, self.path = state, path
        self.pid = int(state["pid"])
        self.interval = float(state["watch_interval"])
        self.check_timeout = min(self.interval, float(state.get("http_timeout") or self.interval))
        self.machine = Machine(int(state["watch_misses"]))
        self.check, self.deps, self.cluster, self.report, self.log = check, dependencies, cluster, report, log
        if meter is None:    # the watched process's group (uwsgi's or Glance's workers share it)
            from .activity import Meter   # the watcher's process only, not the monitor that imports this module
            meter = Meter(process.group_members(self.pid), lambda: process.group_members(self.pid))
        self.meter = meter
        self.clock = clock

    def open(self, fd: Optional[int] = None) -> Tuple[Optional[int], str]:
        """A pidfd of the watched process if it is still the one the agent recorded, else why not.
        ``fd``: the pidfd the agent opened and handed down (a death before the watcher is up
        then still counts); else one is opened here."""
        if fd is None:
            try:
                fd = os.pidfd_open(self.pid)
            except ProcessLookupError:
                return None, "it is gone"
        info = process.proc_info(self.pid)   # after the pidfd: a reused pid can not pass this
        if not process.alive(info):
            return fd, ""                     # the agent's pidfd says it died: the loop sees that at once
        if f"{info.started:.2f}" != self.state.get("pid_started"):
            os.close(fd)
            return None, (f"it started at {info.started:.2f}, not at {self.state.get('pid_started')} as the "
                          "service the agent started")
        return fd, ""

    def still_ours(self) -> str:
        """Why the agent, not a failure, explains what happened ("" if nothing does)."""
        if os.path.lexists(stop_marker(self.path)):
            return "the agent is stopping the service"
        if process.read_pidfile(self.state.get("pidfile", "")) != self.pid:
            return "the pidfile names another process (the agent restarted the service)"
        current = read_state(self.path)
        if current is None or current.get("watcher_pid") not in (None, str(os.getpid())):
            return "another watcher replaced this one"
        return ""

    def verify(self) -> str:
        why = self.still_ours()
        if why:
            return self.machine.verified(False, why, final=True)
        view = self.cluster()
        return self.machine.verified(view.report, view.why)

    def run(self, pidfd: Optional[int] = None) -> int:
        fd, why = self.open(pidfd)
        if fd is None:
            self.log(f"not watching pid {self.pid}: {why}")
            return 0
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        next_check = self.clock() + self.interval
        said = ""    # a long stand-down (a frozen service in maintenance, a busy one) is logged once

        def say(line: str, key: str = "") -> None:
            nonlocal said
            if (key or line) != said:
                self.log(line)
                said = key or line
        try:
            while True:
                if poller.poll(max(0.0, next_check - self.clock()) * 1000):
                    action = self.machine.exited()
                else:
                    next_check = self.clock() + self.interval
                    if self.machine.misses == 0:
                        self.meter.reset()    # a streak of misses may start: measure from here
                    ok, detail = self.check(self.check_timeout)
                    said = "" if ok else said
                    action = self.machine.checked(ok, detail)
                    if action == CHECK_DEPENDENCIES:
                        action = self.machine.dependencies(*self.deps())
                        if action == CONTINUE:
                            say(f"health checks fail, but not reported: {self.machine.stood_down}")
                        elif action == CHECK_ACTIVITY:
                            action = self.machine.activity(self.meter.busy())
                            if action == CONTINUE:
                                say(f"health checks fail, but not reported: {self.machine.stood_down}", "busy")
                if action == VERIFY:
                    action = self.verify()
                    if action != REPORT:
                        say(f"{self.machine.reason}; not reported: {self.machine.stood_down}")
                if action == REPORT:
                    self.report(self.machine.reason)
                    return 0
                if action == EXIT:
                    return 0
        finally:
            os.close(fd)


def _crm(argv: List[str], timeout: float):
    import subprocess

    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, env={"PATH": CLEAN_PATH, "LANG": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None


def report_failure(service: str, pid: str, instance: str, node: str, reason: str,
                   warn: Callable[[str], None]) -> bool:
    """Mark this node (failed_mark), then tell Pacemaker ``instance`` failed on ``node``; log
    it. Whether Pacemaker took the failure."""
    # the mark first: the IP may leave in the transition the failure starts (clone snippet)
    marked = failed_mark.mark(service)
    proc = _crm([CRM_RESOURCE, "--fail", "--resource", instance, "--node", node], REPORT_TIMEOUT)
    ok = proc is not None and proc.returncode == 0
    detail = "" if ok else f" (crm_resource failed: {(proc.stderr.strip() if proc else 'did not run')[:200]})"
    mark = "" if marked else f" (node attribute {failed_mark.attribute(service)} not set)"
    warn(f"watcher: {service} (pid {pid}) {reason}: reported to Pacemaker as a failure of {instance} "
         f"on {node}{detail}{mark}")
    return ok


def query_cluster(instance: str, node: str) -> ClusterView:
    proc = _crm([CRM_MON, "--output-as=xml", "-1"], CLUSTER_QUERY_TIMEOUT)
    if proc is None or proc.returncode != 0:
        return ClusterView(False, "crm_mon did not answer (no cluster here?)")
    return judge_cluster(proc.stdout, instance, node)


def main(argv: Optional[List[str]] = None) -> int:
    """python3 -m ocf_openstack.failure_watch STATEFILE [PIDFD] (started by the agent, detached; PIDFD:
    the service's pidfd, opened by the agent and inherited)."""
    import importlib

    from . import health
    from .dependencies import check as check_dependencies
    from .log import Reporter

    argv = sys.argv[1:] if argv is None else argv
    path = argv[0]
    state = read_state(path)
    if state is None or state.get("format") != STATE_FORMAT:
        return 0
    report_to = Reporter(os.environ)
    instance, node = state["instance"], state["node"]
    spec = importlib.import_module(state["service_module"]).SPEC   # loaded now: an upgrade can't mix code
    endpoint = health.parse_endpoint(state["url"])
    tls = health.TLSOptions(state.get("ca_file", ""), state.get("insecure") == "1")
    values = dict(state, insecure=state.get("insecure") == "1")

    def check(timeout: float) -> Tuple[bool, str]:
        result = health.check(endpoint, state["health_path"], timeout, tls)
        return result.ok, result.detail

    def dependencies() -> Tuple[str, str]:
        verdict = check_dependencies(spec.dependencies(values), lambda: DEPENDENCY_TIMEOUT, DEPENDENCY_TIMEOUT)
        return verdict.describe(verdict.down), verdict.describe(verdict.unknown)

    def report(reason: str) -> bool:
        return report_failure(spec.name, state["pid"], instance, node, reason, report_to.warning)

    def log(msg: str) -> None:
        report_to.info(f"watcher: {msg}")

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))   # an action ends us: no cleanup to do
    pidfd = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else None
    return Watcher(state, path, check, dependencies, lambda: query_cluster(instance, node),
                   report, log).run(pidfd)


# ---------------------------------------------------------------- what the agent calls
# The watcher is an accelerator: nothing of it may fail an action (a failed stop means
# fencing), so each entry point logs what went wrong and carries on without it.

def _never_fails(action: Callable) -> Callable:
    import functools

    @functools.wraps(action)
    def guarded(ctx, *args):
        try:
            return action(ctx, *args)
        except Exception as err:   # noqa: BLE001 (the monitor still detects everything)
            ctx.report.warning(f"failure watcher: {action.__name__} failed: {err.__class__.__name__}: {err} "
                               "(the recurring monitor still detects failures)")
            return None
    return guarded


def _watcher_alive(state: Mapping[str, str]) -> Optional[int]:
    """The watcher's pid if the process the state names is still that watcher."""
    try:
        pid = int(state.get("watcher_pid", ""))
    except ValueError:
        return None
    info = process.proc_info(pid)
    # pid and start time identify it; its command line is empty for a moment after the fork
    if (not process.alive(info) or f"{info.started:.2f}" != state.get("watcher_started")
            or (info.argv and "ocf_openstack.failure_watch" not in info.argv)):
        return None
    return pid


def _end(pid: int) -> None:
    """SIGTERM a verified watcher and wait (bounded) until it is gone."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        if not select.select([fd], [], [], END_WAIT)[0]:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            select.select([fd], [], [], END_WAIT)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


@_never_fails
def end(ctx) -> None:
    """stop: the stop marker first, then the watcher ends; the service after (and then
    ``stopped`` removes the marker)."""
    path = state_file(ctx.spec.name, ctx.env)
    if not os.path.lexists(path):
        return                      # no watcher was started for this instance
    privatefile.write(stop_marker(path), "stopping\n")
    state = read_state(path)
    pid = _watcher_alive(state) if state else None
    if pid:
        _end(pid)
    privatefile.remove(path)


def stopped(ctx) -> str:
    """The stop marker, for stop to remove once the service is stopped."""
    return stop_marker(state_file(ctx.spec.name, ctx.env))


def _settings(ctx, leader: int) -> Dict[str, str]:
    from . import __version__

    info = process.proc_info(leader)
    values = ctx.values
    state = {"format": STATE_FORMAT, "agent_version": __version__,
             "instance": ctx.env.get("OCF_RESOURCE_INSTANCE") or ctx.spec.name,
             "node": ctx.env.get("OCF_RESKEY_CRM_meta_on_node") or os.uname().nodename,
             "service_module": ctx.spec.command.__module__, "pidfile": ctx.pidfile,
             "pid": str(leader), "pid_started": f"{info.started:.2f}" if info else ""}
    for name in SETTINGS:
        value = values.get(name)
        state[name] = ("1" if value else "0") if isinstance(value, bool) else str(value if value is not None else "")
    return state


@_never_fails
def launch(ctx, leader: int) -> Optional[int]:
    """Start a watcher of ``leader`` (ending any earlier one); its pid, or None if it could not."""
    import subprocess

    if not ctx.values.get("watch"):
        return None
    path = state_file(ctx.spec.name, ctx.env)
    old = read_state(path)
    if old and _watcher_alive(old):
        _end(int(old["watcher_pid"]))
    try:
        pidfd = os.pidfd_open(leader)
    except ProcessLookupError:
        return None            # gone already: the monitor will say so
    try:
        # after the pidfd, the pidfile's process must still be this one: then the pidfd is it
        if ctx.find().leader != leader:
            return None
        state = _settings(ctx, leader)
        write_state(path, state)
        privatefile.remove(stop_marker(path))
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {k: ctx.env[k] for k in INHERITED if ctx.env.get(k)}
        env.update(PATH=CLEAN_PATH, PYTHONPATH=package_root)
        child = subprocess.Popen([sys.executable, "-s", "-m", "ocf_openstack.failure_watch", path, str(pidfd)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd="/", env=env, close_fds=True, pass_fds=(pidfd,), start_new_session=True)
    finally:
        os.close(pidfd)
    info = process.proc_info(child.pid)
    state.update(watcher_pid=str(child.pid), watcher_started=f"{info.started:.2f}" if info else "")
    write_state(path, state)
    child.returncode = 0     # never waited for: init reaps it once the agent has exited
    ctx.report.debug(f"failure watcher started (pid {child.pid})")
    return child.pid


@_never_fails
def ensure(ctx, leader: int) -> None:
    """A recurring monitor found ``leader`` running: make sure its watcher runs (and watches
    it, with these settings, from this agent version); start one, and log why, if not."""
    if not ctx.values.get("watch"):
        state = read_state(state_file(ctx.spec.name, ctx.env))
        if state and _watcher_alive(state):      # watch=false by a reload that missed it
            end(ctx)
        return
    state = read_state(state_file(ctx.spec.name, ctx.env))
    if state and _watcher_alive(state):
        wanted = _settings(ctx, leader)
        stale = [k for k, v in wanted.items() if state.get(k) != v]
        if not stale:
            return
        ctx.report.info(f"failure watcher (pid {state['watcher_pid']}) replaced: {', '.join(stale)} changed")
    else:
        why = f"pid {state.get('watcher_pid')} is gone" if state else "none was recorded"
        ctx.report.warning(f"failure watcher missing ({why}): starting a new one")
    launch(ctx, leader)


@_never_fails
def restart(ctx) -> None:
    """reload: the watcher's settings may have changed; watch=false ends it."""
    found = ctx.find()
    path = state_file(ctx.spec.name, ctx.env)
    state = read_state(path)
    if state and _watcher_alive(state):
        _end(int(state["watcher_pid"]))
    if found.leader is not None and ctx.values.get("watch"):
        launch(ctx, found.leader)
    elif state:
        privatefile.remove(path)


if __name__ == "__main__":
    sys.exit(main())
