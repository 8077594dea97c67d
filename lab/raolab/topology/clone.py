"""The active/active topology (openstack-ha-clone.crm): Keystone and Glance cloned on every
controller, the floating IP on one where both run and have not failed; the watcher clones
on every controller. Its placement is settle.py's rule for clones: nothing more."""

from ..configs import LAB_GLANCE_CONF
from .base import RESOURCES, Topology

TOPOLOGY = Topology("clone", "openstack-ha-clone.crm", RESOURCES, LAB_GLANCE_CONF)
