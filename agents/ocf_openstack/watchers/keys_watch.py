"""ocf:openstack:keys-watch -- do this controller's Keystone keys match the issuers'?

A clone of this agent runs on every controller, whether or not Keystone runs there (in the
active/passive snippet the standby runs no Keystone monitor; a clone of a tiny agent is how
Pacemaker watches a node's own state, as ocf:pacemaker:SysInfo and ping do). Each monitor:

1. fingerprints this node's fernet and credential key repositories (keyprints: an 8-hex
   SHA-256 prefix per key file, never a key) and, when they changed, publishes them as the
   PERMANENT node attribute <attribute>-fp (crm_attribute -l forever: it outlives the node,
   so the others still know a lost controller's primary key);
2. where the ``issuer`` resource is active (the floating IP in the shipped group and clone
   snippets: only its node serves clients), refreshes the permanent <attribute>-issued
   (epoch, every 5 minutes). The issuers: the controller where the issuer runs now, and one
   whose stamp is younger than Keystone's token lifetime ([token] expiration) and whose
   watcher no longer runs (lost, standby): clients may still present its tokens;
3. compares this node's keys with every issuer's (one ``cibadmin -Q -l``, the local CIB
   copy): consistent when the fernet repository holds each issuer's primary key and the
   credential keys (but the staged one) equal the issuer's. Where three or more controllers
   issue (behind HAProxy every Keystone does), the largest group whose keys agree, if it is
   a majority, is the reference; an issuer outside it is inconsistent also when it holds
   their keys (they reject the tokens it issues). A difference younger than
   ``grace`` seconds is no finding (a rotation followed by a sync);
4. publishes the transient attribute <attribute>: 0 when this controller is inconsistent
   and another online controller with a watcher is consistent, else 1 (availability
   first: when none is consistent nothing is prevented), read by the snippets' location
   rules; returns 190 (degraded) with the reason when inconsistent, and leaves the one-line
   verdict in $HA_RSCTMP/openstack-keys.verdict for the keystone agent's monitor, and the
   reason in the transient <attribute>-reason (crm_mon -A: current even when a new reason
   comes under the same code, which Pacemaker does not record).

It never fails because of the keys: it reports, Pacemaker places. stop removes the
transient attribute and the verdict (the permanent ones stay: they describe the node's
disk, not the watcher).
"""

import os
import re
import time
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, TextIO

from .. import __version__
from ..checks import keyprints
from ..host import attrd, cib, privatefile
from ..ocf.budget import Budget
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.params import Parameter, Values
from . import base, keyverdict
from .base import MONITORING_ONLY, Watcher, check_attribute

NAME = "keys-watch"
ACTIONS = base.ACTIONS
ISSUED_REFRESH = 300      # s between refreshes of <attribute>-issued on the issuer's node


def _check_resource(value: str) -> str:
    return "" if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value) else "must be a resource id"


PARAMS = (
    Parameter("config", "Keystone configuration file",
              "keystone.conf whose [fernet_tokens] and [credential] key_repository are watched "
              "(Keystone's defaults when it does not set them) and whose [token] expiration is how "
              "long a controller that issued tokens counts as an issuer." + MONITORING_ONLY,
              default="/etc/keystone/keystone.conf"),
    Parameter("issuer", "Resource that marks the token issuer",
              "The resource whose node issues the tokens clients use: the floating IP in the group "
              "and clone snippets (only its node serves clients), the keystone clone's primitive "
              "when every controller serves (HAProxy): then, with three or more issuers, the majority "
              "whose keys agree is the reference, and a controller outside it is inconsistent."
              + MONITORING_ONLY,
              default="FloatingIP", check=_check_resource),
    Parameter("attribute", "Node attribute",
              "Transient node attribute this agent publishes: 0 when this controller's keys are "
              "inconsistent while another controller's are consistent, else 1; <attribute>-fp "
              "(the fingerprints) and <attribute>-issued (when this node last served as issuer) "
              "are permanent. The snippets' location rules read it." + MONITORING_ONLY,
              default="openstack-keys", check=check_attribute),
    Parameter("grace", "Grace period (s)",
              "Seconds a difference must last before it is a finding: a rotation on one controller "
              "followed by a copy to the others (2-4 s) is none." + MONITORING_ONLY,
              kind="integer", default="5", minimum=0),
)
LONGDESC = ("Runs as a clone on every controller and publishes fingerprints of this node's Keystone "
            "fernet and credential keys (a short SHA-256 prefix per key, never a key) as permanent node "
            "attributes. A controller is consistent when it holds the primary fernet key of every "
            "controller that issued tokens still valid, and the same credential keys. An inconsistent "
            "controller reports degraded (190) with the peer, what is missing and the fix, and is marked "
            "0 in a node attribute so that the snippets' location rules keep Keystone (or the floating "
            "IP) on a consistent controller; when none is consistent nothing is prevented.")


class Node(NamedTuple):
    name: str
    online: bool
    watching: bool                    # its watcher publishes the transient attribute
    print: Optional[keyprints.Print]  # its published fingerprint
    issued: int                       # when it last served as issuer (0: never)
    issuing: bool                     # the issuer resource is active there now


class Watch(Watcher):
    """One action of the watcher."""

    NAME = NAME

    def __init__(self, values: Values, env: Mapping[str, str], budget: Budget, report: Reporter) -> None:
        super().__init__(values, env, budget, report)
        self.fp_name, self.issued_name = f"{self.attribute}-fp", f"{self.attribute}-issued"
        self.reason_name = f"{self.attribute}-reason"
        self.verdict_file = keyverdict.verdict_path(env)
        # state: published (the value of <attribute> this node last published), verdict

    # ------------------------------------------------------------ actions
    def start(self) -> int:
        if self.load() is None:
            self.save({})
        attrd.update(self.attribute, "1", self.budget.remaining())   # watching; no preference yet
        return OCFExit.SUCCESS

    def stop(self) -> int:
        attrd.delete(self.attribute, self.budget.remaining())
        attrd.delete(self.reason_name, self.budget.remaining())
        privatefile.remove(self.state_file)
        privatefile.remove(self.verdict_file)
        return OCFExit.SUCCESS

    def validate(self) -> int:
        if not os.path.exists(self.values["config"]):
            raise OCFError(OCFExit.ERR_INSTALLED, f"parameter config: {self.values['config']} does not exist here")
        return OCFExit.SUCCESS

    def monitor(self) -> int:
        state = self.running_state()
        if state is None:   # a probe: started is all
            return OCFExit.SUCCESS
        now = int(time.time())
        me = self.me()
        config = keyprints.key_config(self.values["config"])
        repos = keyprints.read_repos(config)
        nodes = self.cluster()
        if nodes is None:
            self.report.debug("the CIB could not be read: nothing compared")
            return OCFExit.SUCCESS
        mine = self.publish_print(nodes.get(me), repos, now)
        self.refresh_issued(nodes.get(me), now)
        grace = int(self.values["grace"])
        lifetime = config.expiration + grace
        # the issuer now, and one that issued within a token lifetime and whose watcher no
        # longer runs (lost, standby): its last fingerprint stands for the tokens it issued.
        # A past issuer still watching is no reference: its keys move on with the cluster's
        # rotations, and a rotation that drops the key of old tokens is Keystone's own rule
        # (max_active_keys), the same on every controller.
        issuers = {n.name: n.print for n in nodes.values() if n.print is not None
                   and (n.issuing or (not n.watching and now - n.issued <= lifetime))}
        # every controller issues behind HAProxy: the majority that agrees is the reference,
        # and an issuer outside it is inconsistent also when it holds their keys (they reject its tokens)
        reference = keyprints.majority(issuers)
        found = keyprints.findings(me, mine, reference, config)
        if me in issuers and me not in reference:
            found += keyprints.rejected_by(me, mine, reference)
        found = [f for f in found if now - f.since >= grace]
        if not found:
            self.conclude(state, "1", "")
            return OCFExit.SUCCESS
        peers = sorted(n.name for n in nodes.values() if n.name != me and n.online and n.watching
                       and n.print is not None and keyprints.consistent(n.name, n.print, reference)
                       and (n.name not in issuers or n.name in reference))
        reason = self.reason(me, found, peers, nodes, config)
        self.conclude(state, "0" if peers else "1", reason)
        raise OCFError(OCFExit.DEGRADED, reason)

    # ------------------------------------------------------------ steps
    def cluster(self) -> Optional[Dict[str, Node]]:
        """Every node's published fingerprint, issuer stamp and state, from one local CIB query."""
        found = cib.query(self.budget.remaining())
        if found is None:
            return None
        nodes = {}
        for node in cib.nodes(found).values():
            watching = node.online and self.attribute in node.transient
            stamp = node.permanent.get(self.issued_name, "")
            nodes[node.name] = Node(node.name, node.online, watching,
                                    keyprints.decode(node.permanent.get(self.fp_name, "")),
                                    int(stamp) if stamp.isdigit() else 0, node.online and self.issuing(node.state))
        return nodes

    def issuing(self, state) -> bool:
        """Whether the issuer resource is active on this node_state."""
        return cib.active(state, self.values["issuer"])

    def publish_print(self, node: Optional[Node], repos, now: int) -> keyprints.Print:
        """This node's fingerprint as published (written when its content changed)."""
        value = keyprints.encode(repos, now)
        if node is not None and node.print is not None and \
                keyprints.content(keyprints.encode(node.print.repos, 0)) == keyprints.content(value):
            return node.print
        if attrd.set_permanent(self.me(), self.fp_name, value, self.budget.remaining()):
            self.report.info(f"{self.fp_name}: {keyprints.content(value)}")
        return keyprints.Print(now, dict(repos))

    def refresh_issued(self, node: Optional[Node], now: int) -> None:
        if node is not None and node.issuing and now - node.issued >= ISSUED_REFRESH:
            attrd.set_permanent(self.me(), self.issued_name, str(now), self.budget.remaining())

    def reason(self, me: str, found: List[keyprints.Finding], peers: List[str], nodes: Dict[str, Node],
               config: keyprints.KeyConfig) -> str:
        """What is missing first (Pacemaker keeps 128 characters), then the fix."""
        # one line per missing thing, naming every issuer it concerns ("... of node1 and node2")
        grouped: Dict[str, List[str]] = {}
        for f in found:
            grouped.setdefault(f.what.rsplit(f" of {f.issuer}", 1)[0] if f.issuer else f.what, []).append(f.issuer)
        what = "; ".join(k + (f" of {' and '.join(v)}" if v[0] else "") for k, v in list(grouped.items())[:3])
        issuer = next((f.issuer for f in found if f.issuer), "")
        online = {n.name for n in nodes.values() if n.online}
        source = issuer if issuer in online else (peers[0] if peers else issuer)
        if source:
            f, c = config.fernet.rstrip("/"), config.credential.rstrip("/")
            fix = (f"sync the keys from {source}: rsync -a --delete {source}:{f}/ {f}/; "
                   f"rsync -a --delete {source}:{c}/ {c}/")
        else:
            fix = "restore it from another controller: rsync -a --delete CTL:<repository>/ <repository>/"
        if peers:
            rejected = f"tokens {issuer} issued are rejected here; " if issuer else ""
            return f"{what}: {fix} ({rejected}Keystone and the floating IP prefer {', '.join(peers)})"
        # the consequence first: Pacemaker keeps 128 characters of a reason
        if issuer:
            return (f"tokens issued by {issuer} before will be rejected wherever Keystone runs: no online controller "
                    f"holds its keys ({what}); nothing is prevented (availability first); {fix}")
        return f"{what}: no online controller has consistent keys; nothing is prevented (availability first); {fix}"

    def conclude(self, state: Dict[str, str], value: str, reason: str) -> None:
        """Publish the attribute (when it changed), the verdict for Keystone, log a change."""
        if state.get("published") != value and attrd.update(self.attribute, value, self.budget.remaining()):
            state["published"] = value
        verdict = f"190 {reason}" if reason else "0"
        if state.get("verdict") != verdict:
            # Pacemaker records a recurring monitor's result only when its code changes: a new
            # reason under the same 190 (a peer lost, the fix now another) would not reach
            # crm_mon. The transient <attribute>-reason always says what holds now (crm_mon -A).
            if reason:
                attrd.update(self.reason_name, reason, self.budget.remaining())
            else:
                attrd.delete(self.reason_name, self.budget.remaining())
            if reason:
                self.report.warning(f"{self.attribute}={value}: {reason}")
            elif state.get("verdict"):
                self.report.info(f"{self.attribute}={value}: the keys of this controller are consistent again")
            state["verdict"] = verdict
        privatefile.write(self.verdict_file, verdict + "\n")   # every monitor: its age says it is current
        self.save(state)


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
         out: Optional[TextIO] = None) -> int:
    """Run one OCF action of ocf:openstack:keys-watch; returns its exit code."""
    return base.main(Watch, __version__, LONGDESC, "Do this controller's Keystone keys match the issuers'?", PARAMS, ACTIONS, argv, env, out)
