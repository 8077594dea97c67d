#!/usr/bin/python3
"""HAProxy's rotation with and without agent-check: what a controller that cannot serve
correctly costs the clients of the floating IP (the HAProxy topology, three controllers).

Usage (root, after tests/setup/openstack-setup.sh and the .deb installed):
    /usr/bin/python3 bench/rotation.py [--runs 3] [--hold 40] [--drills rotation-db-cut,rotation-keys]
                                       [--json FILE]

It brings up the lab of lab/rao-lab (openstack-ha-haproxy.crm, 3 nodes in namespaces,
prefix raolabb-) and runs each drill --runs times in two configurations:
  before  every HAProxy's agent checks disabled ("disable agent" on the admin socket): HAProxy
          decides by its health check alone (GET /healthcheck), as before issue 23
  after   agent-check running, as the snippet ships it
Every run holds the fault --hold seconds (one controller, not the IP's, cut off from the
database, or its keys rotated twice with no sync), with clients issuing and validating a
token and listing images through the IP every second (lab/raolab/drills/rotation.py).

Printed per drill and configuration (medians of the runs, min-max):
  verdict    fault -> the watcher's node attribute says so (database-watch, keys-watch)
  left       verdict -> HAProxy of the IP's node shows the server DOWN ("never": stayed in)
  failed     failed requests during the held fault, of all made; Keystone + Glance
  back       the verdict that it can serve again -> the server UP
Then what the responder costs: its CPU (with its cibadmin children) over --cost seconds on
one controller, while three HAProxies ask it about two backends every second.
Progress goes to stderr, the Markdown table to stdout. Not part of the test suite.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from benchkit import say, start  # noqa: E402 (first: it puts lab/ on sys.path)

from raolab.cluster import log, reset_clock  # noqa: E402
from raolab.drills import rotation  # noqa: E402
from raolab.drills.result import Result  # noqa: E402
from raolab.lab import Lab, LabOptions  # noqa: E402
from raolab.topology import haproxy  # noqa: E402

PFX = "raolabb"
DRILLS = {"rotation-db-cut": rotation.db_cut, "rotation-keys": rotation.keys_drift}



def responder_cpu(lab: Lab, i: int, seconds: float) -> str:
    """CPU seconds per minute of node i's responder (utime+stime and its reaped children's)."""
    pid = rotation.responder_pid(lab, i)

    def cpu() -> float:
        stat = lab.cluster.node(i, "cat", f"/proc/{pid}/stat").stdout
        return sum(int(f) for f in stat.rsplit(")", 1)[1].split()[11:15]) / os.sysconf("SC_CLK_TCK")
    before = cpu()
    time.sleep(seconds)
    return f"{(cpu() - before) * 60 / seconds:.2f} CPU-s per minute (pid {pid} on node{i}, {seconds:.0f} s)"


def median(values: List[Optional[float]]) -> str:
    found = [v for v in values if v is not None]
    if not found:
        return "never"
    text = f"{statistics.median(found):.1f}"
    if len(found) > 1:
        text += f" ({min(found):.1f}-{max(found):.1f})"
    return text + ("" if len(found) == len(values) else f" ({len(values) - len(found)} never)")


def failed(results: List[Result]) -> str:
    made = [sum(n for n, _ in r.extra["failed_in_window"].values()) for r in results]
    total = [sum(t for _, t in r.extra["failed_in_window"].values()) for r in results]
    return f"{statistics.median(made):.0f} of {statistics.median(total):.0f}"


def table(rows: Dict[str, Dict[str, List[Result]]], hold: float) -> str:
    out = [f"| drill | agent-check | verdict (s) | left the rotation after the verdict (s) | failed requests "
           f"in {hold:.0f} s | back after the verdict (s) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for drill, configs in rows.items():
        for config, results in configs.items():
            out.append(f"| {drill} | {config} | {median([r.extra.get('verdict') for r in results])} | "
                       f"{median([r.extra.get('left_after_verdict') for r in results])} | {failed(results)} | "
                       f"{median([r.extra.get('back_after_verdict') for r in results])} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hold", type=float, default=40.0, help="seconds each fault lasts (default 40)")
    parser.add_argument("--drills", default=",".join(DRILLS))
    parser.add_argument("--cost", type=float, default=60.0, help="seconds to measure the responder's CPU (0: skip)")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    start("bench/rotation.py")
    started = time.monotonic()
    reset_clock()
    lab = Lab(LabOptions(pfx=PFX, mode="haproxy", nodes=3, database="single"),
              say=lambda m: log(m, "lab") if m.startswith(("lab up", "drill")) else None)
    lab.cluster.echo = lambda line: None
    lab.diagnose = False
    rows: Dict[str, Dict[str, List[Result]]] = {d: {"before": [], "after": []} for d in args.drills.split(",")}
    say("lab up (three controllers, HAProxy topology)")
    lab.up(session=True)
    try:
        for config in ("before", "after"):
            haproxy.agent_checks(lab.cluster, config == "after")
            for run in range(args.runs):
                for drill, results in rows.items():
                    res = DRILLS[drill](lab, hold=args.hold, expect_leave=config == "after")
                    results[config].append(res)
                    say(f"   {config} run {run + 1}/{args.runs} {res.line()}")
        cost = responder_cpu(lab, 1, args.cost) if args.cost > 0 else ""
    finally:
        lab.cluster.close()
    say(f"bench done in {(time.monotonic() - started) / 60:.1f} min")
    print(table(rows, args.hold))
    if cost:
        print(f"\nthe responder: {cost}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {drill: {config: [{"ok": r.ok, "extra": {k: v for k, v in r.extra.items()}, "notes": r.notes,
                               "error": r.error} for r in results] for config, results in configs.items()}
             for drill, configs in rows.items()}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
