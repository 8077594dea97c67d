"""Key drills: Keystone's fernet and credential keys drift apart between controllers, and
ocf:openstack:keys-watch must catch it before a failover lands on them.

  keys-rotate    `keys rotate` of the active node once without a sync: no finding; a second
                 time: the other controllers are reported inconsistent (keys-watch degraded,
                 openstack-keys=0, the reason names the peer, the key and the fix) within one
                 monitor interval plus its timeout; `keys sync` clears it, nothing restarts
  keys-failover  (three controllers) two rotations on the active node, its keys synced to one
                 other controller only, then the active node is lost: Keystone (group) or the
                 floating IP (clone) moves to the synced controller, never to the stale one, and
                 a token issued before the loss still validates
  keys-none      the same without any sync: the service still moves, and the reason says that
                 tokens issued before will be rejected
  keys-missing   the active controller's fernet keys deleted, then Keystone restarted there
                 (crm_resource --fail): its start refuses (5) with the path, Keystone runs on
                 another controller

Each drill also asserts that no key (the text of any key file any node held during the
drill) appears in the CIB, in the nodes' pacemaker.log or in what the drill printed, and
restores the lab (the crashed node booted again, every node's keys synced, failures
cleaned up).
"""

import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set

from .. import keys
from ..cib import failures, online_nodes, operation_history
from ..cluster import ClusterError
from ..lab import SERVICES, Lab
from .common import main_pid, ready, record_recovery, settle_after, wait_until
from .result import Result

KEY_DRILLS = ("keys-rotate", "keys-failover", "keys-none", "keys-missing")
DESCRIPTIONS = {
    "keys-rotate": "fernet keys rotated on the active node once (no finding), twice (the others are "
                   "reported inconsistent), then synced (cleared, nothing restarted)",
    "keys-failover": "three controllers: keys rotated twice and synced to one other only, the active node "
                     "lost: the service moves to the synced controller, an old token still validates",
    "keys-none": "three controllers: keys rotated twice, no sync, the active node lost: the service still "
                 "moves and the reason says old tokens are rejected",
    "keys-missing": "the active controller's fernet keys deleted and Keystone restarted there: the start "
                    "refuses with the path, Keystone runs elsewhere",
}
ATTRIBUTE = "openstack-keys"
WATCH = "keys-watch"
MONITOR = 10.0        # the snippet's keys-watch monitor interval (s)
MONITOR_TIMEOUT = 20.0


# ---------------------------------------------------------------- what the cluster shows

def attributes(lab: Lab, name: str = ATTRIBUTE) -> Dict[str, str]:
    """node -> openstack-keys (attrd, as the location rules see it), or another attribute."""
    proc = lab.cluster.node(lab.cluster.viewer(), "attrd_updater", "-Q", "-A", "-n", name, check=False)
    import re
    return {m.group(1): m.group(2) for m in re.finditer(r'host="([^"]*)"\s+value="([^"]*)"', proc.stdout)}


def reasons_now(lab: Lab) -> Dict[str, str]:
    """node -> openstack-keys-reason: the watcher's current reason (crm_mon keeps the reason
    of the first 190 of a series: Pacemaker records a result only when its code changes)."""
    return attributes(lab, f"{ATTRIBUTE}-reason")


def degraded(lab: Lab, rsc: str, mon=None) -> Dict[str, str]:
    """node -> exit reason of rsc's degraded (190) monitor results crm_mon lists."""
    mon = mon if mon is not None else lab.mon()
    return {f.get("node", ""): f.get("exitreason", "") for f in failures(mon)
            if f.get("exitcode") == "190" and (f.get("op_key") or "").startswith(f"{rsc}_monitor")}


def last_monitor_rc(mon, rsc: str, node: str) -> Optional[str]:
    ops = [op for op in operation_history(mon, rsc, node) if op.get("task") == "monitor"
           and op.get("interval") not in (None, "0ms")]
    return ops[-1].get("rc") if ops else None


def healthy(lab: Lab) -> Optional[str]:
    """None when no controller is marked or reported inconsistent (no false finding)."""
    mon = lab.mon()
    bad = {n: v for n, v in attributes(lab).items() if v != "1"}
    if bad:
        return f"{ATTRIBUTE} not 1: {bad}"
    for node in online_nodes(mon, standby=False):
        rc = last_monitor_rc(mon, WATCH, node)
        if rc != "0":
            return f"{WATCH} on {node}: " + (f"last monitor rc {rc}" if rc else "no monitor result yet")
    return None


def wait_healthy(lab: Lab) -> Optional[str]:
    """None once every watcher's monitor passed and every attribute is 1 (within two monitor
    intervals), else why not: a finding on keys that agree is a false finding."""
    try:
        wait_until("no finding", 2 * MONITOR + 10, lambda: healthy(lab), lab)
        return None
    except ClusterError as err:
        return str(err)


# ---------------------------------------------------------------- keys never leak

class KeyTexts:
    """Every key any node held during a drill (the text of each key file), to look for."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.texts: Set[str] = set()
        self.outputs: List[str] = []
        self.collect()

    def collect(self, extra: Optional[Path] = None) -> None:
        dirs = [keys.repo_dir(self.lab.cluster, i, repo) for i in range(1, self.lab.opts.nodes + 1)
                for repo in keys.REPOSITORIES] + ([extra] if extra else [])
        for d in dirs:
            if d.is_dir():
                for p in d.iterdir():
                    if p.is_file():
                        text = p.read_bytes().strip().decode(errors="replace")
                        if len(text) >= 16:
                            self.texts.add(text)

    def say(self, line: str) -> None:
        self.outputs.append(line)
        self.lab.say(line)

    def leaks(self) -> List[str]:
        """Where a key appears: the CIB, a node's pacemaker.log, the drill's output."""
        self.collect()
        places = {"cibadmin -Q": self.lab.cluster.node(self.lab.cluster.viewer(), "cibadmin", "-Q").stdout,
                  "the drill's output": "\n".join(self.outputs),
                  "crm_mon": self.lab.crm_mon_text()}
        for i in range(1, self.lab.opts.nodes + 1):
            places[f"node{i} pacemaker.log"] = self.lab.cluster.pacemaker_log(i)
        found = []
        for where, text in places.items():
            variants = [k for k in self.texts] + [k.replace("-", "+").replace("_", "/") for k in self.texts]
            if any(k in text for k in variants):
                found.append(where)
        return found


# ---------------------------------------------------------------- steps

def _rotate(lab: Lab, kt: KeyTexts, i: int) -> None:
    for line in keys.rotate(lab.cluster, i):
        kt.say(f"keys: {line}")
    kt.collect()


def _sync(lab: Lab, kt: KeyTexts, source: int, targets: List[int]) -> None:
    for line in keys.sync(lab.cluster, source, targets):
        kt.say(f"keys: {line}")


def _restore(lab: Lab, kt: KeyTexts, source: int) -> None:
    """Every node booted and holding source's keys, failures forgotten, no finding left."""
    for i in range(1, lab.opts.nodes + 1):
        if not lab.cluster.init_pid(i):
            lab.say(f"booting node{i} again")
            lab.cluster.revive(i)
    lab.cluster.wait_online(120)
    others = [i for i in range(1, lab.opts.nodes + 1) if i != source]
    _sync(lab, kt, source, others)
    # a booted node probes, starts its watcher and (clone) its services first: slow on a loaded machine
    wait_until("the watchers see consistent keys everywhere", 150, lambda: healthy(lab), lab)
    settle_after(lab)


def finish(res: Result, kt: KeyTexts) -> Result:
    leaks = kt.leaks()
    res.extra["leaks"] = leaks
    res.notes.append(f"key text found in: {', '.join(leaks) or 'nothing'} ({len(kt.texts)} keys looked for)")
    if leaks:
        res.ok = False
        res.error = res.error or f"a key appears in {leaks}"
    return res


# ---------------------------------------------------------------- the drills

def keys_rotate(lab: Lab) -> Result:
    res = Result("keys-rotate")
    ready(lab)
    kt = KeyTexts(lab)
    a = lab.active_node()
    others = [f"node{i}" for i in lab.cluster.live_nodes() if i != a]
    pids = {(i, rsc): main_pid(lab, i, rsc) for i in lab.cluster.live_nodes() for rsc in SERVICES}
    res.extra["healthy_before"] = wait_healthy(lab)
    _rotate(lab, kt, a)
    time.sleep(2 * MONITOR + 5)   # every watcher saw it, past the grace
    res.extra["after_one_rotation"] = healthy(lab) or ""
    res.extra["degraded_after_one"] = degraded(lab, WATCH)
    _rotate(lab, kt, a)

    def reported() -> Optional[str]:
        found = degraded(lab, WATCH)
        missing = [n for n in others if n not in found]
        return f"not yet reported: {missing}" if missing else None
    try:
        res.extra["reported_after"] = round(wait_until("the others reported inconsistent", 3 * MONITOR + MONITOR_TIMEOUT,
                                                  reported, lab), 1)
    except ClusterError as err:
        res.error = str(err)
        return finish(res, kt)
    res.extra["reasons"] = reasons = degraded(lab, WATCH)
    res.extra["attributes"] = attributes(lab)
    res.extra["ip"] = lab.where("FloatingIP")
    for node, why in reasons.items():
        kt.say(f"keys-rotate: {WATCH} on {node}: {why}")
    if lab.opts.mode == "clone":   # Keystone where it runs on a stale node says so too
        try:
            wait_until("keystone reported degraded on the stale nodes", 2 * MONITOR + MONITOR_TIMEOUT,
                  lambda: None if all(n in degraded(lab, "keystone") for n in others) else "not yet", lab)
        except ClusterError as err:
            res.error = str(err)
        res.extra["keystone_reasons"] = degraded(lab, "keystone")
    t_sync = time.monotonic()
    _sync(lab, kt, a, [int(n.removeprefix("node")) for n in others])
    record_recovery(res, "the finding cleared by the sync", 3 * MONITOR + 30, lambda: healthy(lab), lab, stable=False)
    res.extra["cleared_after"] = round(time.monotonic() - t_sync, 1)
    res.extra["restarted"] = sorted(f"{rsc}@node{i}" for (i, rsc), pid in pids.items()
                                    if pid is not None and main_pid(lab, i, rsc) != pid)
    res.notes.append(f"one rotation: {res.extra['after_one_rotation'] or 'no finding'}; two: reported after "
                     f"{res.extra['reported_after']}s on {', '.join(sorted(reasons))}; cleared "
                     f"{res.extra['cleared_after']}s after the sync; restarted: "
                     f"{', '.join(res.extra['restarted']) or 'nothing'}")
    settle_after(lab)
    res.extra["healthy_after"] = wait_healthy(lab)
    return finish(res, kt)


def _lose_active(lab: Lab, drill: str, sync_to_one: bool) -> Result:
    """keys-failover (sync_to_one) and keys-none."""
    res = Result(drill)
    if lab.opts.nodes < 3:
        res.error = f"{drill} needs three controllers (rao-lab up --nodes 3)"
        return res
    ready(lab)
    kt = KeyTexts(lab)
    a = lab.active_node()
    b, c = [i for i in lab.cluster.live_nodes() if i != a][:2]
    _rotate(lab, kt, a)
    _rotate(lab, kt, a)
    stale = [f"node{c}"] + ([] if sync_to_one else [f"node{b}"])
    if sync_to_one:
        _sync(lab, kt, a, [b])
    # issued with the new primary (a token from before two rotations is gone with its key
    # everywhere: Keystone keeps max_active_keys=3)
    token = lab.client_json("token", lab.keystone_url)
    if "error" in token:
        res.error = f"token issue through the floating IP failed: {token}"
        return res
    wait_until("the stale controllers marked", 3 * MONITOR + MONITOR_TIMEOUT,
          lambda: None if all(attributes(lab).get(n) == "0" for n in stale) and
          all(n in degraded(lab, WATCH) for n in stale) else f"attributes {attributes(lab)}", lab)
    res.extra["before"] = {"attributes": attributes(lab), "reasons": degraded(lab, WATCH)}
    lab.cluster.crash(a, stays_down=True)   # lost for good: its fencer's reboot does not boot it
    kt.say(f"{drill}: node{a} (active) crashed; stale: {', '.join(stale)}")
    seen: Set[str] = set()

    def moved() -> Optional[str]:
        mon = lab.mon(b)
        ip = lab.where("FloatingIP", mon)
        seen.update(ip)
        if f"node{a}" in online_nodes(mon):
            return f"node{b} still sees node{a} online"
        why = lab.settled(mon, expect_nodes=[f"node{b}", f"node{c}"], allow_failures=True)
        return why
    record_recovery(res, "the service on a survivor", 120, moved, lab, stable=False)
    res.extra["ip"] = lab.where("FloatingIP")
    res.extra["ip_seen"] = sorted(seen)
    res.extra["keystone"] = lab.where("keystone")
    if sync_to_one:
        res.extra["token_status"] = lab.client_json("validate", lab.keystone_url, token["token"]).get("status")
        res.extra["after"] = {"attributes": attributes(lab), "reasons": reasons_now(lab)}
    else:
        want = f"tokens issued by node{a} before will be rejected"

        def said() -> Optional[str]:
            reasons = reasons_now(lab)
            ks = degraded(lab, "keystone")
            where = lab.where("FloatingIP")
            if not all(want in reasons.get(n, "") for n in stale):
                return f"keys-watch reasons {reasons}"
            # the group starts Keystone afresh there: its first monitor's 190 is recorded
            if lab.opts.mode == "group" and (not where or want not in ks.get(where[0], "")):
                return f"keystone on {where}: {ks}"
            return None
        try:
            wait_until("the reason says old tokens are rejected", 3 * MONITOR + MONITOR_TIMEOUT, said, lab)
        except ClusterError as err:
            res.ok, res.error = False, str(err)
        res.extra["after"] = {"attributes": attributes(lab), "reasons": reasons_now(lab),
                              "keystone_reasons": degraded(lab, "keystone")}
        res.extra["token_status"] = lab.client_json("validate", lab.keystone_url, token["token"]).get("status")
    for node, why in res.extra["after"]["reasons"].items():
        kt.say(f"{drill}: {WATCH} on {node}: {why}")
    res.notes.append(f"node{a} lost; the floating IP on {res.extra['ip']} (seen on {res.extra['ip_seen']}); "
                     f"old token HTTP {res.extra['token_status']}")
    _restore(lab, kt, b if sync_to_one else a)   # keys-none: node a (booted again) holds the newest keys
    return finish(res, kt)


def keys_failover(lab: Lab) -> Result:
    return _lose_active(lab, "keys-failover", sync_to_one=True)


def keys_none(lab: Lab) -> Result:
    return _lose_active(lab, "keys-none", sync_to_one=False)


def keys_missing(lab: Lab) -> Result:
    res = Result("keys-missing")
    ready(lab)
    kt = KeyTexts(lab)
    a = lab.active_node()
    b = next(i for i in lab.cluster.live_nodes() if i != a)
    repo = keys.repo_dir(lab.cluster, a, "fernet")
    backup = lab.cluster.node_dir(a) / "fernet-keys-removed"
    shutil.rmtree(backup, ignore_errors=True)
    backup.mkdir(mode=0o700)
    for p in repo.iterdir():
        shutil.move(str(p), backup / p.name)
    kt.collect(backup)
    path = keys.REPOSITORIES["fernet"]
    kt.say(f"keys-missing: node{a}'s {path} emptied")
    # at once, before its watcher's grace ends: Pacemaker restarts Keystone there
    lab.cluster.node(lab.cluster.viewer(), "crm_resource", "--fail", "-r", "keystone", "-N", f"node{a}")

    def elsewhere() -> Optional[str]:
        mon = lab.mon()
        where = lab.where("keystone", mon) if lab.opts.mode == "group" else lab.where("FloatingIP", mon)
        if not where or f"node{a}" in where:
            return f"{'keystone' if lab.opts.mode == 'group' else 'the floating IP'} on {where}"
        return None
    record_recovery(res, f"keystone refused on node{a}, running elsewhere", 90, elsewhere, lab, stable=False)
    mon = lab.mon()
    starts = [f for f in failures(mon) if (f.get("op_key") or "").startswith("keystone_start")
              and f.get("node") == f"node{a}"]
    res.extra["start_failures"] = [{k: f.get(k) for k in ("exitcode", "exitstatus", "exitreason")} for f in starts]
    res.extra["keystone"] = lab.where("keystone", mon)
    res.extra["ip"] = lab.where("FloatingIP", mon)
    for f in res.extra["start_failures"]:
        kt.say(f"keys-missing: keystone start on node{a}: {f}")
    res.notes.append(f"keystone start on node{a}: {res.extra['start_failures']}; keystone on {res.extra['keystone']}, "
                     f"the floating IP on {res.extra['ip']}")
    for p in backup.iterdir():
        shutil.move(str(p), repo / p.name)
    backup.rmdir()
    _restore(lab, kt, b)
    return finish(res, kt)


DRILLS: Dict[str, Callable[[Lab], Result]] = {"keys-rotate": keys_rotate, "keys-failover": keys_failover,
                                              "keys-none": keys_none, "keys-missing": keys_missing}
