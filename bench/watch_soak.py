#!/usr/bin/python3
"""Soak of the failure watcher: the lab under a steady client load, routine operations in
between, for half an hour; every failure Pacemaker records is counted (the target is zero).

Usage (root, after tests/setup/openstack-setup.sh and the .deb installed):
    /usr/bin/python3 bench/watch_soak.py [--minutes 30] [--snippets group,clone] [--rate 2]
                                         [--every 150] [--json FILE] [--pfx raolabs] [--net 10.233.0]

For each snippet: the two-controller lab of lab/rao-lab with the watcher on (rao-lab up
--watch, prefix raolabs- unless --pfx; two soaks at once, e.g. one per snippet, need two
prefixes and nets), then for --minutes:
  - a load through the floating IP from the client namespace: --rate tokens issued per
    second (password authentication, Keystone's costliest request) and as many image lists
    with the latest token (client.py poll ... work), each bounded by 10 s;
  - the health poller of the drills (GET /v3 and /healthcheck every 0.1 s);
  - every --every seconds one routine operation, round robin through the watch-quiet
    drill's steps (restart, move and clear, standby and online, unmanage and manage,
    maintenance-mode on and off), waited out until the lab has settled.
Printed per snippet: operations done, the failures Pacemaker recorded (failed actions;
failcount lines of every node's pacemaker.log: watcher reports, failed monitors), the
watcher's stand-downs ("not reported: ..." lines), requests of the load that failed outside
the operations (from an operation's start until the lab settled again, requests may fail
by design: a standby moves the group) and inside them, and the load's latency.
Progress goes to stderr, the Markdown table to stdout. Not part of the test suite.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchkit import say, start  # noqa: E402 (first: it puts lab/ on sys.path)

from raolab.drills import watch as watchdrills  # noqa: E402
from raolab.cluster import ClusterError, log, reset_clock  # noqa: E402
from raolab.drills import Poller  # noqa: E402
from raolab.lab import Lab, LabOptions  # noqa: E402

PFX = "raolabs"
NET = "10.233.0"     # not the lab's default: rao-lab or the tests may run a lab beside a soak
STAND_DOWN = r"watcher: .*not reported"



def outside(samples: List[tuple], windows: List[Tuple[float, float]]) -> Tuple[int, int, int, int]:
    """(failed, all) of the samples started outside the windows, then inside them."""
    out_failed = out_all = in_failed = in_all = 0
    for t, _api, ok, *_ in samples:
        inside = any(a <= t <= b for a, b in windows)
        if inside:
            in_all += 1
            in_failed += not ok
        else:
            out_all += 1
            out_failed += not ok
    return out_failed, out_all, in_failed, in_all


def soak(mode: str, minutes: float, rate: float, every: float, pfx: str = PFX, net: str = NET) -> Dict:
    reset_clock()
    lab = Lab(LabOptions(pfx=pfx, net=net, mode=mode, watch=True, database="single"),
              say=lambda m: log(m, "lab") if m.startswith("lab up") else None)
    lab.cluster.echo = lambda line: None
    lab.diagnose = False
    say(f"== {mode}: lab up (watcher on)")
    lab.up(session=True)
    result: Dict = {"snippet": mode, "minutes": minutes, "rate": rate, "operations": [], "errors": []}
    try:
        t0 = time.time()
        windows: List[Tuple[float, float]] = []
        with Poller(lab, "soak-load", interval=1 / rate, timeout=10, work=True) as load, \
                Poller(lab, "soak-health") as health:
            end = time.monotonic() + minutes * 60
            step = 0
            next_op = time.monotonic() + every
            while time.monotonic() < end:
                if time.monotonic() >= next_op:
                    what = watchdrills.QUIET_STEPS[step % len(watchdrills.QUIET_STEPS)]
                    started = time.time()
                    try:
                        done = watchdrills.quiet_step(lab, what)
                    except ClusterError as err:
                        done = f"{what[0]}: {str(err).splitlines()[0]}"
                        result["errors"].append(done)
                    windows.append((started, time.time()))
                    result["operations"].append(done)
                    say(f"   {(time.time() - t0) / 60:4.1f} min: {done}")
                    step += 1
                    next_op = time.monotonic() + every
                time.sleep(1)
            load_samples = load.samples(with_latency=True)
            health_samples = health.samples()
        result["failures"] = watchdrills.recorded_failures(lab, t0)
        result["stand_downs"] = watchdrills.log_lines(lab, t0, STAND_DOWN)
        result["load"] = outside(load_samples, windows)
        result["health"] = outside(health_samples, windows)
        latencies = sorted(lat for _t, _a, ok, lat in load_samples if ok)
        result["latency"] = ((statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))])
                             if latencies else (None, None))
        say(f"   failures recorded: {len(result['failures'])}; stand-downs logged: {len(result['stand_downs'])}")
        for line in result["failures"] + result["stand_downs"]:
            say(f"     {line[:220]}")
    finally:
        lab.cluster.close()
    return result


def table(results: List[Dict]) -> str:
    out = ["| snippet | minutes | load (tokens/s + image lists/s) | operations | failures recorded | "
           "watcher stand-downs | load requests failed outside / inside operations | latency p50 / p99 |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in results:
        of, oa, inf, ia = r["load"]
        p50, p99 = r["latency"]
        lat = "-" if p50 is None else f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms"
        out.append(f"| {r['snippet']} | {r['minutes']:g} | {r['rate']:g} + {r['rate']:g} | {len(r['operations'])}"
                   f"{' (' + str(len(r['errors'])) + ' did not settle)' if r['errors'] else ''} | "
                   f"{len(r['failures'])} | {len(r['stand_downs'])} | {of}/{oa} / {inf}/{ia} | {lat} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--snippets", default="group,clone")
    parser.add_argument("--rate", type=float, default=2, help="tokens issued per second (and image lists)")
    parser.add_argument("--every", type=float, default=150, help="seconds between routine operations")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--pfx", default=PFX, help=f"namespace prefix (default {PFX}; two soaks at once need two)")
    parser.add_argument("--net", default=NET, help=f"the lab's /24 (default {NET})")
    args = parser.parse_args()
    start("bench/watch_soak.py")
    results = [soak(mode, args.minutes, args.rate, args.every, args.pfx, args.net) for mode in args.snippets.split(",")]
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(not r["failures"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
