"""Galera drills (the default lab: three database nodes behind the frontend, raolab.galera_lab):
the database cluster breaks the ways Galera clusters break, and the controllers must neither
restart nor move anything for it.

  galera-node-lost      kill -9 of the node the frontend sends to, then of a backup: the
                        frontend moves on, tokens and image lists work again; both rejoin (IST)
  galera-isolated       the frontend's node leaves the primary component (gmcast.isolate=1):
                        the frontend moves on; isolation ended, the node rejoins
  galera-no-primary     two of three isolated, so no primary component anywhere: the services
                        are degraded (190) with a reason that names Galera; all back by itself
  galera-direct         one controller reaches a Galera node directly (its /etc/hosts names
                        db3 openstack-db, as operators without a frontend do) and db3 leaves
                        the primary component: that controller's verdicts name Galera (its
                        services degraded, or database-watch's openstack-db=0: this controller
                        alone has no usable database, so they move to one that has); never
                        restarted in place
  galera-cluster-lost   kill -9 of all three, held, then the operator's restart procedure
                        (safe_to_bootstrap / --wsrep-recover): degraded meanwhile, serving
                        again afterwards without a restart; an image, a user and a token
                        made before the crash are all still there

Each is declared by what it breaks, how long it holds the fault, and what must be seen meanwhile
(``GaleraDrill``); one runner does the rest: a client load through the floating IP (a token
issued and an image list, once a second: what needs the database), the degraded results and
their reasons while the fault lasts, the failure window per API, and afterwards: no service
restarted, no fail-count, nothing moved, no ban.
"""

import re
import time
from typing import Callable, Dict, NamedTuple, Optional

from ..cib import fail_counts, moves, placement
from ..cluster import ClusterError
from ..galera_lab import GaleraLab
from ..galera_ops import synced as galera_synced
from ..lab import Lab
from .common import TAIL, ready, settle_after, wait_until
from .database import bans, collect_degraded, degraded_results, main_pids
from .poller import Poller
from .result import Result
from .survival import IMAGE_PREFIX, seed_data, verify_data

GALERA_NAMES = re.compile(r"Galera|non-Primary|primary component", re.I)
WATCH_VERDICT = re.compile(r"database-watch: openstack-db=0: (.*)")
LOGGED = re.compile(r"(\w{3} \d{2} \d{2}:\d{2}:\d{2}) WARNING: database-watch")
LOAD_INTERVAL = 1.0      # the client's load: one token and one image list a second (the lab's limit)
LOAD_TIMEOUT = 5.0
SERVE_BOUND = 120.0      # the APIs serving work again after the fault (or its end)
# a fault held: every depth-10 monitor (the drills' lab: every 15 s) meets it at least once
HOLD = 25.0
USER_PREFIX = "rao-lab-galera-"

Step = Callable[[Lab, GaleraLab, Dict[str, object]], None]


class GaleraDrill(NamedTuple):
    """break: inject the fault (it may record what it did in the dict it gets, for mend);
    hold: seconds the fault lasts before ``mend`` (0: mend once the APIs serve again);
    mend: end the fault; degraded: the services must report degraded (190) meanwhile (else they
    may: a monitor that met the switch-over); names_galera: with a reason that names Galera; data: an image, a user and a token made before must survive; may_move: the
    services may leave a controller (database-watch's rule), never restart in place."""

    description: str
    break_: Step
    mend: Step
    hold: float = 0.0
    degraded: bool = False
    names_galera: bool = False
    data: bool = False
    may_move: bool = False


def _galera(lab: Lab) -> GaleraLab:
    if lab.galera is None:
        raise ClusterError("the Galera drills need the Galera lab (rao-lab up without --single-db)")
    return lab.galera


def _logged_after(line: str, since: float) -> bool:
    """A database-watch warning (its own log format, to the second) logged at or after since."""
    found = LOGGED.search(line)
    if not found:
        return False
    stamp = time.strptime(f"{time.strftime('%Y')} {found.group(1)}", "%Y %b %d %H:%M:%S")
    return time.mktime(stamp) >= int(since)


def _serving(lab: Lab) -> Optional[str]:
    check = lab.client_json("check", lab.keystone_url, lab.glance_url, timeout=60)
    if check.get("keystone_v3") != 200 or check.get("glance_images") != 200:
        return f"through the floating IP: {check}"
    return None


def _synced(g: GaleraLab) -> Optional[str]:
    """None once every node is Synced in one primary component and the frontend has them all up."""
    for node in g.nodes:
        state = g.wsrep(node)
        if not (state.get("wsrep_local_state_comment") == "Synced" and state.get("wsrep_cluster_status") == "Primary"
                and state.get("wsrep_cluster_size") == str(len(g.nodes))):
            return f"{node.name}: {state or 'does not answer'}"
    down = [n for n, s in g.frontend_states().items() if n != "last-resort" and not s.startswith("UP")]
    return f"the frontend still has {down} down" if down else None


# ---------------------------------------------------------------- the faults

def _node_lost(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    """kill -9 of the frontend's node; once the APIs serve again it rejoins, and a backup is
    killed (one node lost at a time: two lost at once leave the third without a majority)."""
    first = g.frontend_server()
    if first is None or first == "last-resort":
        raise ClusterError(f"the frontend sends to {first}: not a healthy cluster")
    t0 = time.monotonic()
    lab.say(f"galera-node-lost: kill -9 of {first}'s mariadbd (pid {g.kill(g.node(first))}): the frontend's node")
    done["killed"] = [first]    # mend rejoins what is listed, whatever fails below
    wait_until("the frontend on another node", 30, lambda: None if g.frontend_server() not in (first, None)
               else f"it sends to {g.frontend_server()}", lab)
    wait_until("a token and an image list through the floating IP", SERVE_BOUND, lambda: _serving(lab), lab)
    done["serving"] = round(time.monotonic() - t0, 1)     # from the fault
    lab.say(f"galera: {first} rejoins ({g.rejoin(g.node(first))})")
    done["killed"] = []
    wait_until("every Galera node Synced and up in the frontend", 120, lambda: _synced(g), lab)
    now = g.frontend_server()
    backup = next(n.name for n in g.nodes if n.name not in (first, now))
    lab.say(f"galera-node-lost: the frontend sends to {now}; kill -9 of {backup}'s mariadbd "
            f"(pid {g.kill(g.node(backup))}): a backup")
    done["killed"] = [backup]


def _rejoin_killed(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    for name in done.get("killed", []):    # type: ignore[union-attr]
        lab.say(f"galera: {name} rejoins ({g.rejoin(g.node(name))})")


def _isolate_frontends(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    """The frontend's node leaves the primary component; held until the APIs serve from another."""
    first = g.frontend_server()
    if first is None or first == "last-resort":
        raise ClusterError(f"the frontend sends to {first}: not a healthy cluster")
    t0 = time.monotonic()
    g.isolate(g.node(first), True)
    done["isolated"] = [first]
    lab.say(f"galera-isolated: {first} (the frontend's node) left the primary component (gmcast.isolate=1)")
    wait_until("the frontend on another node", 30, lambda: None if g.frontend_server() not in (first, None)
               else f"it sends to {g.frontend_server()}", lab)
    wait_until("a token and an image list through the floating IP", SERVE_BOUND, lambda: _serving(lab), lab)
    done["serving"] = round(time.monotonic() - t0, 1)     # from the fault
    state = g.wsrep(g.node(first))
    done["isolated_state"] = f"{state.get('wsrep_cluster_status')}, ready {state.get('wsrep_ready')}"


def _isolate_two(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    names = [n.name for n in g.nodes[1:]]
    done["isolated"] = []
    for name in names:
        g.isolate(g.node(name), True)
        done["isolated"].append(name)   # type: ignore[attr-defined]
    lab.say(f"galera-no-primary: {' and '.join(names)} isolated: no primary component anywhere")


def _end_isolation(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    names = list(done.get("isolated", []))   # type: ignore[call-overload]
    failed = []
    for name in names:      # every one, even when one fails
        try:
            g.isolate(g.node(name), False)
        except ClusterError as err:
            failed.append(str(err))
    if failed:
        raise ClusterError("; ".join(failed))
    lab.say(f"galera: isolation of {', '.join(names)} ended")


def _hosts(lab: Lab, i: int, address: str) -> None:
    """Node i's /etc/hosts names ``address`` openstack-db (its own copy: private per node)."""
    path = lab.cluster.base / f"node{i}" / "hosts"
    text = re.sub(r"(?m)^\S+(\s+openstack-db\b.*)$", lambda m: address + m.group(1), path.read_text())
    path.write_text(text)


def _direct(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    """The active controller reaches db3 directly; its pooled connections are cut (as a
    restart or oslo.db's recycling would), and db3 leaves the primary component."""
    a = lab.active_node()
    db3 = g.nodes[-1]
    _hosts(lab, a, db3.address)
    done["node"] = a
    g.isolate(db3, True)
    done["isolated"] = [db3.name]
    g.admin("shutdown sessions server galera/" + (g.frontend_server() or "db1"))
    lab.say(f"galera-direct: node{a} reaches {db3.name} directly, {db3.name} left the primary component, "
            "the frontend's sessions cut")


def _undirect(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    """The isolation ends first, and the controller's name goes back to the frontend only once
    db3 is Synced: its services' pooled connections still reach db3, and a probe asking the
    frontend meanwhile would find a healthy database while they fail (a Glance restarted for
    nothing: seen in the benchmark's second run before this order)."""
    try:
        _end_isolation(lab, g, done)
        wait_until("db3 Synced again", 120, lambda: None if galera_synced(g.wsrep(g.nodes[-1]))
                   else f"{g.wsrep(g.nodes[-1]) or 'does not answer'}", lab)
    finally:
        _hosts(lab, int(done["node"]), lab.cluster.db_addr)   # type: ignore[call-overload]


def _kill_all(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    pids = [g.kill(node) for node in g.nodes]
    lab.say(f"galera-cluster-lost: kill -9 of every mariadbd ({pids})")


def _restart_all(lab: Lab, g: GaleraLab, done: Dict[str, object]) -> None:
    restart = g.restart_all()
    done["restart"] = f"{restart.decision.text}; {restart.transfers}; {restart.seconds:.1f}s"


DESCRIPTIONS = {
    "galera-node-lost": "Galera: kill -9 of the frontend's database node, then of a backup: nothing restarts",
    "galera-isolated": "Galera: the frontend's database node leaves the primary component, then rejoins",
    "galera-no-primary": "Galera: no primary component anywhere: degraded, naming Galera; back by itself",
    "galera-direct": "Galera: a controller connected to a non-Primary node directly: degraded, not restarted",
    "galera-cluster-lost": "Galera: every node killed, then bootstrapped: degraded meanwhile; the data kept",
}
SPECS: Dict[str, GaleraDrill] = {
    "galera-node-lost": GaleraDrill(DESCRIPTIONS["galera-node-lost"], _node_lost, _rejoin_killed),
    "galera-isolated": GaleraDrill(DESCRIPTIONS["galera-isolated"], _isolate_frontends, _end_isolation),
    "galera-no-primary": GaleraDrill(DESCRIPTIONS["galera-no-primary"], _isolate_two, _end_isolation,
                                     hold=HOLD, degraded=True, names_galera=True),
    "galera-direct": GaleraDrill(DESCRIPTIONS["galera-direct"], _direct, _undirect, hold=HOLD, degraded=True,
                                 names_galera=True, may_move=True),
    "galera-cluster-lost": GaleraDrill(DESCRIPTIONS["galera-cluster-lost"], _kill_all, _restart_all,
                                       hold=HOLD, degraded=True, data=True),
}


# ---------------------------------------------------------------- the runner

def _plant(lab: Lab) -> Dict:
    seed = seed_data(lab, size=64 << 10)
    name = f"{USER_PREFIX}{int(time.time())}"
    made = lab.client_json("user", lab.keystone_url, name, "create")
    if made.get("status") != 201:
        raise ClusterError(f"user {name} not created through the floating IP: {made}")
    seed["user"] = (name, made["id"])
    return seed


def run(lab: Lab, name: str) -> Result:
    spec = SPECS[name]
    g = _galera(lab)
    res = Result(name)
    ready(lab)
    if _synced(g) is not None:      # a drill before failed half-way: what it left, undone
        lab.say(f"{name}: the Galera cluster first: {', '.join(g.repair()) or 'isolation ended'}")
    wait_until("a healthy Galera cluster", 120, lambda: _synced(g), lab)
    seed = _plant(lab) if spec.data else None
    pids = main_pids(lab)
    placed = placement(lab.mon())
    degraded: Dict[str, str] = {}
    done: Dict[str, object] = {}
    with Poller(lab, name, interval=LOAD_INTERVAL, timeout=LOAD_TIMEOUT, work=True) as poller:
        poller.wait_healthy()
        t_fault = time.time()
        try:
            spec.break_(lab, g, done)
            collect_degraded(lab, spec.hold, degraded)
        finally:
            t_mend = time.time()
            spec.mend(lab, g, done)
        try:
            took = wait_until("a token and an image list through the floating IP", SERVE_BOUND,
                              lambda: _serving(lab), lab)
            # a fault held on purpose: from its end; else from the fault to the first serving
            res.recovered = round(took if spec.hold else done.get("serving", t_mend - t_fault + took), 1)  # type: ignore[arg-type]
            res.ok = True
        except ClusterError as err:
            res.error = str(err).splitlines()[0]
        wait_until("every Galera node Synced and up in the frontend", 180, lambda: _synced(g), lab)
        g.cut_last_resort()
        time.sleep(TAIL)
        t_end = time.time()
    try:
        degraded.update(degraded_results(lab.mon()))
    except ClusterError:
        pass
    poller.record(res, t_fault, t_end)
    mon = lab.mon()
    after = main_pids(lab)
    # in place: a new main process where one ran; gone: none runs there now (stopped, or moved)
    restarted = sorted(f"{rsc}@node{i}" for (i, rsc), pid in pids.items()
                       if pid is not None and after.get((i, rsc)) not in (None, pid))
    gone = sorted(f"{rsc}@node{i}" for (i, rsc), pid in pids.items() if pid is not None and after.get((i, rsc)) is None)
    counts = {k: v for k, v in fail_counts(mon).items() if v}
    moved = bool(moves(placed, placement(mon)))
    naming = {k: v for k, v in degraded.items() if GALERA_NAMES.search(v)}
    # database-watch's verdict on a controller (it moves the services away before a depth-10
    # monitor may see the fault): its warning names the reason
    for i in range(1, lab.opts.nodes + 1):
        for line in lab.cluster.pacemaker_log(i).splitlines():
            said = WATCH_VERDICT.search(line)
            if said and GALERA_NAMES.search(said.group(1)) and _logged_after(line, t_fault):
                naming[f"database-watch@node{i}"] = said.group(1)
    res.extra.update(restarted=restarted, fail_counts=counts, moved=moved, bans=bans(lab), degraded=degraded,
                     naming_galera=sorted(naming), **{k: v for k, v in done.items() if k != "killed"})
    res.notes.append(f"restarted: {', '.join(restarted) or 'none'}; fail-counts: {counts or 'none'}; "
                     f"moved: {'yes' if moved else 'no'}; degraded results: {len(degraded)}; "
                     f"naming Galera: {', '.join(sorted(naming)) or 'none'}")
    for key, why in sorted(degraded.items())[:3]:
        res.notes.append(f"degraded {key}: {why[:200]}")
    if "restart" in done:
        res.notes.append(f"restart procedure: {done['restart']}")
    problems = []
    if restarted or counts or res.extra["bans"]:
        problems.append("a restart, a fail-count or a ban")
    if (moved or gone) and not spec.may_move:
        problems.append(f"a move or a stop ({', '.join(gone) or 'placement changed'})")
    if spec.degraded and not (naming if spec.names_galera else degraded):
        problems.append("no degraded result" + (" or database-watch verdict naming Galera" if spec.names_galera else "")
                        + " during the fault")
    if seed is not None:
        kept = verify_data(lab, seed, f"{name}: data", delete=False)
        user = lab.client_json("user", lab.keystone_url, seed["user"][0])
        res.notes.append(f"data: {kept.line()}; user {seed['user'][0]} found: {user.get('id') == seed['user'][1]}")
        if not kept.ok or user.get("id") != seed["user"][1]:
            problems.append("data made before the crash is missing")
        lab.client_json("delete", lab.keystone_url, lab.glance_url, IMAGE_PREFIX)
    if problems:
        res.ok = False
        res.error = "; ".join(filter(None, [res.error, *problems]))
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    settle_after(lab)
    return res


def _drill(name: str) -> Callable[[Lab], Result]:
    return lambda lab: run(lab, name)


GALERA_DRILLS = tuple(SPECS)
DRILLS: Dict[str, Callable[[Lab], Result]] = {name: _drill(name) for name in SPECS}

