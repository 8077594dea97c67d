#!/usr/bin/python3
"""Cost of each agent action against the running services, beside references.

Usage (root, after tests/setup/openstack-setup.sh):
    /usr/bin/python3 bench/monitor_cost.py [--runs 20]
Starts Keystone and Glance through the agents, times every command RUNS times
with /usr/bin/time (wall, user+system CPU) and prints medians as a Markdown
table, then stops both services.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from agent_harness import PARAMS, Agent  # noqa: E402


def timed(argv: List[str], env: Dict[str, str]) -> Tuple[float, float, int]:
    """(wall s, cpu s, rc) of one run, measured by /usr/bin/time."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S", *argv], env=env,
                          capture_output=True, text=True)
    wall, user, system = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), proc.returncode


def measure(label: str, argv: List[str], env: Dict[str, str], runs: int) -> str:
    samples = [timed(argv, env) for _ in range(runs)]
    rcs = sorted({rc for _, _, rc in samples})
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    print(f"  {label}: wall {wall:.3f}s cpu {cpu:.3f}s rc {rcs}", file=sys.stderr, flush=True)
    return f"| {label} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {','.join(map(str, rcs))} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    agents = [Agent("keystone", "bench-keystone", PARAMS["keystone"]),
              Agent("glance-api", "bench-glance", PARAMS["glance-api"])]
    plain = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    rows = ["| command | median wall ms | median CPU ms | rc |", "| --- | ---: | ---: | --- |"]
    try:
        for agent in agents:
            print(f"starting {agent.name}", file=sys.stderr, flush=True)
            assert agent.run("start").rc == 0
        time.sleep(2)  # let uwsgi's lazy workers finish loading
        rows.append(measure("reference: /usr/bin/python3 -c pass", ["/usr/bin/python3", "-c", "pass"], plain, args.runs))
        rows.append(measure("reference: curl /healthcheck (keystone)",
                            ["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:5000/healthcheck"], plain, args.runs))
        for agent in agents:
            rows.append(measure(f"{agent.name} meta-data", [agent.path, "meta-data"], agent.env(), args.runs))
            rows.append(measure(f"{agent.name} validate-all", [agent.path, "validate-all"], agent.env(), args.runs))
            rows.append(measure(f"{agent.name} monitor depth 0", [agent.path, "monitor"], agent.env(), args.runs))
            rows.append(measure(f"{agent.name} monitor depth 10", [agent.path, "monitor"],
                                agent.env(OCF_CHECK_LEVEL="10"), args.runs))
    finally:
        for agent in reversed(agents):
            agent.run("stop")
    print(f"\n{args.runs} runs each, medians, /usr/bin/time:\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
