"""Drills of the HAProxy topology's agent-check (ocf:openstack:agent-check): a controller that
cannot serve correctly leaves HAProxy's rotation within seconds, and nothing else moves.

  rotation-db-cut      one controller (not the floating IP's) loses its route to the database:
                       it leaves the rotation of both backends once database-watch says so,
                       no request fails after that, and it returns once its path is back
  rotation-keys        two key rotations on one controller (not the IP's), no sync: it leaves
                       Keystone's rotation once keys-watch says so; tokens issued before the
                       drift and while it is out validate through the IP with no 401; after
                       a sync from the IP's controller it returns
  rotation-db-outage   the database down for everyone: every controller stays in rotation,
                       the calls that need no database keep working, nothing restarts
  rotation-agent-kill  one controller's responder SIGKILLed: Pacemaker starts it again, and
                       no server of any controller changes state meanwhile

While a drill runs, a Sampler reads the HAProxy of the IP's node (the clients' view) and the
watchers' node attributes every SAMPLE seconds; the times it reports are the first sample
that saw a change (so a time "after the verdict" is never flattered by the sampling).
Clients keep a load through the IP (token issue and validation, image lists).
"""

import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from .. import keys as labkeys
from ..cib import fail_counts
from ..cluster import ClusterError
from ..lab import Lab
from ..topology import haproxy
from .common import TAIL, ready, settle_after, wait_until
from .database import kill_database, main_pids, route, start_database
from .keys import KeyTexts, attributes, finish
from .poller import Poller
from .result import Result

ROTATION_DRILLS = ("rotation-db-cut", "rotation-keys", "rotation-db-outage", "rotation-agent-kill")
DESCRIPTIONS = {
    "rotation-db-cut": "HAProxy: one controller cut off from the database leaves the rotation, then returns",
    "rotation-keys": "HAProxy: one controller's keys rotated twice leaves Keystone's rotation, a sync returns it",
    "rotation-db-outage": "HAProxy: the database down for everyone takes no controller out, restarts nothing",
    "rotation-agent-kill": "HAProxy: a killed agent-check responder comes back, no server changes state",
}
SAMPLE = 0.25
LEAVE_BOUND = 60.0      # database-watch and keys-watch run every 10 s (+ keys-watch's 5 s grace)
DWELL = 10.0            # the load goes on this long while the controller is out
OUTAGE = 25.0
RESPONDER = "ocf_openstack.rotation.responder"
# the clients' load: a token issued and validated (with the old ones) and an image list every
# LOAD_INTERVAL s. Token issues cost bcrypt: ten a second saturate the 2-core lab machine, and two
# with their validations leave three Keystones there busy (monitors report them busy, degraded):
# a load test, not this drill.
LOAD_INTERVAL = 1.0
LOAD_TIMEOUT = 5.0


# HAProxy's backend -> the poller's name of that API. A drill asserts no failure while out for
# the backends the controller left: in rotation-keys Glance stays in (its tokens are validated
# through the IP), and a Glance request that carries a token the drifted controller issued
# before it left fails by design (no other controller holds that key): reported, not asserted.
API = {"keystone": "keystone", "glance-api": "glance"}


class Sample(NamedTuple):
    t: float
    states: Dict[Tuple[str, str], haproxy.ServerState]
    attrs: Dict[str, Dict[str, str]]     # attribute -> node -> value


class Sampler:
    """The IP node's HAProxy and the given node attributes, every SAMPLE s, in a thread."""

    def __init__(self, lab: Lab, ip_node: int, attributes: Sequence[str]) -> None:
        self.lab, self.ip_node, self.attributes = lab, ip_node, attributes
        self.samples: List[Sample] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.time()
            try:
                states = haproxy.states(self.lab.cluster, self.ip_node)
                attrs = {name: attributes(self.lab, name) for name in self.attributes}
            except ClusterError:
                states, attrs = {}, {}
            if states:
                self.samples.append(Sample(t, states, attrs))
            self.stop.wait(max(0.0, SAMPLE - (time.time() - t)))

    def first(self, pred: Callable[[Sample], bool], after: float) -> Optional[float]:
        return next((s.t for s in list(self.samples) if s.t >= after and pred(s)), None)

    def last(self) -> Optional[Sample]:
        return self.samples[-1] if self.samples else None

    def changes(self, after: float) -> List[str]:
        """Every server state change seen after ``after``: 'proxy/server A -> B at t'."""
        seen: Dict[Tuple[str, str], str] = {}
        out = []
        for s in list(self.samples):
            for key, st in s.states.items():
                if key in seen and seen[key] != st.status and s.t >= after:
                    out.append(f"{key[0]}/{key[1]} {seen[key]} -> {st.status} at +{s.t - after:.1f}s")
                seen[key] = st.status
        return out


def _down(s: Sample, name: str, backends: Sequence[str]) -> bool:
    return all("DOWN" in s.states.get((b, name), haproxy.ServerState("", "")).status for b in backends)


def _up(s: Sample, name: str, backends: Sequence[str]) -> bool:
    return all(s.states.get((b, name), haproxy.ServerState("", "")).status == "UP" for b in backends)


def _restarted(lab: Lab, before: Dict[Tuple[int, str], Optional[int]]) -> List[str]:
    after = main_pids(lab)
    return sorted(f"{rsc}@node{i}" for (i, rsc), pid in before.items() if pid is not None and after.get((i, rsc)) != pid)


def _target(lab: Lab) -> Tuple[int, int]:
    """(the IP's node, the controller the drill breaks: another one)."""
    ip = lab.active_node()
    return ip, max(j for j in lab.cluster.live_nodes() if j != ip)


def _leave_and_return(lab: Lab, drill: str, attribute: str, backends: Sequence[str],
                      inject: Callable[[int], None], restore: Callable[[int, int], None],
                      old_tokens: Optional[List[str]] = None,
                      while_out: Optional[Callable[[Result], None]] = None,
                      hold: float = 0.0, expect_leave: bool = True) -> Result:
    """hold: the fault lasts at least this long (the bench's fixed window); expect_leave
    False (the bench's "before", agent-check stopped): no waiting for the controller to leave."""
    res = Result(drill)
    ready(lab)
    ip, t = _target(lab)
    name = f"node{t}"
    pids = main_pids(lab)
    with Sampler(lab, ip, [attribute]) as s, Poller(lab, drill, LOAD_INTERVAL, LOAD_TIMEOUT, work=True,
                                                       old_tokens=old_tokens or []) as poller:
        poller.wait_healthy()
        t_fault = time.time()
        inject(t)
        try:
            if expect_leave:
                wait_until(f"{name} out of HAProxy's rotation ({', '.join(backends)})", LEAVE_BOUND,
                           lambda: None if (s.last() and _down(s.last(), name, backends)) else "still in", lab)
                res.extra["agent_said"] = {b: s.last().states[(b, name)].agent for b in backends}
                time.sleep(DWELL)
                if while_out:
                    while_out(res)
            time.sleep(max(0.0, t_fault + hold - time.time()))
            t_verdict = s.first(lambda x: x.attrs.get(attribute, {}).get(name) == "0", t_fault)
            t_left = s.first(lambda x: _down(x, name, backends), t_fault)
            t_restore = time.time()
        finally:
            restore(ip, t)
        # a sample taken after the restore, not one from before it (a busy machine samples late)
        wait_until(f"{name} in HAProxy's rotation", LEAVE_BOUND,
                   lambda: None if s.first(lambda x: _up(x, name, backends), t_restore) else "not yet", lab)
        t_verdict_back = s.first(lambda x: x.attrs.get(attribute, {}).get(name) not in ("0", None), t_restore)
        t_back = s.first(lambda x: _up(x, name, backends), t_restore)
        others = [c for c in s.changes(t_fault) if f"/{name} " not in c]
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    counts = {k: v for k, v in fail_counts(lab.mon()).items() if v}

    def since(a: Optional[float], b: Optional[float]) -> Optional[float]:
        return round(b - a, 2) if a is not None and b is not None else None
    res.detection = since(t_fault, t_verdict)
    res.recovered = since(t_fault, t_back)
    res.extra.update(target=name, verdict=since(t_fault, t_verdict), left=since(t_fault, t_left),
                     left_after_verdict=since(t_verdict, t_left), back_after_verdict=since(t_verdict_back, t_back),
                     failed_before_left=poller.failed(t_fault, t_left or t_end),
                     failed_while_out=poller.failed(t_left or t_end, t_restore),
                     # back too early (a Keystone with dead pooled connections) would fail these
                     failed_after_back=poller.failed(t_back or t_end, t_end),
                     other_changes=others, restarted=_restarted(lab, pids), fail_counts=counts,
                     ip_moved=lab.where("FloatingIP") != [f"node{ip}"])
    res.notes.append(f"{name}: verdict at +{res.extra['verdict']}s, out of rotation {res.extra['left_after_verdict']}s "
                     f"after it, back {res.extra['back_after_verdict']}s after the verdict that it can serve; failed "
                     f"while out {res.extra['failed_while_out']}; restarted {res.extra['restarted'] or 'none'}")
    res.extra["failed_in_window"] = poller.failed(t_fault, t_restore)
    found = (t_verdict, t_left, t_back) if expect_leave else (t_back,)
    res.ok = (None not in found and not others and not res.extra["restarted"]
              and not counts and not res.extra["ip_moved"]
              and not any(res.extra["failed_while_out"].get(API[b], (0, 0))[0] for b in backends)
              and not any(n for n, _ in res.extra["failed_after_back"].values()))
    if not res.ok:
        res.error = res.error or "no verdict, a change elsewhere, a restart, a fail-count, the IP moved, or failures while out"
    settle_after(lab)
    return res


def db_cut(lab: Lab, hold: float = 0.0, expect_leave: bool = True) -> Result:
    """One controller's route to the database cut, then restored."""
    return _leave_and_return(lab, "rotation-db-cut", "openstack-db", haproxy.PROXIES,
                             lambda t: route(lab, t, "add"), lambda ip, t: route(lab, t, "del"),
                             hold=hold, expect_leave=expect_leave)


def keys_drift(lab: Lab, hold: float = 0.0, expect_leave: bool = True) -> Result:
    """Two rotations on one controller, no sync; then its keys synced from the IP's node."""
    kt = KeyTexts(lab)
    old = lab.client_json("token", lab.keystone_url)["token"]

    def rotate(t: int) -> None:
        for _ in range(2):
            for line in labkeys.rotate(lab.cluster, t):
                kt.say(f"keys: {line}")
        kt.collect()

    def sync(ip: int, t: int) -> None:
        for line in labkeys.sync(lab.cluster, ip, [t]):
            kt.say(f"keys: {line}")

    def tokens_while_out(res: Result) -> None:
        # a token issued now (by a controller in rotation) and the old one, validated through the IP
        new = lab.client_json("token", lab.keystone_url)["token"]
        codes = [lab.client_json("validate", lab.keystone_url, tok)["status"] for tok in (new, old) for _ in range(5)]
        res.extra["validations_while_out"] = codes
        if any(c != 200 for c in codes):
            res.error = f"tokens validated through the IP while the controller was out: {codes}"
    res = _leave_and_return(lab, "rotation-keys", "openstack-keys", ("keystone",), rotate, sync,
                            old_tokens=[old], while_out=tokens_while_out, hold=hold, expect_leave=expect_leave)
    res.ok = res.ok and not res.error
    return finish(res, kt)


def agents_not_up(samples: Sequence[Sample]) -> Tuple[List[str], Dict[str, int]]:
    """What keeps a controller in must be its responder, not the responder's absence: any
    answer but "up" counts, and so does an agent unheard in more than a quarter of the samples.
    One unheard sample does not: HAProxy shows no answer after a check that met its 1 s timeout
    (it happened on the loaded 2-core lab), and keeps the last answer then. Returns those
    problems and how many samples each server was unheard in."""
    silent: Dict[str, int] = {}
    said: Set[str] = set()
    for x in samples:
        for (px, server), st in x.states.items():
            if not st.agent:
                silent[f"{px}/{server}"] = silent.get(f"{px}/{server}", 0) + 1
            elif st.agent != "up":
                said.add(f"{px}/{server}: {st.agent}")
    problems = sorted(said) + sorted(f"{key}: no answer in {n} of {len(samples)} samples"
                                     for key, n in silent.items() if n > len(samples) // 4)
    return problems, silent


def db_outage(lab: Lab) -> Result:
    """The database killed for everyone: no controller leaves, nothing restarts."""
    res = Result("rotation-db-outage")
    ready(lab)
    ip = lab.active_node()
    pids = main_pids(lab)
    with Sampler(lab, ip, ["openstack-db"]) as s, Poller(lab, "rotation-db-outage") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        kill_database(lab, res.drill)
        try:
            time.sleep(OUTAGE)
        finally:
            t_back = time.time()
            start_database(lab, res.drill)
        took = wait_until("a token and an image list through the IP", 120, lambda: _serving(lab), lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    res.recovered = round(t_back - t_fault + took, 2)
    counts = {k: v for k, v in fail_counts(lab.mon()).items() if v}
    downs = [c for c in s.changes(t_fault)]
    zeros = sorted({n for x in s.samples for n, v in x.attrs.get("openstack-db", {}).items() if v == "0"})
    after = [x for x in s.samples if x.t >= t_fault]
    not_up, silent = agents_not_up(after)
    res.extra.update(changes=downs, restarted=_restarted(lab, pids), fail_counts=counts, db_zero=zeros, not_up=not_up,
                     silent=silent, samples=len(after))
    res.notes.append(f"server state changes: {downs or 'none'}; openstack-db=0 on: {zeros or 'none'}; "
                     f"restarted: {res.extra['restarted'] or 'none'}; fail-counts: {counts or 'none'}; "
                     f"agents not up: {not_up or 'none'}")
    res.ok = (not downs and not zeros and not not_up and not res.extra["restarted"] and not counts
              and res.extra["samples"] > 10
              and not any(n for n, _ in res.failed.values()))
    if not res.ok:
        res.error = "a controller left the rotation, a restart, a fail-count, or a failed call that needs no database"
    settle_after(lab)
    return res


def _serving(lab: Lab) -> Optional[str]:
    check = lab.client_json("check", lab.keystone_url, lab.glance_url, timeout=60)
    return None if check.get("keystone_v3") == 200 and check.get("glance_images") == 200 else str(check)


def responder_pid(lab: Lab, i: int) -> Optional[int]:
    proc = lab.cluster.node(i, "pgrep", "-o", "-f", RESPONDER, check=False)
    return int(proc.stdout.split()[0]) if proc.stdout.split() else None


def agent_kill(lab: Lab) -> Result:
    """One controller's responder SIGKILLed: it comes back, no server changes state."""
    res = Result("rotation-agent-kill")
    ready(lab)
    ip, t = _target(lab)
    old = responder_pid(lab, t)
    if old is None:
        raise ClusterError(f"no agent-check responder runs on node{t}")
    with Sampler(lab, ip, []) as s, Poller(lab, "rotation-agent-kill") as poller:
        poller.wait_healthy()
        t_fault = time.time()
        lab.cluster.node(t, "kill", "-9", str(old))
        lab.say(f"rotation-agent-kill: responder (pid {old}) on node{t} killed")
        took = wait_until(f"a new responder on node{t}", 60,
                          lambda: None if responder_pid(lab, t) not in (None, old) else "not yet", lab)
        t_new = time.time()
        # the new one answers HAProxy again: a sample after it with the agent's "up" for node t
        wait_until(f"HAProxy hears node{t}'s new responder", 30, lambda: None if s.first(
            lambda x: all(st.agent == "up" for (px, server), st in x.states.items() if server == f"node{t}"),
            t_new + 1.0) else "not yet", lab)
        time.sleep(TAIL)
        t_end = time.time()
    poller.record(res, t_fault, t_end)
    res.recovered = round(took, 2)
    changes = s.changes(t_fault)
    res.extra.update(changes=changes, new_pid=responder_pid(lab, t), target=f"node{t}")
    res.notes.append(f"node{t}'s responder back after {took:.1f}s (pid {res.extra['new_pid']}); server state "
                     f"changes: {changes or 'none'}")
    res.ok = not changes and not any(n for n, _ in res.failed.values())
    if not res.ok:
        res.error = "a server changed state or a request failed while the responder was down"
    settle_after(lab)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {
    "rotation-db-cut": db_cut, "rotation-keys": keys_drift, "rotation-db-outage": db_outage,
    "rotation-agent-kill": agent_kill,
}
