#!/usr/bin/python3
"""What the failure watcher costs at rest: its RSS and its share of one core.

Usage (root, after tests/setup/openstack-setup.sh, nothing else on 127.0.0.1:5000/9292):
    /usr/bin/python3 bench/failure_watch_cost.py [--seconds 60] [--interval 2]

Starts Keystone and Glance through the agents with the watcher on (watch_interval as given),
then reads each watcher's /proc/PID/stat (utime + stime) and /proc/PID/status (VmRSS,
RssAnon) at the start and the end of SECONDS, and prints a Markdown table. Stops both.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from agent_harness import PARAMS, RSCTMP, Agent  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def watcher_pid(agent: Agent) -> int:
    text = (Path(RSCTMP) / f"openstack-{agent.instance}.watch").read_text()
    return int(dict(line.split("=", 1) for line in text.splitlines() if "=" in line)["watcher_pid"])


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def memory(pid: int) -> Tuple[int, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]), int(status["RssAnon"].split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", default="2")
    args = parser.parse_args()
    agents = [Agent("keystone", "bench-keystone", dict(PARAMS["keystone"], watch_interval=args.interval)),
              Agent("glance-api", "bench-glance", dict(PARAMS["glance-api"], watch_interval=args.interval))]
    try:
        for agent in agents:
            result = agent.run("start")
            assert result.rc == 0, f"{agent.name} start: {result.reason}"
        time.sleep(3)   # past the watcher's imports
        before: Dict[str, Tuple[int, int]] = {a.name: (watcher_pid(a), cpu_ticks(watcher_pid(a))) for a in agents}
        time.sleep(args.seconds)
        print(f"| watcher of | pid | RSS KiB (anonymous) | CPU over {args.seconds:.0f} s | share of one core |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for agent in agents:
            pid, ticks = before[agent.name]
            assert watcher_pid(agent) == pid, "the watcher changed during the measurement"
            used = (cpu_ticks(pid) - ticks) / TICKS
            rss, anon = memory(pid)
            print(f"| {agent.name} (watch_interval={args.interval}) | {pid} | {rss} ({anon}) | {used * 1000:.0f} ms | "
                  f"{100 * used / args.seconds:.3f} % |")
    finally:
        for agent in agents:
            agent.run("stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
