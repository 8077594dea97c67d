"""The HAProxy topology's check after every drill: the client's requests reach the Keystone
and the Glance of every active controller again."""

import time
from typing import Optional

from ..cib import online_nodes
from ..lab import Lab
from ..topology import haproxy
from .poller import Poller


def serves_everywhere(lab: Lab, seconds: float = 3.0) -> Optional[str]:
    """HAProxy topology: None when the client's requests through the floating IP reach the
    Keystone and the Glance of every active controller (HAProxy's per-server counters, before
    and after seconds of polling), else which do not."""
    active = online_nodes(lab.mon(), standby=False)
    before = haproxy.spread(lab.cluster)
    with Poller(lab, "spread") as poller:
        poller.wait_healthy()
        time.sleep(seconds)
    served = haproxy.served_by(before, haproxy.spread(lab.cluster))
    missing = {proxy: sorted(set(active) - set(served.get(proxy, []))) for proxy in haproxy.PROXIES}
    missing = {proxy: nodes for proxy, nodes in missing.items() if nodes}
    return f"no request reached {missing} (served: {served})" if missing else None
