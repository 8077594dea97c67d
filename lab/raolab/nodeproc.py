"""A node seen from the host: the processes in its PID namespace (/proc) and the times of
its log lines. The drills read these to tell a restart (a new main process) from a
process that kept running, and a fault from its detection."""

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

def node_processes(init_pid: int, pattern: str) -> Dict[int, str]:
    """Host PID -> command line of every process in the node's PID namespace matching pattern."""
    return {pid: cmd for pid, (cmd, _ppid) in node_process_table(init_pid, pattern).items()}


def node_process_table(init_pid: int, pattern: str) -> Dict[int, tuple]:
    """Host PID -> (command line, host parent PID) for the node's processes matching pattern."""
    try:
        ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return {}
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        if re.search(pattern, cmdline):
            found[int(entry)] = (cmdline.strip(), int(fields[1]))
    return found


def freeze(init_pid: int, passes: int = 3) -> int:
    """SIGSTOP every process of the node's PID namespace, its init included (a frozen
    controller: its kernel, here its network namespace, still answers); a few passes catch
    what forked meanwhile. Returns how many processes were stopped."""
    stopped = set()
    for _ in range(passes):
        for pid in node_process_table(init_pid, ""):
            if pid not in stopped:
                try:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.add(pid)
                except ProcessLookupError:
                    pass
    return len(stopped)


def main_processes(init_pid: int, pattern: str) -> List[int]:
    """The tops of the process trees matching pattern (a uwsgi master, a glance parent)."""
    table = node_process_table(init_pid, pattern)
    return sorted(pid for pid, (_cmd, ppid) in table.items() if ppid not in table)


def start_time(pid: int) -> Optional[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def still_alive(pids: Dict[int, str], started: Dict[int, Optional[str]]) -> Dict[int, str]:
    """Those of ``pids`` that still run as the same process (same start time)."""
    return {pid: cmd for pid, cmd in pids.items() if (now := start_time(pid)) is not None and now == started[pid]}


def grep_lines(text: str, patterns: Sequence[str]) -> List[str]:
    return [line for line in text.splitlines() if any(re.search(p, line) for p in patterns)]


def log_time(line: str, year: Optional[int] = None) -> Optional[float]:
    """Epoch seconds of a pacemaker.log / corosync.log line ('Nov 25 00:39:01.007 ...')."""
    m = re.match(r"(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)\.(\d+)", line)
    if not m:
        return None
    year = year or time.localtime().tm_year
    stamp = time.strptime(f"{year} {m.group(1)} {m.group(2)} {m.group(3)}:{m.group(4)}:{m.group(5)}",
                          "%Y %b %d %H:%M:%S")
    return time.mktime(stamp) + float("0." + m.group(6))


if __name__ == "__main__":   # tiny self-check of the log parser
    print(log_time("Nov 25 00:39:01.007 node1 pacemaker-based [46] x"), file=sys.stderr)
