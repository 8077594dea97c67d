"""Failover drills: break the lab the way controllers break, and measure what a client sees.

Every drill polls both APIs through the floating IP from the client namespace (Keystone
GET /v3, Glance GET /healthcheck, every 0.1 s, each request bounded by 1.5 s), injects
one fault, and waits (bounded) until Pacemaker has recovered: the resource restarted by
the cluster (a failure recorded, a new main process) or moved, the cluster settled, both
APIs answering again. It reports
  - detection: fault -> the first failed monitor or failure-watcher report (an asyncmon
    failure) in a pacemaker.log (service faults), or
    the survivor's Pacemaker declaring the node lost (node loss);
  - downtime per API: from the first failed poll to the first successful one after it
    (summed if the API blinked more than once);
  - recovered: fault -> cluster settled and both APIs answering.
A drill always leaves the lab usable: stopped processes are continued, a crashed node is
booted again, a standby node is put online, failures are cleaned up.

One module per kind of fault, each with its DRILLS (name -> drill) and DESCRIPTIONS:
  service     keystone-kill, glance-kill, keystone-hang
  nodes       node-loss (and the rejoin), switchover
  survival    data: an image and a token made before node-loss and switchover survive them
  quorumloss  quorum-loss (three controllers)
  isolation   split-brain (two controllers), cut-off (three): link cuts, fencing on
  freeze      frozen, fence-failed: the active node SIGSTOPped (with the switch unplugged)
  stopfail    stop-failed: a stop that cannot finish costs the node (fenced)
  database    db-stop, db-freeze, db-cut
  galera      galera-node-lost, galera-isolated, galera-no-primary, galera-direct,
              galera-cluster-lost (the default lab's Galera cluster breaks)
  keys        keys-rotate, keys-failover, keys-none, keys-missing
  watch       watch-quiet, watch-killed (the failure watcher)
  rotation    rotation-db-cut, rotation-keys, rotation-db-outage, rotation-agent-kill (the
              HAProxy topology's agent-check: who leaves HAProxy's rotation, and who must not)
and what they share: result.py (Result, report), poller.py (the client's view),
common.py (nodes, processes, log events, waiting), arpwatch.py (who answers ARP for the
floating IP), fenceorder.py (fencing actions, and nothing started before the fence), spread.py (the HAProxy topology's check
after each drill). This package is the registry (DRILLS, DESCRIPTIONS: every kind, in the
order of `rao-lab drill --list`) and the names the tests and benchmarks use.
"""

from typing import Callable, Dict

from ..cib import quorum  # noqa: F401
from ..lab import Lab
from . import (database, freeze, galera, isolation, keys, nodes, quorumloss, rotation, service, stopfail, survival,
               watch)
from .common import orphan_trees  # noqa: F401
from .nodes import node_loss, switchover  # noqa: F401
from .poller import Poller  # noqa: F401
from .quorumloss import quorum_loss  # noqa: F401
from .isolation import cut_off, split_brain  # noqa: F401
from .freeze import fence_failed, frozen  # noqa: F401
from .stopfail import stop_failed  # noqa: F401
from .result import Result, report  # noqa: F401
from .service import glance_kill, keystone_hang, keystone_kill  # noqa: F401
from .spread import serves_everywhere  # noqa: F401
from .survival import data, seed_data, verify_data  # noqa: F401

KINDS = (service, nodes, survival, quorumloss, isolation, freeze, stopfail, database, galera, keys, watch, rotation)
DRILLS: Dict[str, Callable[[Lab], Result]] = {name: fn for kind in KINDS for name, fn in kind.DRILLS.items()}
DESCRIPTIONS: Dict[str, str] = {name: text for kind in KINDS for name, text in kind.DESCRIPTIONS.items()}
