#!/usr/bin/python3
"""What the database probe costs: the greeting alone, and with the login and the wsrep reads
that tell a Galera node that refuses queries from a healthy one.

Usage (root, after tests/setup/openstack-setup.sh):
    /usr/bin/python3 bench/probe_cost.py [--runs 20] [--config /etc/keystone/keystone.conf]
        [--agents DIR]

Each run is a new process, as a monitor is: `/usr/bin/python3` importing the agents' package
(DIR, default the installed one) and probing the `[database] connection` of the config file
once (checks.dependencies.database_of). Two ways: "greeting" (the same server, the URL
without its user: what the probe did before Galera) and "login" (the service's own URL: the
greeting, the login with its user and two reads). The reference is `python3 -c pass`. Prints
the medians of wall clock and CPU (the child's rusage) and what the last probe said. The
password stays in the config files (a private copy without the user for "greeting"), never
in an argument. Not part of the test suite.
"""

import argparse
import configparser
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from benchkit import start  # noqa: E402

PROBE = ("import sys; sys.path.insert(0, sys.argv[1]); from ocf_openstack.checks import dependencies; "
         "print(dependencies.database_of(sys.argv[2]).probe(2.0).detail)")
INSTALLED = "/usr/lib/python3/dist-packages"


def once(argv: List[str]) -> Tuple[float, float, str]:
    """(wall s, CPU s of the child, its output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (done.stdout or done.stderr).strip().splitlines()[-1:][0] if (done.stdout or done.stderr) else ""


def without_user(config: str, into: Path) -> Path:
    """A private copy of the config's [database] section with the URL's user and password removed."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config)
    url = parser.get("database", "connection")
    plain = re.sub(r"//[^@/]*@", "//", url)
    path = into / "greeting.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[database]\nconnection = {plain}\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--config", default="/etc/keystone/keystone.conf")
    parser.add_argument("--agents", default=INSTALLED, help="where the ocf_openstack package is")
    args = parser.parse_args()
    start("bench/probe_cost.py")
    with tempfile.TemporaryDirectory(prefix="rao-probe-cost-") as tmp:
        ways = {"python3 -c pass": ["/usr/bin/python3", "-c", "pass"],
                "greeting": ["/usr/bin/python3", "-c", PROBE, args.agents, str(without_user(args.config, Path(tmp)))],
                "login": ["/usr/bin/python3", "-c", PROBE, args.agents, args.config]}
        for argv in ways.values():      # warm the page cache
            once(argv)
        print(f"{args.runs} runs each, a new process per probe, {args.config}'s database; medians\n")
        print("| probe | wall ms | CPU ms | it said |")
        print("| --- | ---: | ---: | --- |")
        for name, argv in ways.items():
            runs = [once(argv) for _ in range(args.runs)]
            print(f"| {name} | {statistics.median(r[0] for r in runs) * 1000:.1f} | "
                  f"{statistics.median(r[1] for r in runs) * 1000:.1f} | {runs[-1][2][:110]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
