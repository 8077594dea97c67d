"""rao-lab: a Pacemaker lab of two or three controllers and a database node for Keystone and
Glance on this machine.

    rao-lab up [--nodes 2|3] [--clone|--haproxy] [--anything] [--token MS] [--no-fencing] [--single-db]
                                                     start the lab (replaces a running one); it fences
                                                     by default (a device per node on its power switch);
                                                     its database is a Galera cluster of three nodes
                                                     behind HAProxy (--single-db: one plain MariaDB)
    rao-lab status                                   per node: online, quorum, what runs, key
                                                     fingerprints; crm_mon; the APIs on the floating IP;
                                                     the fence devices and the last fencing actions;
                                                     with --haproxy: requests per controller
    rao-lab drill NAME|all [--runs N]                run failover drills (see `rao-lab drill --list`)
    rao-lab keys rotate NODE                         keystone-manage fernet_rotate on that node only
    rao-lab keys sync FROM [TO ...]                  copy FROM's keys to TO (default: all other nodes)
    rao-lab shell N|db|db1..db3 [CMD...]             a shell (or CMD) on node N, the database node (the
                                                     Galera frontend's) or a Galera node (mysql works
                                                     there as root over the socket)
    rao-lab down                                     stop every node, remove every namespace

Run as root on Debian 12 after tests/setup/install-deps.sh, tests/setup/openstack-setup.sh
and the installation of the resource-agents-openstack .deb (lab/demo.sh does all of it).
"""

import argparse
import os
import signal
import subprocess
import sys
from typing import List, Optional

from . import drills, keys
from .cib import online_nodes
from .cluster import Cluster, ClusterError, clean_env, log, reset_clock
from .lab import Lab, LabOptions
from .topology import haproxy

DEFAULT_PFX = "raolab"


def _say(msg: str) -> None:
    log(msg, "lab")


def _terminate(signum, frame):   # SIGTERM/SIGHUP behave like Ctrl-C: every cleanup path runs
    raise KeyboardInterrupt(f"signal {signum}")


def _load(pfx: str) -> Lab:
    lab = Lab.load(pfx, say=_say)
    if lab is None or not lab.cluster.live_nodes():
        raise SystemExit(f"rao-lab: no lab is running (prefix {pfx}); start one with: rao-lab up")
    return lab


def cmd_up(args) -> int:
    if args.clone and args.haproxy:
        raise SystemExit("rao-lab: --clone or --haproxy, not both")
    opts = LabOptions(pfx=args.pfx, mode="clone" if args.clone else "haproxy" if args.haproxy else "group",
                      agent="anything" if args.anything else "openstack", token_ms=args.token, nodes=args.nodes,
                      depth10_interval=args.depth10_interval, migration_threshold=args.migration_threshold,
                      watch=args.watch, fencing=args.fencing, database="single" if args.single_db else "galera")
    lab = Lab(opts, say=_say)
    if lab.cluster.live_nodes():
        _say(f"a lab with prefix {opts.pfx} is running: it is replaced")
    lab.up(session=False)
    print(lab.crm_mon_text(), flush=True)
    print("\n".join(lab.fencing_lines()), flush=True)
    print("\n".join(lab.urls()), flush=True)
    print(f"\nnext: {sys.argv[0]} drill all   |   {sys.argv[0]} status   |   {sys.argv[0]} down", flush=True)
    return 0


def cmd_status(args) -> int:
    lab = Lab.load(args.pfx, say=_say)
    if lab is None:
        print(f"no lab (prefix {args.pfx})")
        return 3
    live = lab.cluster.live_nodes()
    o = lab.opts
    print(f"lab {o.pfx}: {o.nodes} controllers, {o.mode} snippet, {o.agent} agents, corosync token "
          f"{o.token_ms} ms, floating IP {o.vip}, database {lab.cluster.db_addr} "
          f"({'Galera behind HAProxy' if lab.galera else 'one node'}, "
          f"{'running' if lab.cluster.db_pid() else 'DOWN'}); nodes running: "
          f"{', '.join(f'node{i}' for i in live) or 'none'}")
    if not live:
        return 3
    for line in lab.node_table():
        print(line)
    if lab.galera is not None:
        for line in lab.galera.status_lines():
            print(line)
    print()
    print(lab.crm_mon_text())
    check = lab.client_json("check", lab.keystone_url, lab.glance_url, timeout=60)
    if "error" in check:
        print(f"from the client namespace: {check['error']}")
    else:
        print(f"from the client namespace: GET /v3 -> {check['keystone_v3']} ({check['keystone_version']}), "
              f"token issued {check['token']}, glance /versions -> {check['glance_versions']}, "
              f"/v2/images -> {check['glance_images']}")
    for line in lab.fencing_lines():
        print(line)
    if o.mode == "haproxy":
        ip = lab.where("FloatingIP")
        for i in live:
            held = " (holds the floating IP: its view is the clients')" if f"node{i}" in ip else ""
            print(f"HAProxy on node{i}{held}: each controller's state and its agent-check's last answer")
            print("\n".join(haproxy.describe_states(haproxy.states(lab.cluster, i))))
        print(f"requests per controller (HAProxy, all nodes since they started): "
              f"{haproxy.describe(haproxy.spread(lab.cluster))}")
    print("\n".join(lab.urls()))
    return 0 if "error" not in check else 1


def repair(lab: Lab) -> None:
    """After an interrupted or failed drill: boot dead nodes, put standby nodes online,
    forget failures, wait for the lab to settle."""
    for i in range(1, lab.opts.nodes + 1):
        if not lab.cluster.init_pid(i):
            _say(f"repair: booting node{i} again")
            lab.cluster.revive(i)
    lab.cluster.wait_online(120)
    mon = lab.mon()
    for node in set(online_nodes(mon)) - set(online_nodes(mon, standby=False)):
        _say(f"repair: crm node online {node}")
        lab.cluster.crm("node", "online", node, check=False)
    lab.cleanup()
    lab.wait_settled(180)


ALL_DRILLS = drills.DRILLS
ALL_DESCRIPTIONS = drills.DESCRIPTIONS


def run_drills(lab: Lab, names: List[str], runs: int = 1) -> List[drills.Result]:
    results = []
    for run in range(runs):
        for name in names:
            _say(f"drill {name}{f' (run {run + 1}/{runs})' if runs > 1 else ''}: {ALL_DESCRIPTIONS[name]}")
            res = ALL_DRILLS[name](lab)
            if lab.opts.mode == "haproxy":   # active/active: every controller serves again
                why = drills.serves_everywhere(lab)
                res.notes.append(why or "requests reach every active controller's Keystone and Glance")
                res.ok = res.ok and why is None
            for line in drills.report(res):
                _say("  " + line)
            results.append(res)
    return results


def cmd_drill(args) -> int:
    if args.list or not args.name:
        for name in ALL_DRILLS:
            print(f"{name:14} {ALL_DESCRIPTIONS[name]}")
        print(f"{'all':14} the service faults, then the data drill (it wraps node-loss and switchover), then "
              "split-brain (three controllers: cut-off) and frozen, and quorum-loss with three controllers; "
              "with --haproxy also the rotation drills, on the Galera lab the Galera drills")
        return 0 if args.list else 2
    # "all": the data drill runs node-loss and switchover between its seed and its checks
    lab = _load(args.pfx)
    names = ["keystone-kill", "glance-kill", "keystone-hang", "data"] if args.name == "all" else [args.name]
    if args.name == "all" and lab.opts.fencing:    # what fencing is for (lab/README.md, Fencing)
        names += ["split-brain", "frozen"] if lab.opts.nodes == 2 else ["cut-off", "frozen"]
    if args.name == "all" and lab.opts.nodes >= 3:
        names.append("quorum-loss")
    if args.name == "all" and lab.opts.mode == "haproxy":
        names += list(drills.rotation.ROTATION_DRILLS)
    if args.name == "all" and lab.galera is not None:
        names += list(drills.galera.GALERA_DRILLS)
    for name in names:
        if name not in ALL_DRILLS:
            raise SystemExit(f"rao-lab: no drill {name!r} (rao-lab drill --list)")
    try:
        results = run_drills(lab, names, args.runs)
    except BaseException as err:
        _say(f"drill interrupted or failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
             "restoring the lab")
        try:
            repair(lab)
        except BaseException as err2:
            _say(f"repair failed: {err2}; run `rao-lab up` again or `rao-lab down`")
        raise
    print("\nsummary:")
    for res in results:
        print("  " + res.line())
    return 0 if all(r.ok for r in results) else 1


def cmd_keys(args) -> int:
    lab = _load(args.pfx)
    nodes = [_node_number(lab, n) for n in args.nodes]
    if args.action == "rotate":
        if len(nodes) != 1:
            raise SystemExit("rao-lab: keys rotate takes one node")
        lines = keys.rotate(lab.cluster, nodes[0])
    else:
        if not nodes:
            raise SystemExit("rao-lab: keys sync FROM [TO ...]")
        targets = nodes[1:] or [i for i in range(1, lab.opts.nodes + 1) if i != nodes[0]]
        lines = keys.sync(lab.cluster, nodes[0], targets)
    for line in lines:
        print(line)
    return 0


def _node_number(lab: Lab, name: str) -> int:
    number = name.removeprefix("node")
    if not number.isdigit() or not 1 <= int(number) <= lab.opts.nodes:
        raise SystemExit(f"rao-lab: no node {name!r} (node1..node{lab.opts.nodes})")
    return int(number)


def cmd_shell(args) -> int:
    lab = _load(args.pfx)
    databases = ["db"] + ([n.name for n in lab.galera.nodes] if lab.galera else [])
    node = args.node if args.node in databases else _node_number(lab, args.node)
    argv = lab.cluster.nsenter_argv(node, *(args.cmd or ["/bin/bash", "-l"]))   # node down: main() reports it
    prompt = f"{node}# " if node in databases else f"node{node}# "
    return subprocess.call(argv, env=clean_env(TERM=os.environ.get("TERM", "xterm"), PS1=prompt))


def cmd_down(args) -> int:
    lab = Lab.load(args.pfx, say=_say)
    if lab is None:   # no state: still remove whatever carries our prefix
        Cluster(args.pfx, LabOptions().net, 2, base=LabOptions(pfx=args.pfx).base).teardown(hard=args.hard)
        return 0
    lab.cluster.teardown(hard=args.hard)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="rao-lab", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--pfx", default=os.environ.get("RAOLAB_PFX", DEFAULT_PFX),
                        help="netns prefix of the lab (default raolab)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the lab")
    p.add_argument("--nodes", type=int, choices=(2, 3), default=2, help="controllers (default 2)")
    p.add_argument("--clone", action="store_true", help="active/active: openstack-ha-clone.crm")
    p.add_argument("--haproxy", action="store_true",
                   help="the HA guide's topology: openstack-ha-haproxy.crm, HAProxy on every node")
    p.add_argument("--anything", action="store_true",
                   help="baseline: ocf:heartbeat:anything instead of our agents")
    p.add_argument("--token", type=int, default=3000, help="corosync token in ms (default 3000)")
    p.add_argument("--depth10-interval", type=int, default=60,
                   help="interval of the depth-10 monitors in s (default 60, the snippets')")
    p.add_argument("--migration-threshold", type=int, default=0,
                   help="set meta migration-threshold on keystone and glance-api (default: unset)")
    p.add_argument("--watch", action="store_true", default=None,
                   help="the failure watcher on: watch=true on keystone and glance-api (default: as shipped, on)")
    p.add_argument("--no-watch", dest="watch", action="store_false",
                   help="the failure watcher off: watch=false on keystone and glance-api")
    p.add_argument("--single-db", action="store_true",
                   help="one plain MariaDB node instead of the Galera cluster (faster; no Galera drills)")
    p.add_argument("--no-fencing", dest="fencing", action="store_false",
                   help="fencing off (stonith-enabled=false, for comparison only); by default each node has a "
                        "fence device on the lab's power switch (lab/fence_raolab)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("status", help="state of the lab")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("drill", help="run a failover drill")
    p.add_argument("name", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--runs", type=int, default=1)
    p.set_defaults(func=cmd_drill)
    p = sub.add_parser("keys", help="rotate or sync Keystone's keys")
    p.add_argument("action", choices=("rotate", "sync"))
    p.add_argument("nodes", nargs="*", help="rotate NODE | sync FROM [TO ...] (node1 or 1)")
    p.set_defaults(func=cmd_keys)
    p = sub.add_parser("shell", help="a shell on a node")
    p.add_argument("node", help="1, 2, 3 (or node1...), db, or db1..db3 (the Galera nodes)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_shell)
    p = sub.add_parser("down", help="stop the lab")
    p.add_argument("--hard", action="store_true", help="SIGKILL the nodes instead of a graceful stop")
    p.set_defaults(func=cmd_down)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("rao-lab: run as root")
    reset_clock()
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("rao-lab: interrupted", file=sys.stderr)
        return 130
    except ClusterError as err:
        print(f"rao-lab: {err}", file=sys.stderr)
        return 1
