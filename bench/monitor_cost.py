#!/usr/bin/python3
"""What each agent action costs against the running services, beside references and targets.

Usage (root, after tests/setup/openstack-setup.sh, nothing else on 127.0.0.1:5000/9292):
    /usr/bin/python3 bench/monitor_cost.py [--runs 20] [--loop-seconds 60]

Starts Keystone and Glance through the agents, then measures:
- every action RUNS times: median wall (perf_counter) and CPU (the child's rusage); depth 10
  both with the token the monitor keeps (what runs between hourly re-issues) and issuing one;
- the references: `/usr/bin/python3 -c pass` and `curl /healthcheck`;
- both agents' depth-0 monitors at a 10 s interval for LOOP seconds: the share of one core;
- start: how long after the API first answers does `start` return (a poller asks every 20 ms);
- stop: how long after the last process exits does `stop` return.
Prints a Markdown table with each target of the issue beside the figure, then stops both.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from agent_harness import PARAMS, Agent, group_of  # noqa: E402

PLAIN = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
HEALTH = {"keystone": "http://127.0.0.1:5000/healthcheck", "glance-api": "http://127.0.0.1:9292/healthcheck"}


def run_once(argv: List[str], env: Dict[str, str]) -> Tuple[float, float, int]:
    """(wall s, CPU s of the child and its children, rc)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    rc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def medians(argv: List[str], env: Dict[str, str], runs: int) -> Tuple[float, float, List[int]]:
    samples = [run_once(argv, env) for _ in range(runs)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            sorted({s[2] for s in samples}))


def answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return response.status == 200
    except OSError:
        return False


class Watch:
    """Polls ``condition`` in a thread; remembers when it was first and last true."""

    def __init__(self, condition, every: float) -> None:
        self.first: Optional[float] = None
        self.last: Optional[float] = None
        self._condition, self._every = condition, every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._done.is_set():
            if self._condition():
                now = time.perf_counter()
                self.first = self.first or now
                self.last = now
            time.sleep(self._every)

    def during(self, agent: Agent, action: str) -> float:
        """Run ``action``; returns the time at which it returned."""
        self._thread.start()
        result = agent.run(action)
        returned = time.perf_counter()
        self._done.set()
        self._thread.join()
        assert result.rc == 0, result.reason
        return returned


def start_latency(agent: Agent) -> float:
    """Seconds between the API's first 200 and the return of `start`."""
    watch = Watch(lambda: answering(HEALTH[agent.name]), 0.02)
    returned = watch.during(agent, "start")
    assert watch.first is not None, "the API never answered during start"
    return max(0.0, returned - watch.first)


def stop_latency(agent: Agent) -> float:
    """Seconds between the exit of the daemon's last process and the return of `stop`."""
    pgid = agent.leader()
    watch = Watch(lambda: bool(group_of(pgid)), 0.01)
    returned = watch.during(agent, "stop")
    return max(0.0, returned - (watch.last or returned))


def monitor_share(agents: List[Agent], seconds: float, interval: float = 10.0) -> float:
    """Percent of one core that both depth-0 monitors use at ``interval``, measured over ``seconds``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        for agent in agents:
            subprocess.run([agent.path, "monitor"], env=agent.env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        time.sleep(max(0.0, interval - (time.perf_counter() - tick)))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 100.0 * cpu / (time.perf_counter() - started)


def row(what: str, figure: str, target: str, met: Optional[bool]) -> str:
    verdict = "" if met is None else ("met" if met else "**missed**")
    return f"| {what} | {figure} | {target} | {verdict} |"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--loop-seconds", type=float, default=60.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("monitor_cost.py: run as root")
    agents = [Agent("keystone", "bench-keystone", PARAMS["keystone"]),
              Agent("glance-api", "bench-glance", PARAMS["glance-api"])]
    rows = ["| figure | measured (median) | target | |", "| --- | ---: | --- | --- |"]
    say = lambda msg: print(f"[{time.strftime('%T')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        starts = {a.name: [] for a in agents}
        stops = {a.name: [] for a in agents}
        for n in range(3):
            say(f"start/stop latency, round {n + 1} of 3")
            for agent in agents:
                starts[agent.name].append(start_latency(agent))
            time.sleep(3)  # let uwsgi's lazy workers load: a stop now measures the mercy, not us
            for agent in reversed(agents):
                stops[agent.name].append(stop_latency(agent))
        for agent in agents:
            assert agent.run("start").rc == 0
        time.sleep(3)
        say("references")
        wall, cpu, _ = medians(["/usr/bin/python3", "-c", "pass"], PLAIN, args.runs)
        rows.append(row("reference: `/usr/bin/python3 -c pass`", f"{ms(wall)} wall, {ms(cpu)} CPU", "", None))
        wall, cpu, _ = medians(["curl", "-s", "-o", "/dev/null", HEALTH["keystone"]], PLAIN, args.runs)
        rows.append(row("reference: `curl /healthcheck` (keystone)", f"{ms(wall)} wall, {ms(cpu)} CPU", "", None))
        for agent in agents:
            say(f"{agent.name}: actions x{args.runs}")
            wall, cpu, rcs = medians([agent.path, "monitor"], agent.env(), args.runs)
            rows.append(row(f"{agent.name} monitor depth 0", f"{ms(wall)} wall, {ms(cpu)} CPU",
                            "<= 80 ms wall, <= 60 ms CPU", wall <= 0.08 and cpu <= 0.06 and rcs == [0]))
            limit = 0.5 if agent.name == "keystone" else 0.7
            wall, cpu, rcs = medians([agent.path, "monitor"], agent.env(OCF_CHECK_LEVEL="10"), args.runs)
            rows.append(row(f"{agent.name} monitor depth 10 (cached token)", f"{ms(wall)} wall, {ms(cpu)} CPU",
                            f"<= {limit * 1000:.0f} ms wall", wall <= limit and rcs == [0]))
            wall, cpu, rcs = medians([agent.path, "monitor"],
                                     agent.env(OCF_CHECK_LEVEL="10", OCF_RESKEY_token_max_age="0"), args.runs)
            rows.append(row(f"{agent.name} monitor depth 10, token issued (hourly; token_max_age=0: always)",
                            f"{ms(wall)} wall, {ms(cpu)} CPU", "", None))
            wall, cpu, rcs = medians([agent.path, "meta-data"], agent.env(), args.runs)
            rows.append(row(f"{agent.name} meta-data", f"{ms(wall)} wall, {ms(cpu)} CPU", "<= 50 ms",
                            wall <= 0.05 and rcs == [0]))
            wall, cpu, rcs = medians([agent.path, "validate-all"], agent.env(), args.runs)
            rows.append(row(f"{agent.name} validate-all", f"{ms(wall)} wall, {ms(cpu)} CPU", "<= 100 ms",
                            wall <= 0.1 and rcs == [0]))
            start = statistics.median(starts[agent.name])
            rows.append(row(f"{agent.name} start returns after the API answers", ms(start), "<= 500 ms",
                            start <= 0.5))
            stop = statistics.median(stops[agent.name])
            rows.append(row(f"{agent.name} stop returns after the last process exits", ms(stop), "<= 500 ms",
                            stop <= 0.5))
        say(f"both depth-0 monitors every 10 s for {args.loop_seconds:.0f} s")
        share = monitor_share(agents, args.loop_seconds)
        rows.append(row("both agents, depth-0 monitor every 10 s", f"{share:.2f} % of one core", "<= 1 %",
                        share <= 1.0))
    finally:
        for agent in reversed(agents):
            agent.run("stop")
    print(f"\n{args.runs} runs per action (start/stop: 3 rounds); /usr/bin/python3 "
          f"{sys.version.split()[0]}; {os.cpu_count()} cores\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
