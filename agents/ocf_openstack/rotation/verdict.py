"""What the agent-check responder tells HAProxy about one backend on this controller, from
what the controller already publishes as node attributes (a pure function of the CIB).

A backend leaves the rotation ("down #reason") for a reason local to this controller:
  - database-watch's attribute is 0: this controller does not reach the database while
    another controller does (a database down for everyone leaves it 1 everywhere);
  - keys-watch's attribute is 0 (Keystone only): this controller's keys would reject
    tokens that a consistent controller accepts;
  - the failure watcher's mark ``openstack-<service>-failed`` is 1: the service died or
    hung here and Pacemaker is restarting it (the next successful start clears it).
The watchers' own rule (0 only while another controller is fine) is applied again across the
backend: if no other online controller out of standby, where the backend's resource is
active (a controller whose Keystone is still starting, or banned, serves nothing; a quorum
node runs none), is free of every reason, the backend stays "up" here. Taking every server
out makes HAProxy answer 503 to everything, also to the calls that still work; "up" only
returns a server that HAProxy's own health check passes.

Other degraded monitors are no reason to leave: a Glance whose local Keystone is down still
serves (it validates tokens through the floating IP), and a busy service is as busy elsewhere.
The answer never says ``ready``, ``drain`` or ``maint``: those are an operator's
``set server ... state`` and an agent must not undo them.
"""

from typing import Dict, Mapping, NamedTuple, Tuple

from ..host.cib import NodeState, active
from ..watchers.failure import mark

REASON_MAX = 100   # HAProxy shows it in its stats and logs: short, one line, plain ASCII


class Cause(NamedTuple):
    """A node attribute whose value takes the backend out, and why, as HAProxy shows it."""

    attribute: str
    value: str
    reason: str


class Backend(NamedTuple):
    """One HAProxy backend: the name HAProxy's agent-send says, what takes it out, and the
    resource that serves it (the snippet's primitive)."""

    name: str
    causes: Tuple[Cause, ...]
    resource: str


class Verdict(NamedTuple):
    """This controller's answer for one backend; ``note`` says why it stays in despite a cause."""

    up: bool
    reason: str = ""
    note: str = ""

    def line(self) -> str:
        """The one line HAProxy reads."""
        if self.up:
            return "up\n"
        text = "".join(c if " " <= c <= "~" else " " for c in self.reason)[:REASON_MAX].strip()
        return f"down #{text}\n" if text else "down\n"


UP = Verdict(True)


def backends(database_attribute: str, keys_attribute: str) -> Dict[str, Backend]:
    """The backends of the shipped haproxy.cfg, by the name its agent-send gives."""
    database = Cause(database_attribute, "0", "database unreachable from this controller (database-watch)")

    def failed(service: str) -> Cause:
        return Cause(mark.attribute(service), "1", f"{service} failed here, Pacemaker recovers it (failure watcher)")
    return {
        "keystone": Backend("keystone", (
            database, Cause(keys_attribute, "0", "Keystone keys differ from the token issuers' (keys-watch)"),
            failed("keystone")), "keystone"),
        "glance-api": Backend("glance-api", (database, failed("glance-api")), "glance-api"),
    }


def reasons(node: NodeState, backend: Backend) -> Tuple[str, ...]:
    """Why ``node`` should not serve ``backend`` (none: it may)."""
    return tuple(c.reason for c in backend.causes if node.transient.get(c.attribute) == c.value)


def judge(nodes: Mapping[str, NodeState], me: str, backend: Backend) -> Verdict:
    """``me``'s verdict for ``backend`` (up when the CIB does not know ``me``)."""
    mine = nodes.get(me)
    found = reasons(mine, backend) if mine is not None else ()
    if not found:
        return UP
    others = [n.name for n in nodes.values() if n.name != me and n.online and not n.standby
              and active(n.state, backend.resource) and not reasons(n, backend)]
    if not others:
        return Verdict(True, found[0], f"no other controller serves {backend.name} without a reason either: "
                                       "kept in rotation")
    return Verdict(False, found[0])
