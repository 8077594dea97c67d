#!/usr/bin/python3
"""Database outages on the lab, measured: restarts during the outage and the time from the
database's return to both APIs working again, with the installed agents.

Usage (root, after tests/setup/openstack-setup.sh and the .deb installed):
    /usr/bin/python3 bench/database_outage.py [--runs 1] [--modes group,clone]
        [--drills db-stop,db-freeze,db-cut] [--depth10-interval 60] [--migration-threshold 0]
        [--outage S]

For each snippet it brings up the two-controller lab (prefix raolabb-) and runs each drill
(lab/raolab/drills/database.py). The shipped depth-10 interval is 60 s; the outage lasts 2.5 of
them unless --outage says otherwise. To measure the agents before the dependency checks,
install that release's .deb first (dpkg -i) and run the same command: the table says which
agents' version ran. Progress goes to stderr, the Markdown table to stdout. Not part of
the test suite.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from benchkit import say, start  # noqa: E402 (first: it puts lab/ on sys.path)

from raolab.drills import database as dbdrills  # noqa: E402
from raolab.cluster import log, reset_clock  # noqa: E402
from raolab.lab import Lab, LabOptions  # noqa: E402

PFX = "raolabb"



def installed_agents() -> str:
    """What runs: the package version and whether its agents probe dependencies."""
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "resource-agents-openstack"],
                             capture_output=True, text=True).stdout.strip()
    probes = Path("/usr/lib/python3/dist-packages/ocf_openstack/checks/dependencies.py").exists()
    return f"{version or '?'} ({'with' if probes else 'without'} dependency probes)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--modes", default="group,clone")
    parser.add_argument("--drills", default=",".join(dbdrills.DB_DRILLS))
    parser.add_argument("--depth10-interval", type=int, default=60)
    parser.add_argument("--migration-threshold", type=int, default=0)
    parser.add_argument("--outage", type=float, help="seconds (default 2.5 depth-10 intervals)")
    args = parser.parse_args()
    start("bench/database_outage.py")
    agents = installed_agents()
    rows = []
    for mode in args.modes.split(","):
        reset_clock()
        lab = Lab(LabOptions(pfx=PFX, mode=mode, depth10_interval=args.depth10_interval,
                             migration_threshold=args.migration_threshold, database="single"),
                  say=lambda m: log(m, "lab") if m.startswith(("lab up", "db-")) else None)
        lab.cluster.echo = lambda line: None
        lab.diagnose = False
        say(f"== {mode}: lab up ({agents})")
        lab.up(session=True)
        try:
            for _ in range(args.runs):
                for name in args.drills.split(","):
                    fn = dbdrills.DRILLS[name]
                    res = fn(lab, args.outage) if name != "db-cut" else fn(lab)
                    say(f"   {res.line()}")
                    rows.append((mode, name, res))
        finally:
            lab.cluster.close()
    print(f"agents {agents}; depth-10 interval {args.depth10_interval} s; migration-threshold "
          f"{args.migration_threshold or 'unset'}\n")
    print("| drill | snippet | outage s | service restarts | fail-counts | degraded results seen | "
          "moved | APIs working after the return s |")
    print("| --- | --- | ---: | --- | --- | ---: | --- | ---: |")
    for mode, name, res in rows:
        x = res.extra
        back = "-" if res.recovered is None else f"{res.recovered:.1f}"
        if name == "db-cut":
            print(f"| {name} | {mode} | - | - | - | - | {x.get('cut')} -> {', '.join(x.get('now') or [])} | "
                  f"{back} (moved) |")
            continue
        print(f"| {name} | {mode} | {x.get('outage')} | {', '.join(x.get('restarted') or []) or 'none'} | "
              f"{x.get('fail_counts') or 'none'} | {len(x.get('degraded') or {})} | "
              f"{'yes' if x.get('moved') else 'no'} | {back} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
