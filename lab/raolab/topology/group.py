"""The active/passive topology (openstack-ha.crm): FloatingIP, Keystone and Glance as one
unit on one controller; the watcher clones (database-watch, keys-watch) on every controller."""

from typing import Optional

from ..configs import LAB_GLANCE_CONF
from .base import RESOURCES, Topology, Where


def together(where: Where) -> Optional[str]:
    """The snippet's colocation: the services with the floating IP, on one node."""
    if len({node for rsc in RESOURCES for node in where[rsc]}) != 1:
        return f"not together on one node: { {rsc: where[rsc] for rsc in RESOURCES} }"
    return None


TOPOLOGY = Topology("group", "openstack-ha.crm", RESOURCES, LAB_GLANCE_CONF, placement=together)
