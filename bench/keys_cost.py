#!/usr/bin/python3
"""What the keys check costs Keystone's depth-0 monitor, and what keys-watch's monitor costs.

Usage (root, after tests/setup/openstack-setup.sh; Keystone on 127.0.0.1:5099, --port):
    /usr/bin/python3 bench/keys_cost.py [--runs 40] [--lab PFX]

Starts Keystone through the agent, then runs its depth-0 monitor RUNS times in each variant,
interleaved (so that load changes hit every variant alike), and prints the medians (wall,
and the child's CPU from rusage):
- without the advisory: the same agent with ServiceSpec.advisories emptied;
- with it, no verdict file (no keys-watch on the node);
- with it, the watcher's verdict "0" (the normal case: one small file read);
plus the advisory alone in-process (timeit) and the import of keyverdict (what keystone.py adds).
With --lab PFX (a running lab, e.g. rao-lab up), also keys-watch's monitor on node1 of that
lab, as Pacemaker runs it (its own instance name and state directory: nothing of the lab's
watcher is touched; the fingerprint it reads is the one node1 already published).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "agents"))
from agent_harness import PARAMS, RSCTMP, Agent  # noqa: E402
from monitor_cost import run_once  # noqa: E402

PY = "/usr/bin/python3"
WRAPPER = ("import sys; sys.path.insert(0, {agents!r}); from ocf_openstack.engine import agent; from ocf_openstack.services import keystone; "
           "spec = keystone.SPEC if {advisory} else keystone.SPEC._replace(advisories=()); "
           "sys.argv = ['keystone', 'monitor']; sys.exit(agent.main(spec))")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--lab", default="", help="netns prefix of a running lab: also measure keys-watch there")
    parser.add_argument("--port", type=int, default=5099, help="Keystone's port for the bench (not the tests' 5000)")
    args = parser.parse_args()
    agent = Agent("keystone", "bench-keys", {**PARAMS["keystone"], "bind": f"127.0.0.1:{args.port}",
                                             "url": f"http://127.0.0.1:{args.port}"})
    verdict = Path(RSCTMP) / "openstack-keys.verdict"
    assert agent.run("start").rc == 0, "keystone did not start"
    try:
        env = agent.env()
        variants = {
            "without the advisory": ([PY, "-c", WRAPPER.format(agents=str(ROOT / "agents"), advisory=False)], None),
            "with it, no verdict file": ([PY, "-c", WRAPPER.format(agents=str(ROOT / "agents"), advisory=True)], None),
            "with it, verdict 0": ([PY, "-c", WRAPPER.format(agents=str(ROOT / "agents"), advisory=True)], "0\n"),
        }
        samples = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, (argv, text) in variants.items():
                verdict.unlink(missing_ok=True)
                if text is not None:
                    fd = os.open(verdict, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(text)
                wall, cpu, rc = run_once(argv, env)
                assert rc == 0, f"{name}: monitor exited {rc}"
                samples[name].append((wall, cpu))
        verdict.unlink(missing_ok=True)
    finally:
        agent.run("stop")
    print(f"keystone depth-0 monitor, median of {args.runs} (interleaved):")
    for name, s in samples.items():
        print(f"  {name:28} {1000 * statistics.median(w for w, _ in s):6.1f} ms wall "
              f"{1000 * statistics.median(c for _, c in s):6.1f} ms CPU")

    from ocf_openstack.watchers import keyverdict
    with tempfile.TemporaryDirectory() as d:
        env = {"HA_RSCTMP": d}
        fd = os.open(os.path.join(d, keyverdict.VERDICT), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"0\n")
        os.close(fd)
        n = 20000
        per = timeit.timeit(lambda: keyverdict.advisory({}, env), number=n) / n
    print(f"  the advisory alone (in-process, verdict 0): {per * 1e6:.1f} us")
    out = subprocess.run([PY, "-X", "importtime", "-c", "import ocf_openstack.watchers.keyverdict"], capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT / "agents"), "PATH": "/usr/bin:/bin"}).stderr
    own = {line.split("|")[-1].strip(): int(line.split("|")[0].split(":")[1]) for line in out.splitlines()
           if "|" in line and line.split("|")[0].split(":")[1].strip().isdigit()}
    print(f"  import of keyverdict (self time; privatefile and host.paths are loaded by the agent anyway): "
          f"{own.get('ocf_openstack.watchers.keyverdict')} us")

    if args.lab:
        sys.path.insert(0, str(ROOT / "lab"))
        from raolab.cluster import Cluster
        from raolab.lab import Lab
        lab = Lab.load(args.lab)
        if lab is None:
            raise SystemExit(f"no lab {args.lab}")
        cluster: Cluster = lab.cluster
        tmp = f"/tmp/keys-bench-{os.getpid()}"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT": "/usr/lib/ocf", "HA_RSCTMP": tmp,
               "OCF_RESKEY_CRM_meta_on_node": "node1",
               "OCF_RESKEY_CRM_meta_interval": "10000", "OCF_RESKEY_CRM_meta_timeout": "20000"}
        argv = ["env", "-i", *[f"{k}={v}" for k, v in env.items()]]

        def measure(cmd):
            out = []
            for _ in range(args.runs):
                wall, cpu, rc = run_once(cluster.nsenter_argv(1, *cmd), {"PATH": "/usr/bin:/bin"})
                assert rc == 0, f"{cmd} exited {rc}"
                out.append((wall, cpu))
                time.sleep(0.05)
            return (f"{1000 * statistics.median(w for w, _ in out):.1f} ms wall, "
                    f"{1000 * statistics.median(c for _, c in out):.1f} ms CPU")
        rows = {}
        for watcher in ("keys-watch", "database-watch"):   # database-watch: the reference beside it
            path = f"/usr/lib/ocf/resource.d/openstack/{watcher}"
            mine = [*argv, f"OCF_RESOURCE_INSTANCE=bench-{watcher}"]
            cluster.node(1, *mine, path, "start", check=False)
            rows[f"{watcher} monitor"] = measure([*mine, path, "monitor"])
        # no stop: it would delete node1's attributes, which the lab's own watchers publish
        cluster.node(1, "rm", "-rf", tmp, check=False)
        rows["cibadmin -Q -l (one of keys-watch's steps)"] = measure(["/usr/sbin/cibadmin", "-Q", "-l"])
        rows["python3 -c pass (reference)"] = measure([PY, "-c", "pass"])
        print(f"on node1 of lab {args.lab} (through nsenter), median of {args.runs}:")
        for what, figure in rows.items():
            print(f"  {what:44} {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
