#!/usr/bin/python3
"""Failover drills in the two-controller lab, measured: our agents beside ocf:heartbeat:anything.

Usage (root, after tests/setup/openstack-setup.sh and the .deb installed):
    /usr/bin/python3 bench/failover.py [--runs 3] [--tokens 3000,1000] [--agents openstack,anything]
                                        [--drills keystone-kill,...] [--snippets group,clone,haproxy]
                                        [--watch off,on] [--json FILE]

For each corosync token and each agent it brings up the lab of lab/rao-lab (the installed
openstack-ha.crm, 2 nodes in namespaces, prefix raolabb-) and runs every drill --runs
times. "anything" is the same snippet with ocf:heartbeat:anything running the same command
lines (Debian's uwsgi for Keystone, glance-api for Glance): no health check. The clone
rows run openstack-ha-clone.crm through the service faults and node-loss (our agents
only). The haproxy rows run every drill on openstack-ha-haproxy.crm (HAProxy on every
node, Keystone and Glance active/active behind the floating IP; our agents only). With
our agents, each configuration runs with the failure watcher off (watch=false) and on
(watch=true; --watch chooses).

Printed per drill and configuration (medians of the runs):
  detection  fault -> the first failed monitor or failure-watcher report (asyncmon) in
             pacemaker.log (service faults), or the
             survivor's Pacemaker declaring the node lost (node loss); "-" for the planned
             switchover; "never" when Pacemaker did not notice within the bound
  downtime   what the client namespace saw through the floating IP (GET /v3 and
             /healthcheck every 0.1 s): first failed poll -> first successful one
  failed     requests (polls) that failed, of all made, from the fault to the end of the
             drill; Keystone + Glance
  recovered  fault -> cluster settled and both APIs answering steadily
  fenced     fault -> the power switch verified the fenced node off ("-": no fence)
The lab fences (a device per node on its power switch, priority-fencing-delay 5 s): node
loss goes through a fence; split-brain, frozen and stop-failed (--drills) are the fencing
drills of issue 22 (lab/raolab/drills/isolation.py, freeze.py, stopfail.py).
Progress goes to stderr, the Markdown table to stdout. Not part of the test suite.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from benchkit import say, start  # noqa: E402 (first: it puts lab/ on sys.path)

from raolab import drills  # noqa: E402
from raolab.cluster import log, reset_clock  # noqa: E402
from raolab.lab import SERVICES, Lab, LabOptions  # noqa: E402

PFX = "raolabb"
DRILLS = ("keystone-kill", "glance-kill", "keystone-hang", "node-loss", "switchover")
SERVICE_DRILLS = ("keystone-kill", "glance-kill", "keystone-hang")
# the fencing drills (the lab fences by default): --drills split-brain,frozen,stop-failed
FENCE_DRILLS = ("split-brain", "frozen", "stop-failed")
CLONE_DRILLS = SERVICE_DRILLS + ("node-loss", "split-brain", "frozen")
GROUP_ONLY = ("stop-failed",)



def kill_orphans(lab: Lab) -> List[str]:
    """anything leaves a SIGKILLed glance parent's worker serving: remove it between runs,
    so that every run starts from one process tree per service (ours never leaves one)."""
    gone = []
    for i in lab.cluster.live_nodes():
        for rsc in SERVICES:
            for pid in drills.orphan_trees(lab, i, rsc):
                try:
                    os.kill(pid, signal.SIGKILL)
                    gone.append(f"{rsc}@node{i}:{pid}")
                except ProcessLookupError:
                    pass
    return gone


def run_config(mode: str, agent: str, token: int, names: List[str], runs: int,
               hang_bound: float, logs: str = "", jitter: float = 10,
               watch: bool = False) -> Dict[str, List[drills.Result]]:
    reset_clock()
    # one plain database node: the figures quoted in the README were measured so
    lab = Lab(LabOptions(pfx=PFX, mode=mode, agent=agent, token_ms=token, watch=watch, database="single"),
              say=lambda m: log(m, "lab") if m.startswith(("lab up", "drill")) else None)
    lab.cluster.echo = lambda line: None
    lab.diagnose = False
    results: Dict[str, List[drills.Result]] = {n: [] for n in names}
    say(f"== {mode} / {agent} / token {token} ms / watcher {'on' if watch else 'off'}: lab up")
    lab.up(session=True)
    try:
        for run in range(runs):
            for name in names:
                bound = hang_bound if name == "keystone-hang" else 120
                if name in SERVICE_DRILLS and jitter > 0:
                    # the previous drill's cleanup restarted the monitors: without a random
                    # wait every fault would land at the same point of the 10 s interval
                    time.sleep(random.uniform(0, jitter))
                fn = drills.DRILLS[name]
                res = fn(lab, bound=bound) if name != "data" else fn(lab)
                results[name].append(res)
                say(f"   run {run + 1}/{runs} {res.line()}")
                for phase in res.phases.values():
                    say(f"       {phase.line()}")
                gone = kill_orphans(lab)
                if gone:
                    res.notes = [n for n in res.notes if "process trees" not in n and "still run" not in n]
                    res.notes.append("the killed parent's workers kept serving: orphans (the bench removed them)")
                    say(f"       removed orphan process trees {gone}")
                    lab.cleanup()
                    lab.wait_settled(120)
    finally:
        if logs:   # keep each node's pacemaker.log of this configuration for a post-mortem
            dest = Path(logs) / f"{mode}-{agent}-{token}{'-watch' if watch else ''}"
            dest.mkdir(parents=True, exist_ok=True)
            for i in (1, 2):
                src = lab.cluster.node_dir(i) / "var-log-pacemaker" / "pacemaker.log"
                if src.is_file():
                    shutil.copy(src, dest / f"node{i}-pacemaker.log")
        lab.cluster.close()
    return results


def fmt_failed(results: List[drills.Result]) -> str:
    """median of the failed requests (both APIs) and of all requests, "failed/all"."""
    failed = [sum(n for n, _ in r.failed.values()) for r in results if r.failed]
    made = [sum(total for _, total in r.failed.values()) for r in results if r.failed]
    if not failed:
        return "-"
    med = statistics.median(failed)
    spread = f" ({min(failed)}-{max(failed)})" if len(failed) > 1 and min(failed) != max(failed) else ""
    return f"{med:g}/{statistics.median(made):g}{spread}"


def fmt(values: List[Optional[float]], missing: str) -> str:
    """median, or `missing` when any run had no value; the spread in brackets."""
    vals = [v for v in values if v is not None]
    if len(vals) != len(values) or not vals:
        return missing if not vals else f"{missing} ({len(values) - len(vals)}/{len(values)} runs)"
    med = statistics.median(vals)
    return f"{med:.1f}" + (f" ({min(vals):.1f}-{max(vals):.1f})" if len(vals) > 1 else "")


def table(rows: List[dict], runs: int, hang_bound: float) -> str:
    out = [f"medians of {runs} runs (min-max); seconds; monitor interval 10 s (faults at a random point "
           f"of it), op timeout 20 s, http_timeout 10 s; \"never\": not noticed within {hang_bound:.0f} s",
           "",
           "| drill | snippet | agents | watcher | token ms | detection | fenced | downtime Keystone | downtime Glance "
           "| failed requests | recovered | notes |",
           "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        res: List[drills.Result] = r["results"]
        planned = r["drill"] == "switchover"
        ok = all(x.ok for x in res)
        # the fencing drills' notes carry times of their own run: summed up instead
        notes = sorted({n for x in res for n in x.notes if not n.startswith(
            ("served by", "the floating IP", "+", "node", "ARP", "keystone stop", "no fencing", "survivor",
             "fenced at", "keystone and glance-api started"))})
        if r["drill"] in FENCE_DRILLS + ("node-loss",):
            # every fencer request the switch logged (a refused or failed one counts too)
            fences = [len(x.extra.get("fencing", [])) for x in res]
            doubled = sum(bool(x.extra.get("doubled")) for x in res)
            notes.append(f"fencing actions per run {'/'.join(map(str, fences))}"
                         + (f"; TWO MACs answered in {doubled}/{len(res)} runs" if doubled
                            else "; never two MACs" if all("doubled" in x.extra for x in res) else ""))
        if not ok:
            errs = sorted({x.error for x in res if x.error})
            notes = [f"NOT RECOVERED in {sum(not x.ok for x in res)}/{len(res)} runs: {'; '.join(errs)[:160]}"] + notes
        notes = [n.replace("|", "/") for n in notes]
        watcher = "-" if r["agent"] != "openstack" else "on" if r["watch"] else "off"
        out.append(f"| {r['drill']} | {r['mode']} | {r['agent']} | {watcher} | {r['token']} | "
                   f"{'-' if planned else fmt([x.detection for x in res], 'never')} | "
                   f"{fmt([x.extra.get('off_verified') for x in res], '-')} | "
                   f"{fmt([x.downtime.get('keystone') for x in res], 'unbounded')} | "
                   f"{fmt([x.downtime.get('glance') for x in res], 'unbounded')} | "
                   f"{fmt_failed(res)} | "
                   f"{fmt([x.recovered for x in res], 'no')} | {'; '.join(notes)} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", default="3000,1000")
    parser.add_argument("--agents", default="openstack,anything")
    parser.add_argument("--drills", default=",".join(DRILLS))
    parser.add_argument("--snippets", default="group,clone,haproxy",
                        help="group: every drill and agent; clone: the service faults and node-loss, our "
                             "agents; haproxy: every drill, our agents (default all three)")
    parser.add_argument("--watch", default="off,on",
                        help="the failure watcher with our agents: off (watch=false), on (watch=true), or both "
                             "(default off,on)")
    parser.add_argument("--hang-bound", type=float, default=60,
                        help="seconds to wait for Pacemaker to notice the hung Keystone (default 60)")
    parser.add_argument("--jitter", type=float, default=10,
                        help="random wait (0..N s) before each service fault, so that faults land "
                             "anywhere in the monitor interval (default 10 = the interval)")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--logs", default="/tmp/raolab-bench-logs",
                        help="copy each configuration's pacemaker.log files here ('' for none)")
    args = parser.parse_args()
    start("bench/failover.py")
    names = args.drills.split(",")
    rows = []
    started = time.monotonic()
    snippets = args.snippets.split(",")
    watches = [{"off": False, "on": True}[w] for w in args.watch.split(",")]
    clone_names = [n for n in names if n in CLONE_DRILLS]
    configs = []
    for tok in (int(t) for t in args.tokens.split(",")):
        for watch in watches:
            configs += [("group", agent, tok, watch) for agent in args.agents.split(",")
                        if "group" in snippets and (agent == "openstack" or not watch)]
            if "clone" in snippets and clone_names:
                configs.append(("clone", "openstack", tok, watch))
            if "haproxy" in snippets:
                configs.append(("haproxy", "openstack", tok, watch))
    for mode, agent, token, watch in configs:
        chosen = clone_names if mode == "clone" else [n for n in names if mode == "group" or n not in GROUP_ONLY]
        results = run_config(mode, agent, token, chosen, args.runs,
                             args.hang_bound, args.logs, args.jitter, watch)
        for name, res in results.items():
            rows.append({"drill": name, "mode": mode, "agent": agent, "token": token, "watch": watch,
                         "results": res})
    rows.sort(key=lambda r: (DRILLS.index(r["drill"]) if r["drill"] in DRILLS else 99,
                             r["token"] != 3000, r["mode"], r["agent"] != "openstack", r["watch"]))
    say(f"bench done in {(time.monotonic() - started) / 60:.1f} min")
    print(table(rows, args.runs, args.hang_bound))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{**{k: v for k, v in r.items() if k != "results"},
              "results": [{"ok": x.ok, "detection": x.detection, "downtime": x.downtime, "failed": x.failed,
                           "recovered": x.recovered,
                           "notes": x.notes, "error": x.error, "event": x.event[:300],
                           "phases": {k: {"ok": p.ok, "downtime": p.downtime, "recovered": p.recovered}
                                      for k, p in x.phases.items()}}
                          for x in r["results"]]} for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
