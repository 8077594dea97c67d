"""Database drills: the lab's database node fails, and the controllers must not turn that
into a restart storm.

  db-stop    mariadbd SIGKILLed on the database node for `outage` seconds, then started again
  db-freeze  mariadbd SIGSTOPped for `outage` seconds, then SIGCONT
  db-cut     the active controller alone loses its route to the database node (a cut link:
             `ip route add unreachable`); the services (group snippet) or the floating IP
             (clone snippet) must move to a controller that reaches it

For db-stop and db-freeze the drill records, during the outage, what crm_mon shows (the
degraded monitors, exit code 190, with their reasons), and afterwards whether any service
process was restarted (main PIDs before and after), the fail-counts, whether anything was
stopped or moved, and the seconds from the database's return to both APIs answering
through the floating IP (a token issued and an image list: what needs the database). The
outage lasts `outage` seconds (default: 2.5 depth-10
intervals of the lab), so that every depth-10 monitor meets it at least twice.
"""

import os
import signal
import subprocess
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..cib import fail_counts, failures, moves, placement
from ..cluster import ClusterError, clean_env
from ..lab import SERVICES, Lab
from .common import TAIL, main_pid, ready, record_recovery, settle_after
from .poller import Poller
from .result import Result

DB_DRILLS = ("db-stop", "db-freeze", "db-cut")
DESCRIPTIONS = {
    "db-stop": "the database killed for several depth-10 intervals, then started again",
    "db-freeze": "the database frozen (SIGSTOP) for several depth-10 intervals, then SIGCONT",
    "db-cut": "the active controller alone cut off from the database node: the services (or the IP) move",
}


def main_pids(lab: Lab) -> Dict[Tuple[int, str], Optional[int]]:
    return {(i, rsc): main_pid(lab, i, rsc) for i in lab.cluster.live_nodes() for rsc in SERVICES}


def degraded_results(mon) -> Dict[str, str]:
    """'op@node' -> exit reason of every degraded (190) result crm_mon lists."""
    return {f"{f.get('op_key')}@{f.get('node')}": f.get("exitreason", "")
            for f in failures(mon) if f.get("exitcode") == "190"}


def collect_degraded(lab: Lab, seconds: float, into: Dict[str, str]) -> None:
    """For ``seconds``, once a second: every degraded result crm_mon lists, into ``into``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            into.update(degraded_results(lab.mon()))
        except ClusterError:
            pass
        time.sleep(1.0)


def bans(lab: Lab) -> List[str]:
    proc = lab.cluster.node(lab.cluster.viewer(), "cibadmin", "-Q", "--scope", "constraints", check=False)
    return [line.strip() for line in proc.stdout.splitlines() if "cli-ban" in line or "cli-prefer" in line]


def outage_seconds(lab: Lab) -> float:
    return 2.5 * lab.opts.depth10_interval


def _outage(lab: Lab, drill: str, inject: Callable[[], None], restore: Callable[[], None],
            outage: Optional[float] = None, bound: Optional[float] = None) -> Result:
    res = Result(drill)
    outage = outage if outage is not None else outage_seconds(lab)
    bound = bound if bound is not None else lab.opts.depth10_interval + 60
    ready(lab)
    pids = main_pids(lab)
    placed = placement(lab.mon())
    degraded: Dict[str, str] = {}
    with Poller(lab, drill) as poller:
        poller.wait_healthy()
        t_fault = time.time()
        inject()
        try:
            collect_degraded(lab, outage, degraded)
        finally:
            t_back = time.time()
            restore()
        lab.say(f"{drill}: the database is back after {t_back - t_fault:.0f}s")

        def serving() -> Optional[str]:
            # what needs the database: a token issued, an image list (the poller's GET /v3
            # and /healthcheck answer without it)
            check = lab.client_json("check", lab.keystone_url, lab.glance_url, timeout=60)
            if check.get("keystone_v3") != 200 or check.get("glance_images") != 200:
                return f"through the floating IP: {check}"
            return None
        record_recovery(res, "a token and an image list through the floating IP after the database's return",
                         bound, serving, lab, stable=False)
        time.sleep(TAIL)
        t_end = time.time()
    mon = lab.mon()
    after = main_pids(lab)
    poller.record(res, t_fault, t_end)
    restarted = sorted(f"{rsc}@node{i}" for (i, rsc), pid in pids.items() if pid is not None and after.get((i, rsc)) != pid)
    counts = {k: v for k, v in fail_counts(mon).items() if v}
    moved = bool(moves(placed, placement(mon)))   # a first start of a watcher is none
    res.extra.update(restarted=restarted, fail_counts=counts, degraded=degraded, moved=moved, bans=bans(lab),
                     outage=round(t_back - t_fault, 1), back_after=res.recovered)
    res.notes.append(f"restarted: {', '.join(restarted) or 'none'}; fail-counts: {counts or 'none'}; "
                     f"moved: {'yes' if moved else 'no'}; degraded results seen: {len(degraded)}")
    for key, why in sorted(degraded.items())[:4]:
        res.notes.append(f"degraded {key}: {why[:160]}")
    res.ok = res.ok and not restarted and not counts and not moved and bool(degraded) and not res.extra["bans"]
    if not res.ok and not res.error:
        res.error = "a restart, a fail-count, a move, a ban, or no degraded result during the outage"
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    settle_after(lab)
    return res


def database_process(lab: Lab) -> Tuple[str, int]:
    """What the controllers' database address is served by, and its host PID: mariadbd on the
    database node, or on the Galera lab the frontend's HAProxy (the database as every
    controller sees it: gone or frozen for all at once)."""
    if lab.galera is not None:
        pid, what = lab.galera.frontend_pid(), "the database frontend (HAProxy)"
    else:
        pid, what = lab.cluster.db_server_pid(), "mariadbd"
    if pid is None:
        raise ClusterError(f"{what} does not run on the database node")
    return what, pid


def kill_database(lab: Lab, drill: str) -> None:
    """SIGKILL of the database as the controllers reach it (database_process)."""
    what, pid = database_process(lab)
    os.kill(pid, signal.SIGKILL)
    lab.say(f"{drill}: {what} (pid {pid}) killed")


def start_database(lab: Lab, drill: str) -> None:
    t0 = time.monotonic()
    if lab.galera is not None:
        lab.galera.start_frontend()
        lab.say(f"{drill}: the database frontend started again, sending to a node after {time.monotonic() - t0:.1f}s")
        return
    took = lab.cluster.db_start_server()
    lab.say(f"{drill}: mariadbd started again, answering after {took:.1f}s")


def db_stop(lab: Lab, outage: Optional[float] = None) -> Result:
    return _outage(lab, "db-stop", lambda: kill_database(lab, "db-stop"), lambda: start_database(lab, "db-stop"),
                   outage)


def db_freeze(lab: Lab, outage: Optional[float] = None) -> Result:
    frozen: List[int] = []

    def inject() -> None:
        what, pid = database_process(lab)
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)
        lab.say(f"db-freeze: {what} (pid {pid}) SIGSTOPped")

    def restore() -> None:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        lab.say("db-freeze: SIGCONT")
    return _outage(lab, "db-freeze", inject, restore, outage)


def route(lab: Lab, i: int, action: str) -> None:
    """Node i's route to the database node: "add" cuts it (unreachable), "del" restores it."""
    subprocess.run(["ip", "-n", f"{lab.opts.pfx}-n{i}", "route", action, "unreachable", f"{lab.cluster.db_addr}/32"],
                   check=action == "add", capture_output=True, env=clean_env(), timeout=10)


def db_cut(lab: Lab, bound: Optional[float] = None) -> Result:
    """The active controller alone loses the database: what must move, moves."""
    res = Result("db-cut")
    ready(lab)
    a = lab.active_node()
    bound = bound if bound is not None else 2 * lab.opts.depth10_interval + 90
    with Poller(lab, "db-cut") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        route(lab, a, "add")
        lab.say(f"db-cut: node{a} (active) has no route to the database node {lab.cluster.db_addr}")
        try:
            def moved() -> Optional[str]:
                mon = lab.mon()
                where = lab.where("FloatingIP", mon)
                if where in ([], [f"node{a}"]):
                    return f"the floating IP is still on {where or 'no node'}"
                if lab.opts.mode == "group" and any(lab.where(rsc, mon) != where for rsc in SERVICES):
                    return "the services have not followed the floating IP"
                return poller.unsteady(t_fault)
            record_recovery(res, f"the {'services' if lab.opts.mode == 'group' else 'floating IP'} away "
                                  f"from node{a}", bound, moved, lab)
        finally:
            route(lab, a, "del")
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    res.extra.update(cut=f"node{a}", now=lab.where("FloatingIP"))
    res.notes.append(f"node{a} cut off; the floating IP now on {', '.join(lab.where('FloatingIP')) or 'no node'}")
    if not res.ok and lab.diagnose:
        lab.diagnostics()
    settle_after(lab)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"db-stop": db_stop, "db-freeze": db_freeze, "db-cut": db_cut}
