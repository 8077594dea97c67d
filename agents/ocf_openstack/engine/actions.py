"""The OCF actions on a Context: monitor, start, stop, validate-all, reload.

Each returns an OCF code or raises OCFError with the reason; none knows which
service it drives.
"""

import os
import shlex
import time
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, List, Mapping, Optional

from ..checks import health
from ..host import privatefile, process
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.params import parse
from ..watchers.failure import hooks as failure_watch
from .context import Context, is_probe
from .hostcheck import OUTSIDE_HINT, check_host, foreign_listener

if TYPE_CHECKING:
    import subprocess

    from ..checks.openstack_auth import AuthCheck

DAEMON_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
START_POLL = 0.1
START_PROBE_TIMEOUT = 1.0  # uwsgi accepts before a worker is ready: re-ask rather than wait
LOG_TAIL_LINES = 3
# Kept back from a monitor's checks to ask the service's dependencies (its database) before
# blaming the service for a hang or a 5xx.
DEPENDENCY_PROBE_TIMEOUT = 2.0
RETRY_MIN = 1.0   # seconds left for the second check after a dependency came back
# The second check's timeout: a healthy /healthcheck answers in milliseconds, a token
# validation well under a second; a hung service must not get the whole http_timeout twice
# (that would add it to the time a hang takes to be noticed).
RETRY_TIMEOUT = {0: 2.0, 10: 5.0}
STOP_GRACE_FRACTION = 0.6
# Healthy daemons stop in 1-3 s; a uwsgi stuck loading waits out its 60 s mercy: don't.
STOP_GRACE_MAX = 20.0


def _validate(ctx: Context) -> None:
    """Everything but syntax (parse checked that): the host, and who holds the port."""
    check_host(ctx)
    if ctx.values["insecure"]:
        ctx.report.warning("insecure=true: HTTPS certificates are not verified")


def _depth(env: Mapping[str, str]) -> int:
    try:
        return 10 if int(env.get("OCF_CHECK_LEVEL") or 0) >= 10 else 0
    except ValueError:
        raise OCFError(OCFExit.ERR_CONFIGURED,
                       f"OCF_CHECK_LEVEL={env.get('OCF_CHECK_LEVEL')!r} is not a number (use 0 or 10)") from None


def _auth_check(ctx: Context, timeout: float) -> "AuthCheck":
    """What the depth-10 check needs; its modules load only on this path."""
    from ..checks.openstack_auth import AuthCheck, Credentials
    from ..checks.token_cache import TokenCache

    values = ctx.values
    missing = [n for n in ("os_username", "os_password", "os_project_name") if not values[n]]
    if missing:
        raise OCFError(OCFExit.ERR_CONFIGURED,
                       "the depth-10 monitor (OCF_CHECK_LEVEL=10) needs " + ", ".join(missing))
    creds = Credentials(values["os_auth_url"], values["os_username"], values["os_password"],
                        values["os_project_name"], values["os_user_domain_name"],
                        values["os_project_domain_name"], values["os_region_name"], values["os_interface"])
    return AuthCheck(creds, ctx.tls, ctx.budget, timeout, values,
                     TokenCache(ctx.token_file, values["token_max_age"]))


def _health(ctx: Context, timeout: float) -> health.HealthResult:
    return health.check(ctx.endpoint, ctx.values["health_path"], timeout, ctx.tls)


def _check_timeout(ctx: Context) -> float:
    """http_timeout, cut so that the dependency probes still fit in the op's time."""
    left = ctx.budget.remaining()
    reserve = DEPENDENCY_PROBE_TIMEOUT if left > 2 * DEPENDENCY_PROBE_TIMEOUT else 0.0
    return ctx.budget.cap(min(ctx.values["http_timeout"], left - reserve))


def _failed(ctx: Context, result: health.HealthResult, reason: str, probe: bool,
            explainable: FrozenSet[str], again: Callable[[], health.HealthResult],
            busy: Optional[Callable[[], str]] = None) -> int:
    """A check failed. The service's fault (1), unless a failure a dead dependency explains
    (a kind in ``explainable``) meets a dependency that is down: then the service is degraded,
    not failed (190), as restarting it would not help. A probe never returns 190: it reports
    the service running. If every dependency answers now, it may have come back while the
    check waited for it: the check runs ``again`` once, if time allows, before the service
    is blamed (a restart for a database that just recovered is a false failure). ``busy``
    (the depth-10 check, after /healthcheck answered): if both attempts timed out while the
    service's processes worked, it is overloaded, not hung: degraded too."""
    if result.kind in explainable:
        from ..checks.dependencies import check

        verdict = check(ctx.spec.dependencies(ctx.values), ctx.budget.remaining, DEPENDENCY_PROBE_TIMEOUT)
        if verdict.down:
            return _degraded(ctx, f"{verdict.describe(verdict.down)}: restarting {ctx.spec.name} would not "
                                  f"help ({reason})", probe)
        if verdict.unknown:
            reason += f"; its dependencies could not be checked: {verdict.describe(verdict.unknown)}"
        elif ctx.budget.remaining() >= RETRY_MIN:
            retry = again()
            if retry.ok:
                ctx.report.warning(f"{reason}; its dependencies answer and a second check passed: "
                                   "a dependency that just came back, not a failure")
                return OCFExit.SUCCESS
            reason += f"; its dependencies answer, and a second check failed too: {retry.detail}"
            working = busy() if busy and health.TIMEOUT == result.kind == retry.kind else ""
            if working:
                return _degraded(ctx, f"{ctx.spec.name} is busy, not hung: {working} while /healthcheck answers "
                                      f"and requests time out; restarting it would not help ({reason})", probe)
    raise OCFError(OCFExit.ERR_GENERIC, reason)


def _degraded(ctx: Context, reason: str, probe: bool) -> int:
    if probe:   # Pacemaker asks what runs: it does (and 2.1.5 fails 190 from anything but a monitor)
        ctx.report.warning(reason)
        return OCFExit.SUCCESS
    raise OCFError(OCFExit.DEGRADED, reason)


def monitor(ctx: Context) -> int:
    depth = _depth(ctx.env)
    found = ctx.find()
    probe = is_probe(ctx.env)
    if not found.running:
        reason = f"{ctx.spec.name} is not running (no live process for {ctx.pidfile})"
        foreign = _probe_port(ctx) if probe else ""
        if foreign:
            ctx.report.warning(foreign + OUTSIDE_HINT)
            reason += "; but " + foreign + OUTSIDE_HINT
        raise OCFError(OCFExit.NOT_RUNNING, reason)
    if probe:  # a probe parsed leniently; with a process to look after, the values must be right
        parse(ctx.spec.params, ctx.env)
    if found.leader is None:
        raise OCFError(OCFExit.ERR_GENERIC,
                       f"{ctx.spec.name} main process is gone but processes {list(found.members)} "
                       "of its group still run (stop cleans them up)")
    if not probe:
        failure_watch.ensure(ctx, found.leader)
    result = _health(ctx, _check_timeout(ctx))
    if not result.ok:
        return _failed(ctx, result, f"{ctx.spec.name} (pid {found.leader}) runs but its health check failed: "
                                    f"{result.detail}", probe, health.DEPENDENCY_KINDS_HEALTH,
                       lambda: _health(ctx, min(RETRY_TIMEOUT[0], _check_timeout(ctx))))
    if depth >= 10 and not probe:
        from ..checks.activity import Meter  # the depth-10 path only
        meter = Meter(found.members, lambda: process.group_members(found.leader))
        result = ctx.spec.depth10(_auth_check(ctx, _check_timeout(ctx)))
        if not result.ok:
            return _failed(ctx, result, f"{ctx.spec.name} depth-10 check: {result.detail}", probe,
                           health.DEPENDENCY_KINDS,
                           lambda: ctx.spec.depth10(_auth_check(ctx, min(RETRY_TIMEOUT[10], _check_timeout(ctx)))),
                           meter.busy)
        if result.degraded:
            return _degraded(ctx, f"{ctx.spec.name} depth-10 check: {result.detail}", probe)
    for advisory in () if probe else ctx.spec.advisories:
        why = advisory(ctx.values, ctx.env)
        if why:
            return _degraded(ctx, why, probe)
    ctx.report.debug(f"monitor depth {depth}: {result.detail}")
    return OCFExit.SUCCESS


def _log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in lines[-LOG_TAIL_LINES:] if line.strip())
    return f"; last lines of {path}: {tail}" if tail else ""


def _daemon_env(ctx: Context) -> Dict[str, str]:
    """A clean environment: nothing of Pacemaker's (it holds the password) leaks in."""
    env = {"PATH": DAEMON_PATH, "LANG": ctx.env.get("LANG") or "C.UTF-8"}
    env.update(ctx.spec.environment(ctx.values))
    return env


def _command(ctx: Context) -> List[str]:
    return ctx.spec.command(ctx.values) + shlex.split(ctx.values["additional_parameters"])


def _probe_port(ctx: Context) -> str:
    """foreign_listener for a probe, which parsed leniently: a bad url is no finding."""
    try:
        return foreign_listener(ctx, ())
    except OCFError:
        return ""


def _wait_healthy(ctx: Context, daemon: Optional["subprocess.Popen"], pid: int) -> int:
    result = None
    while not ctx.budget.expired():
        if daemon is not None and daemon.poll() is not None:
            raise OCFError(OCFExit.ERR_GENERIC,
                           f"{ctx.spec.name} exited with code {daemon.returncode} while starting"
                           + _log_tail(ctx.values["log_file"]))
        result = _health(ctx, ctx.budget.cap(START_PROBE_TIMEOUT))
        foreign = foreign_listener(ctx, process.group_members(pid)) if result.ok else ""
        if foreign:
            result = health.HealthResult(False, foreign)
        elif result.ok:
            ctx.report.info(f"{ctx.spec.name} started (pid {pid}) in {ctx.budget.elapsed():.1f}s")
            return OCFExit.SUCCESS
        time.sleep(min(START_POLL, ctx.budget.remaining()))
    detail = result.detail if result else "no health check was possible"
    raise OCFError(OCFExit.ERR_GENERIC,
                   f"{ctx.spec.name} (pid {pid}) did not become healthy within {ctx.budget.total:.0f}s: {detail}"
                   + _log_tail(ctx.values["log_file"]))


def start(ctx: Context) -> int:
    _validate(ctx)
    found = ctx.find()
    if found.leader is not None:
        ctx.report.info(f"{ctx.spec.name} already runs (pid {found.leader})")
        _wait_healthy(ctx, None, found.leader)
        failure_watch.started(ctx, found.leader)
        return OCFExit.SUCCESS
    if found.running:
        _stop_found(ctx, found)
    foreign = foreign_listener(ctx, ())
    if foreign:
        raise OCFError(OCFExit.ERR_GENERIC, f"cannot start {ctx.spec.name}: {foreign}")
    argv = _command(ctx)
    ctx.report.info("starting: " + " ".join(shlex.quote(a) for a in argv))
    try:
        daemon = process.spawn(argv, ctx.values["user"], ctx.values["group"], ctx.values["log_file"],
                               _daemon_env(ctx))
    except OSError as err:
        raise OCFError(OCFExit.ERR_GENERIC, f"cannot start {argv[0]}: {err}") from None
    process.write_pidfile(ctx.pidfile, daemon.pid)
    _wait_healthy(ctx, daemon, daemon.pid)
    failure_watch.started(ctx, daemon.pid)
    return OCFExit.SUCCESS


def _stop_found(ctx: Context, found: process.Found) -> None:
    pgid = process.read_pidfile(ctx.pidfile) or found.members[0]
    grace = min(STOP_GRACE_MAX, ctx.budget.remaining() * STOP_GRACE_FRACTION)
    if all(process.frozen(pid) for pid in found.members):
        # hung by SIGSTOP (or a tracer): continued, it would finish requests whose clients
        # gave up long ago, and a graceful uwsgi waits for its workers while the failover
        # waits. Only when every process is stopped: one straced master is no hang.
        ctx.report.info(f"{ctx.spec.name} (processes {list(found.members)}) is frozen (stopped by a signal): "
                        "killing it without a grace period")
        grace = 0.0
    # the wait after SIGKILL gets what is left after the graceful period, not before it: the
    # whole path (grace, SIGKILL, wait) must end within the op timeout even when processes
    # stuck in the kernel survive SIGKILL (a stop that times out is fenced without a reason)
    left = process.terminate(pgid, found.leader, grace, max(0.0, ctx.budget.remaining() - grace))
    if left:
        raise OCFError(OCFExit.ERR_GENERIC,
                       f"processes {left} of {ctx.spec.name} survived SIGKILL (stuck in the kernel?)")
    ctx.report.info(f"{ctx.spec.name} stopped in {ctx.budget.elapsed():.1f}s")


def stop(ctx: Context) -> int:
    failure_watch.end(ctx)   # first: what follows must not look like a failure to it
    found = ctx.find(check_binary=False)
    if found.running:
        _stop_found(ctx, found)
    for path in (ctx.pidfile, ctx.token_file, failure_watch.stopped(ctx)):
        privatefile.remove(path)
    return OCFExit.SUCCESS


def validate_all(ctx: Context) -> int:
    _validate(ctx)
    found = ctx.find()
    foreign = "" if found.leader else foreign_listener(ctx, found.members)
    if foreign:
        raise OCFError(OCFExit.ERR_ARGS, foreign + OUTSIDE_HINT)
    return OCFExit.SUCCESS


def reload(ctx: Context) -> int:
    """Only monitoring parameters changed (the others are unique): nothing to restart."""
    ctx.report.info("monitoring parameters reloaded; the service keeps running")
    failure_watch.restart(ctx)
    return OCFExit.SUCCESS


HANDLERS: Dict[str, Callable[[Context], int]] = {
    "start": start, "stop": stop, "monitor": monitor,
    "validate-all": validate_all, "reload": reload,
}
