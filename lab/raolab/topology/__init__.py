"""Topologies: which installed snippet a lab loads and what "settled" means for it.

  group    openstack-ha.crm: FloatingIP, Keystone and Glance together on one controller
  clone    openstack-ha-clone.crm: Keystone and Glance cloned on every controller, the IP on one
  haproxy  openstack-ha-haproxy.crm: HAProxy, Keystone and Glance cloned, the IP where HAProxy
           runs (the lab also writes each node's haproxy.cfg)

Each topology is declared in a module of its own (what it loads, the resources the lab
addresses by name, its own placement rule); settle.py holds the check they share: every
resource the CIB defines is Started, each clone on every active node. The cluster properties
(fencing, two or three controllers) are the lab's, not a topology's: raolab/fencing.py.
"""

from typing import Dict

from . import clone, group, haproxy
from .base import RESOURCES, SERVICES, Topology  # noqa: F401

TOPOLOGIES: Dict[str, Topology] = {t.mode: t for t in (group.TOPOLOGY, clone.TOPOLOGY, haproxy.TOPOLOGY)}
SNIPPETS: Dict[str, str] = {mode: t.snippet for mode, t in TOPOLOGIES.items()}
