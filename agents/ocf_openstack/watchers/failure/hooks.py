"""The failure watcher's one face to the service engine: its parameters, and one function
per action (``started`` at start, ``ensure`` at a recurring monitor, ``end`` and ``stopped``
at stop, ``restart`` at reload). Nothing here may fail an action: each logs what went wrong
and carries on without the watcher. It imports nothing heavy: the monitor runs it every 10 s.
"""

import os
import select
import signal
import sys
from typing import Callable, Dict, List, Mapping, Optional

from ... import __version__
from ...host import privatefile, process
from ...host.paths import LOG_ENVIRONMENT as INHERITED, PACKAGE_ROOT
from ...ocf.params import Parameter
from . import mark
from .state import CLEAN_PATH, SETTINGS, STATE_FORMAT, read_state, state_file, stop_marker, write_state

END_WAIT = 2.0          # seconds an action waits for a signalled watcher to exit
LOOP_MODULE = "ocf_openstack.watchers.failure.loop"
# a watcher's module on its command line: ours, or one an agent of the layout before
# sub-packages started (still ours after an upgrade in place)
WATCHER_MODULES = (LOOP_MODULE, "ocf_openstack.failure_watch")

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
            or (info.argv and not any(m in info.argv for m in WATCHER_MODULES))):
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


def _watchers_of(path: str) -> List[int]:
    """Live watchers of the state file ``path`` found by their command line: how stop finds
    one its state file no longer names (corrupt, removed). A frozen watcher left running
    would never end by itself."""
    return process.by_command(WATCHER_MODULES, path)


@_never_fails
def end(ctx) -> None:
    """stop: the stop marker first, then the watcher ends (the one its state file names, and
    any other of this instance); the service after (and then ``stopped`` removes the marker)."""
    path = state_file(ctx.spec.name, ctx.env)
    state = read_state(path)
    named = _watcher_alive(state) if state else None
    strays = [pid for pid in _watchers_of(path) if pid != named]
    if not os.path.lexists(path) and not strays:
        return                      # no watcher was started for this instance
    privatefile.write(stop_marker(path), "stopping\n")
    for pid in ([named] if named else []) + strays:
        _end(pid)
    privatefile.remove(path)


def stopped(ctx) -> str:
    """The stop marker, for stop to remove once the service is stopped."""
    return stop_marker(state_file(ctx.spec.name, ctx.env))


def _settings(ctx, leader: int) -> Dict[str, str]:
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
        env = {k: ctx.env[k] for k in INHERITED if ctx.env.get(k)}
        env.update(PATH=CLEAN_PATH, PYTHONPATH=PACKAGE_ROOT)
        child = subprocess.Popen([sys.executable, "-s", "-m", LOOP_MODULE, path, str(pidfd)],
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


def started(ctx, leader: int) -> None:
    """start: the service answers; watch it, and drop this node's failed mark (serving again:
    the clone snippet's IP may come back)."""
    launch(ctx, leader)
    mark.clear(ctx.spec.name)


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


