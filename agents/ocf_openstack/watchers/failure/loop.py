"""The failure watcher process: started detached by the agent (``hooks.launch``), one per
resource instance, as ``python3 -m ocf_openstack.watchers.failure.loop STATEFILE [PIDFD]``.
It waits on the service's pidfd and checks /healthcheck between waits; ``Watcher`` is the
loop, every outside effect a function given to it; ``main`` wires in the real ones."""

import os
import select
import signal
import sys
import time
from typing import Callable, List, Mapping, Optional, Tuple

from ...checks.activity import Meter
from ...host import process
from .cluster import query_cluster, report_failure
from .machine import CHECK_ACTIVITY, CHECK_DEPENDENCIES, CONTINUE, EXIT, REPORT, VERIFY, ClusterView, Machine
from .state import STATE_FORMAT, read_state, stop_marker

DEPENDENCY_TIMEOUT = 2.0


class Watcher:
    """The loop. Every outside effect is a function given to it, so a test can drive it
    against a real process with a recorder in place of crm_resource."""

    def __init__(self, state: Mapping[str, str], path: str,
                 check: Callable[[float], Tuple[bool, str]],
                 dependencies: Callable[[], Tuple[str, str]],
                 cluster: Callable[[], ClusterView],
                 report: Callable[[str], bool],
                 log: Callable[[str], None],
                 meter: Optional[Meter] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state, self.path = state, path
        self.pid = int(state["pid"])
        self.interval = float(state["watch_interval"])
        self.check_timeout = min(self.interval, float(state.get("http_timeout") or self.interval))
        self.machine = Machine(int(state["watch_misses"]))
        self.check, self.deps, self.cluster, self.report, self.log = check, dependencies, cluster, report, log
        if meter is None:    # the watched process's group (uwsgi's or Glance's workers share it)
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


def main(argv: Optional[List[str]] = None) -> int:
    """python3 -m ocf_openstack.watchers.failure.loop STATEFILE [PIDFD] (started by the agent, detached; PIDFD:
    the service's pidfd, opened by the agent and inherited)."""
    import importlib

    from ...checks import health
    from ...checks.dependencies import check as check_dependencies
    from ...ocf.log import Reporter

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


if __name__ == "__main__":
    sys.exit(main())
