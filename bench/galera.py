#!/usr/bin/python3
"""The Galera drills on the lab, measured: the client-visible failure window of each (a token
issued and an image list through the floating IP once a second), restarts and fail-counts.

Usage (root, after tests/setup/openstack-setup.sh and the .deb installed):
    /usr/bin/python3 bench/galera.py [--runs 3] [--drills galera-node-lost,...]
        [--depth10-interval 15] [--migration-threshold 3]

It brings up the two-controller group lab on its Galera cluster (prefix raolabb-; the
frontend, one active server and two backups: lab/raolab/galera_lab.py) and runs each drill
of lab/raolab/drills/galera.py --runs times. The table gives, per drill, the median and the
range over the runs of: the failure window (the seconds Keystone and Glance went without an
answer, the poller's downtime), the failed requests, the seconds from the fault (or, for a
fault held on purpose, from its end) to both APIs serving again, the degraded results seen,
and what restarted. Progress goes to stderr, the Markdown table to stdout. Not part of the
test suite (tests/lab/test_galera_drills.py runs each drill once).
"""

import argparse
import statistics
import sys
from typing import List, Optional

from benchkit import say, start  # noqa: E402 (first: it puts lab/ on sys.path)

from raolab.cluster import ClusterError, reset_clock  # noqa: E402
from raolab.galera_ops import GaleraError  # noqa: E402
from raolab.drills import galera as galeradrills  # noqa: E402
from raolab.drills.result import Result  # noqa: E402
from raolab.lab import Lab, LabOptions  # noqa: E402

PFX = "raolabb"



def spread(values: List[Optional[float]]) -> str:
    """median (min-max) of the values known; '-' when none."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    if len(known) == 1:
        return f"{known[0]:.1f}"
    return f"{statistics.median(known):.1f} ({min(known):.1f}-{max(known):.1f})"


def window(res: Result) -> Optional[float]:
    """The longer of the two APIs' downtimes (None: one still failing at the end)."""
    values = list(res.downtime.values())
    return None if not values or any(v is None for v in values) else max(values)   # type: ignore[type-var]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drills", default=",".join(galeradrills.GALERA_DRILLS))
    parser.add_argument("--depth10-interval", type=int, default=15)
    parser.add_argument("--migration-threshold", type=int, default=3)
    args = parser.parse_args()
    start("bench/galera.py")
    names = args.drills.split(",")
    unknown = [n for n in names if n not in galeradrills.DRILLS]
    if unknown:
        raise SystemExit(f"bench/galera.py: no drill {unknown} (the drills: {', '.join(galeradrills.GALERA_DRILLS)})")
    reset_clock()
    lab = Lab(LabOptions(pfx=PFX, mode="group", depth10_interval=args.depth10_interval,
                         migration_threshold=args.migration_threshold, database="galera"),
              say=lambda m: say(m) if m.startswith(("lab up", "galera")) else None)   # stderr: stdout is the table
    lab.cluster.echo = lambda line: None
    lab.diagnose = False
    say("lab up (group snippet, two controllers, Galera)")
    lab.up(session=True)
    results = {name: [] for name in names}
    try:
        for run in range(1, args.runs + 1):
            for name in names:
                try:
                    res = galeradrills.DRILLS[name](lab)
                except (ClusterError, GaleraError) as err:     # one drill that broke: a failed run, not the end
                    res = Result(name, error=str(err).splitlines()[0])
                    say(f"run {run}: {name} broke: {res.error}; the next drill repairs the cluster first")
                say(f"run {run}: {res.line()}")
                results[name].append(res)
    finally:
        lab.cluster.close()
    print(f"depth-10 interval {args.depth10_interval} s; migration-threshold {args.migration_threshold}; "
          f"{args.runs} run(s); medians (min-max)\n")
    print("| drill | failure window s | failed requests (Keystone, Glance) | serving again s | "
          "degraded results | restarts, fail-counts | passed |")
    print("| --- | ---: | --- | ---: | ---: | --- | ---: |")
    for name, runs in results.items():
        failed = ", ".join(spread([float(r.failed.get(api, (0, 0))[0]) for r in runs]) for api in ("keystone", "glance"))
        harm = sorted({x for r in runs for x in (r.extra.get("restarted") or [])}
                      | {f"{k}={v}" for r in runs for k, v in (r.extra.get("fail_counts") or {}).items()})
        print(f"| {name} | {spread([window(r) for r in runs])} | {failed} | "
              f"{spread([r.recovered for r in runs])} | {spread([float(len(r.extra.get('degraded') or {})) for r in runs])} | "
              f"{', '.join(harm) or 'none'} | {sum(r.ok for r in runs)}/{len(runs)} |")
    return 0 if all(r.ok for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
