"""What a topology declares (Topology), and what every topology has: the services the lab
runs through our agents and the resources it addresses by name."""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..cluster import Cluster

SERVICES = ("keystone", "glance-api")
RESOURCES = ("FloatingIP",) + SERVICES

Where = Dict[str, List[str]]   # resource -> the nodes it is Started on (cib.placement)


@dataclass(frozen=True)
class Topology:
    mode: str                  # LabOptions.mode, and rao-lab up's --clone / --haproxy
    snippet: str               # the installed crm it loads (with the lab's edits: snippet.py)
    named: Tuple[str, ...]     # resources the lab and the drills address by name: must run
    glance_conf: str           # the Glance config copy its snippet names (configs.py)
    # its own placement rule on top of settle.py's: None when kept, else why not
    placement: Callable[[Where], Optional[str]] = lambda where: None
    node_private: str = ""     # more node-private directories (pcmk-cluster.sh NODE_PRIVATE)
    node_sysctl: str = ""      # sysctls in each node's network namespace
    # what an operator prepares on every controller before the crm (a line to say), if anything
    prepare: Optional[Callable[[Cluster, str, int], str]] = None
    # why this topology cannot run with these options (preflight), e.g. a package missing
    problems: Callable[[str], List[str]] = lambda agent: []
