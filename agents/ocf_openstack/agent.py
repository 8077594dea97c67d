"""The action engine: one implementation of the OCF contract for every service.

``main(spec, argv, env) -> int`` parses the action and parameters, runs the
action within the op's time budget and turns every failure into an OCF code
with an exit reason. It never knows which service it drives.
"""

import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Sequence, TextIO

from . import __version__, health, metadata, process, sockets
from .budget import Budget
from .exitcodes import OCFError, OCFExit
from .log import OCFLibraryMissing, Reporter
from .openstack_auth import Credentials
from .params import Values, parse, secrets
from .service import ServiceSpec

if TYPE_CHECKING:
    import subprocess

DAEMON_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
START_POLL = 0.1
START_PROBE_TIMEOUT = 1.0  # uwsgi accepts before a worker is ready: re-ask rather than wait
LOG_TAIL_LINES = 3
STOP_GRACE_FRACTION = 0.6
# Healthy daemons stop in 1-3 s; a uwsgi stuck loading waits out its 60 s mercy: don't.
STOP_GRACE_MAX = 20.0
OUTSIDE_HINT = ("; a service started outside the cluster? Pacemaker must own it: "
                "systemctl disable --now <its unit>")

# Without OCF_RESKEY_CRM_meta_timeout (ocf-tester, a shell), the advertised timeouts apply.
DEFAULT_TIMEOUT = {a.name: a.timeout for a in metadata.ACTIONS if a.depth in (None, 0)}


class Context:
    """What one action works with."""

    def __init__(self, spec: ServiceSpec, values: Values, env: Mapping[str, str],
                 budget: Budget, report: Reporter) -> None:
        self.spec = spec
        self.values = values
        self.env = env
        self.budget = budget
        self.report = report

    @property
    def pidfile(self) -> str:
        return self.values["pid"]

    @property
    def endpoint(self) -> health.Endpoint:
        try:
            return health.parse_endpoint(self.values["url"])
        except ValueError as err:
            raise OCFError(OCFExit.ERR_CONFIGURED, f"parameter url: {err}") from None

    @property
    def tls(self) -> health.TLSOptions:
        return health.TLSOptions(self.values["ca_file"], bool(self.values["insecure"]))

    def find(self, check_binary: bool = True) -> process.Found:
        return process.find(self.pidfile, self.values["binary"] if check_binary else None)


# ---------------------------------------------------------------- validation

def _allowed(path: str, uid: int, groups: List[int], bits: int) -> bool:
    """Whether the owner/group/other class ``uid`` falls in has ``bits`` (r=4, x=1) on ``path``."""
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & (bits << 6))
    if st.st_gid in groups:
        return bool(st.st_mode & (bits << 3))
    return bool(st.st_mode & bits)


def _readable_by(path: str, user: str, uid: int, gid: int) -> bool:
    """Whether ``user`` may read ``path``, parent directories included: mode bits, no ACLs."""
    if uid == 0:
        return True
    groups = os.getgrouplist(user, gid)
    parents = []
    directory = os.path.dirname(os.path.abspath(path))
    while directory not in parents:
        parents.append(directory)
        directory = os.path.dirname(directory)
    return (all(_allowed(d, uid, groups, 1) for d in parents)
            and _allowed(path, uid, groups, 4))


def _check_host(ctx: Context) -> None:
    """The local environment: binary, account, files (5 not installed, 2 wrong here)."""
    values = ctx.values
    binary = values["binary"]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise OCFError(OCFExit.ERR_INSTALLED, f"parameter binary: {binary!r} is not an executable file")
    try:
        uid, gid, _home = process.user_ids(values["user"], values["group"])
    except KeyError:
        raise OCFError(OCFExit.ERR_INSTALLED,
                       f"service account {values['user']}:{values['group']} does not exist "
                       "(parameters user and group; is the service's package installed?)") from None
    for name in ctx.spec.files:
        path = values[name]
        if not path:
            continue  # an optional file left unset
        if not os.path.isfile(path):
            raise OCFError(OCFExit.ERR_INSTALLED, f"parameter {name}: {path!r} is not a file")
        if not _readable_by(path, values["user"], uid, gid):
            raise OCFError(OCFExit.ERR_ARGS, f"parameter {name}: {path!r} is not readable by user {values['user']}")
    if values["ca_file"] and not os.path.isfile(values["ca_file"]):
        raise OCFError(OCFExit.ERR_ARGS, f"parameter ca_file: {values['ca_file']!r} is not a file")
    for name in ("log_file", "pid"):
        path = values[name]
        if os.path.isdir(path):
            raise OCFError(OCFExit.ERR_ARGS, f"parameter {name}: {path!r} is a directory, not a file")
    log_dir = os.path.dirname(values["log_file"]) or "/"
    if not os.path.isdir(log_dir):
        raise OCFError(OCFExit.ERR_ARGS, f"parameter log_file: directory {log_dir!r} does not exist")


def _validate(ctx: Context) -> None:
    """Everything but syntax (parse checked that): the host, and who holds the port."""
    _check_host(ctx)
    if ctx.values["insecure"]:
        ctx.report.warning("insecure=true: HTTPS certificates are not verified")


# ---------------------------------------------------------------- monitor

def _depth(env: Mapping[str, str]) -> int:
    try:
        return 10 if int(env.get("OCF_CHECK_LEVEL") or 0) >= 10 else 0
    except ValueError:
        raise OCFError(OCFExit.ERR_CONFIGURED,
                       f"OCF_CHECK_LEVEL={env.get('OCF_CHECK_LEVEL')!r} is not a number (use 0 or 10)") from None


def _is_probe(env: Mapping[str, str]) -> bool:
    return env.get("OCF_RESKEY_CRM_meta_interval", "0") in ("", "0")


def _credentials(values: Values) -> Credentials:
    missing = [n for n in ("os_username", "os_password", "os_project_name") if not values[n]]
    if missing:
        raise OCFError(OCFExit.ERR_CONFIGURED,
                       "the depth-10 monitor (OCF_CHECK_LEVEL=10) needs " + ", ".join(missing))
    return Credentials(values["os_auth_url"], values["os_username"], values["os_password"],
                       values["os_project_name"], values["os_user_domain_name"],
                       values["os_project_domain_name"], values["os_region_name"], values["os_interface"])


def _health(ctx: Context, timeout: float) -> health.HealthResult:
    return health.check(ctx.endpoint, ctx.values["health_path"], timeout, ctx.tls)


def monitor(ctx: Context) -> int:
    depth = _depth(ctx.env)
    found = ctx.find()
    probe = _is_probe(ctx.env)
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
    result = _health(ctx, ctx.budget.cap(ctx.values["http_timeout"]))
    if not result.ok:
        raise OCFError(OCFExit.ERR_GENERIC,
                       f"{ctx.spec.name} (pid {found.leader}) runs but its health check failed: {result.detail}")
    if depth >= 10 and not probe:
        creds = _credentials(ctx.values)
        result = ctx.spec.depth10(creds, ctx.tls, ctx.budget, ctx.values["http_timeout"], ctx.values)
        if not result.ok:
            raise OCFError(OCFExit.ERR_GENERIC, f"{ctx.spec.name} depth-10 check: {result.detail}")
        if result.degraded:
            ctx.report.warning(f"{ctx.spec.name} depth-10 check: {result.detail}")
    ctx.report.debug(f"monitor depth {depth}: {result.detail}")
    return OCFExit.SUCCESS


# ---------------------------------------------------------------- start / stop

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


def _foreign_listener(ctx: Context, ours: Sequence[int]) -> str:
    """Empty, or who other than ``ours`` listens on the service's port."""
    port = ctx.endpoint.port
    inodes = sockets.listening_inodes(port)
    if not inodes or sockets.owners(inodes, ours):
        return ""
    others = [info for info in map(process.proc_info, sockets.owners(inodes, sockets.all_pids())) if info]
    who = (f"pid {others[0].pid} ({' '.join(others[0].argv[:3])})" if others
           else "a process outside this PID namespace")
    return f"port {port} is already in use by {who}, not by this resource"


def _probe_port(ctx: Context) -> str:
    """_foreign_listener for a probe, which parsed leniently: a bad url is no finding."""
    try:
        return _foreign_listener(ctx, ())
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
        foreign = _foreign_listener(ctx, process.group_members(pid)) if result.ok else ""
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
        return _wait_healthy(ctx, None, found.leader)
    if found.running:
        _stop_found(ctx, found)
    foreign = _foreign_listener(ctx, ())
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
    return _wait_healthy(ctx, daemon, daemon.pid)


def _stop_found(ctx: Context, found: process.Found) -> None:
    pgid = process.read_pidfile(ctx.pidfile) or found.members[0]
    grace = min(STOP_GRACE_MAX, ctx.budget.remaining() * STOP_GRACE_FRACTION)
    left = process.terminate(pgid, found.leader, grace, ctx.budget.remaining())
    if left:
        raise OCFError(OCFExit.ERR_GENERIC,
                       f"processes {left} of {ctx.spec.name} survived SIGKILL (stuck in the kernel?)")
    ctx.report.info(f"{ctx.spec.name} stopped in {ctx.budget.elapsed():.1f}s")


def stop(ctx: Context) -> int:
    found = ctx.find(check_binary=False)
    if found.running:
        _stop_found(ctx, found)
    process.remove_pidfile(ctx.pidfile)
    return OCFExit.SUCCESS


def validate_all(ctx: Context) -> int:
    _validate(ctx)
    found = ctx.find()
    foreign = "" if found.leader else _foreign_listener(ctx, found.members)
    if foreign:
        raise OCFError(OCFExit.ERR_ARGS, foreign + OUTSIDE_HINT)
    return OCFExit.SUCCESS


def reload(ctx: Context) -> int:
    """Only monitoring parameters changed (the others are unique): nothing to restart."""
    ctx.report.info("monitoring parameters reloaded; the service keeps running")
    return OCFExit.SUCCESS


HANDLERS: Dict[str, Callable[[Context], int]] = {
    "start": start, "stop": stop, "monitor": monitor,
    "validate-all": validate_all, "reload": reload,
}


# ---------------------------------------------------------------- entry point

def usage(spec: ServiceSpec) -> str:
    names = sorted(set(HANDLERS) | {"meta-data", "usage", "help"})
    return f"usage: {spec.name} {{{'|'.join(names)}}}\n"


def _run(spec: ServiceSpec, action: str, env: Mapping[str, str], report: Reporter) -> int:
    # Stop never fails on configuration, and a probe of a stopped service is 7 whatever it says.
    lenient = action == "stop" or (action == "monitor" and _is_probe(env))
    values = parse(spec.params, env, strict=not lenient)
    problem = "" if lenient else spec.check(values)
    if problem:
        raise OCFError(OCFExit.ERR_CONFIGURED, problem)
    report.hide(secrets(spec.params, values))
    budget = Budget.from_env(env, DEFAULT_TIMEOUT.get(action, 20))
    return HANDLERS[action](Context(spec, values, env, budget, report))


def main(spec: ServiceSpec, argv: Optional[Sequence[str]] = None,
         env: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """Run one OCF action; returns its exit code."""
    argv = list(sys.argv if argv is None else argv)
    env = os.environ if env is None else env
    out = out or sys.stdout
    action = argv[1] if len(argv) > 1 else ""
    if action == "meta-data":
        out.write(metadata.render(spec.name, __version__, spec.longdesc, spec.shortdesc,
                                  spec.params, metadata.ACTIONS))
        return OCFExit.SUCCESS
    if action in ("usage", "help", "-h", "--help"):
        out.write(usage(spec))
        return OCFExit.SUCCESS
    try:
        report = Reporter(env)
    except OCFLibraryMissing as err:
        sys.stderr.write(f"ocf-exit-reason:{err} (install resource-agents or set OCF_ROOT)\n")
        return OCFExit.ERR_INSTALLED
    if action not in HANDLERS:
        report.exit_reason(f"unsupported action {action!r}; " + usage(spec).strip())
        return OCFExit.ERR_UNIMPLEMENTED
    try:
        return int(_run(spec, action, env, report))
    except OCFError as err:
        # "not running" is a state, not an error: no error line in the logs for it.
        report.exit_reason(err.reason, log=err.code != OCFExit.NOT_RUNNING)
        return int(err.code)
    except Exception as err:  # a bug must still leave a reason, never a bare traceback
        import traceback

        report.debug(traceback.format_exc())
        report.exit_reason(f"internal error in {action}: {err.__class__.__name__}: {err}")
        return OCFExit.ERR_GENERIC
