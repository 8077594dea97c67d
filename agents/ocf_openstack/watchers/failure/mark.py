"""The node attribute that lets the floating IP leave a controller whose service just failed.

When the failure watcher reports a death or a hang, it first sets the transient node
attribute ``openstack-<service>-failed=1`` on its node; the agent's next successful start
there deletes it. The clone snippet's location rules prefer controllers without it, so the
floating IP goes at once to another controller's running instance while Pacemaker restarts
this one in place (resource-stickiness keeps it there afterwards). The group and HAProxy
snippets have no such rule: there the attribute changes nothing. attrd forgets it when the
node leaves the cluster. Outside a cluster both calls fail at once and change nothing.
"""

from ...host import attrd

MARK_TIMEOUT = 2.0     # attrd answers in milliseconds; a report or a start must not wait on it


def attribute(service: str) -> str:
    """The attribute's name for ``service`` (the snippet's rules name it)."""
    return f"openstack-{service}-failed"


def mark(service: str, timeout: float = MARK_TIMEOUT) -> bool:
    """This node's ``service`` failed: whether attrd took the mark."""
    return attrd.update(attribute(service), "1", timeout)


def clear(service: str, timeout: float = MARK_TIMEOUT) -> bool:
    """This node's ``service`` runs again: whether attrd took the deletion."""
    return attrd.delete(attribute(service), timeout)
