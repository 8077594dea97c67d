"""The daemon's processes: spawn, find by pidfile, identify, stop.

A pidfile alone lies after a reboot or PID reuse, so a PID counts as ours only
if the process started before the pidfile was written and runs the expected
binary. The daemon is started in a new session, so it leads its own process
group: its workers (and orphans of a killed parent) share that group ID, and
the kernel never hands out a PID that is still in use as a group ID.
"""

import grp
import os
import pwd
import signal
import time
from typing import TYPE_CHECKING, Callable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import privatefile

if TYPE_CHECKING:
    import subprocess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# /proc/stat's btime has one-second resolution.
START_TIME_SLACK = 1.0
POLL_INTERVAL = 0.05
DEAD_STATES = ("Z", "X")  # zombie, dead: gone for every purpose here
FROZEN_STATES = ("T", "t")  # stopped by a signal (SIGSTOP) or by a tracer


class ProcInfo(NamedTuple):
    pid: int
    state: str
    pgid: int
    started: float  # seconds since the epoch
    argv: Sequence[str]


_BOOT_TIME: List[float] = []


def _boot_time() -> float:
    if not _BOOT_TIME:
        with open("/proc/stat", encoding="ascii") as stat:
            _BOOT_TIME.extend(float(line.split()[1]) for line in stat if line.startswith("btime "))
    return _BOOT_TIME[0]


def _stat(pid: int) -> Optional[List[str]]:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may itself hold spaces and parentheses.
    return stat[stat.rindex(")") + 2:].split()


def proc_info(pid: int) -> Optional[ProcInfo]:
    """What /proc says of ``pid``, or None when it is gone."""
    fields = _stat(pid)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields is None:
        return None
    started = _boot_time() + int(fields[19]) / CLOCK_TICKS
    return ProcInfo(pid=pid, state=fields[0], pgid=int(fields[2]), started=started, argv=argv)


def alive(info: Optional[ProcInfo]) -> bool:
    return info is not None and info.state not in DEAD_STATES


def cpu_seconds(pid: int) -> Optional[float]:
    """CPU time (user + system, all threads) ``pid`` has used, or None when it is gone."""
    fields = _stat(pid)
    if fields is None or fields[0] in DEAD_STATES:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def frozen(pid: int) -> bool:
    """True if ``pid`` is stopped (SIGSTOP, a tracer): it handles no signal until continued."""
    fields = _stat(pid)
    return fields is not None and fields[0] in FROZEN_STATES


def group_members(pgid: int) -> List[int]:
    """Live processes of process group ``pgid`` (none for 0 and 1: never ours)."""
    if pgid <= 1:
        return []
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))  # stat alone: this scan runs on every monitor
            if fields and fields[0] not in DEAD_STATES and int(fields[2]) == pgid:
                members.append(int(entry))
    return sorted(members)


def runs_binary(info: ProcInfo, binary: str) -> bool:
    """True if the process was started as ``binary`` (directly or via an interpreter)."""
    name = os.path.basename(binary)
    return any(os.path.basename(arg) == name for arg in info.argv[:2])


def read_pidfile(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().split()
    except (OSError, UnicodeDecodeError):
        return None
    if not text or not text[0].isdigit():
        return None
    pid = int(text[0])
    return pid if pid > 1 else None  # 0 and 1 (init) are never a daemon of ours


def write_pidfile(path: str, pid: int) -> None:
    privatefile.write(path, f"{pid}\n")


class Found(NamedTuple):
    """What runs for a resource: its verified leader (if any) and its group."""

    leader: Optional[int]
    members: Sequence[int]

    @property
    def running(self) -> bool:
        return bool(self.members)


def find(pidfile: str, binary: Optional[str]) -> Found:
    """The daemon recorded in ``pidfile``, verified, with all its processes.

    ``binary`` None skips the command-line check: stop must find what an
    earlier configuration started even if the binary parameter changed since.
    """
    pid = read_pidfile(pidfile)
    if pid is None:
        return Found(None, ())
    info = proc_info(pid)
    if alive(info):
        try:
            written = os.stat(pidfile).st_mtime
        except FileNotFoundError:
            return Found(None, ())
        if info.started > written + START_TIME_SLACK or (binary and not runs_binary(info, binary)):
            return Found(None, ())  # PID reused by an unrelated process
        return Found(pid, group_members(pid))
    # Leader gone: survivors of its group are orphaned workers, and still ours.
    return Found(None, group_members(pid))


def by_command(modules: Sequence[str], arg: str) -> List[int]:
    """Live processes started as ``python3 ... -m <module> <arg>`` for one of ``modules``, in
    this mount namespace (a lab node's process may name the same path in its own): how stop
    finds a helper process its pidfile or state file no longer names."""
    try:
        here = os.readlink("/proc/self/ns/mnt")
    except OSError:
        here = ""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
            module = next((m for m in modules if m in argv), None)
            if (module and argv[argv.index(module) + 1:][:1] == [arg]
                    and (not here or os.readlink(f"/proc/{entry}/ns/mnt") == here)
                    and alive(proc_info(int(entry)))):
                found.append(int(entry))
        except OSError:
            continue
    return found


def user_ids(user: str, group: str) -> Tuple[int, int, str]:
    """(uid, gid, home) of the service account; KeyError names what is missing."""
    account = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else account.pw_gid
    return account.pw_uid, gid, account.pw_dir


def open_log(path: str, uid: int, gid: int) -> int:
    """An append descriptor for the service log, created owned by the service user."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640)
    if os.fstat(fd).st_size == 0:
        os.fchown(fd, uid, gid)
    return fd


def spawn(argv: Sequence[str], user: str, group: str, log_path: str,
          env: Mapping[str, str]) -> "subprocess.Popen":
    """Start the daemon as ``user`` in a new session, output to ``log_path``."""
    import subprocess  # only start needs it

    uid, gid, home = user_ids(user, group)
    log_fd = open_log(log_path, uid, gid)
    try:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
            cwd=home if os.path.isdir(home) else "/", env=dict(env),
            user=uid, group=gid, extra_groups=[], start_new_session=True, close_fds=True)
    finally:
        os.close(log_fd)


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _wait_gone(pgid: int, seconds: float, sleep: Callable[[float], None]) -> List[int]:
    deadline = time.monotonic() + seconds
    members = group_members(pgid)
    while members and time.monotonic() < deadline:
        sleep(POLL_INTERVAL)
        members = group_members(pgid)
    return members


def terminate(pgid: int, leader: Optional[int], grace: float, kill_wait: float,
              sleep: Callable[[float], None] = time.sleep) -> List[int]:
    """SIGTERM (the leader, else every member), wait ``grace``, SIGKILL the group.

    SIGCONT follows SIGTERM, as systemd does: a stopped (SIGSTOPped, frozen)
    process would otherwise hold its SIGTERM pending for the whole grace.
    Returns what is still alive after ``kill_wait`` more seconds (normally nothing).
    """
    _signal_all([leader] if leader else group_members(pgid), signal.SIGTERM)
    _signal_all(group_members(pgid), signal.SIGCONT)
    left = _wait_gone(pgid, grace, sleep)
    if not left:
        return left
    _signal_all(left, signal.SIGKILL)
    return _wait_gone(pgid, kill_wait, sleep)
