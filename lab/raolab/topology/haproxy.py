"""The HA guide's topology (`rao-lab up --haproxy`, crm/openstack-ha-haproxy.crm): HAProxy,
Keystone and Glance cloned on every controller, the floating IP where HAProxy runs; the
package's example configuration with only the edits an operator makes, and how requests
spread over the controllers.

Each node gets its own /etc/haproxy (NODE_PRIVATE) holding the same file, as every
controller of a real cluster does, and net.ipv4.ip_nonlocal_bind=1 in its network
namespace (HAProxy binds the floating IP on nodes that do not hold it). Pacemaker runs
HAProxy with lsb:haproxy, Debian's init script: a node's private /run has no
/run/systemd/system, so the script starts haproxy itself.

The spread: every node's HAProxy keeps per-server counters on its stats page
(127.0.0.1:8404 inside the node); only the node that holds the IP takes requests, and the
IP moves, so the lab sums the counters of every live node.
"""

import csv
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..cluster import Cluster, ClusterError
from ..configs import LAB_GLANCE_CONF_HAPROXY
from .base import RESOURCES, Topology, Where

SHIPPED = Path("/usr/share/resource-agents-openstack/haproxy/haproxy.cfg")
CONF_DIR = "/etc/haproxy"
NODE_PRIVATE = f"{CONF_DIR}:root:root:0755"
NODE_SYSCTL = "net.ipv4.ip_nonlocal_bind=1"
STATS_URL = "http://127.0.0.1:8404/;csv"
PROXIES = ("keystone", "glance-api")
PLACEHOLDER_VIP = "192.0.2.10"
SERVER_LINE = re.compile(r"^(\s*server )ctl(\d) 192\.0\.2\.1\d(:\d+ .*)$", re.M)

Spread = Dict[str, Dict[str, int]]   # proxy -> server (node name) -> requests


def lab_config(text: str, vip: str, net: str, nodes: int) -> str:
    """The operator's edits of the example: the floating IP, one server line per controller
    (its name and its own address); a third controller's lines go with two."""
    text, n = re.subn(rf"\b{re.escape(PLACEHOLDER_VIP)}(?=:\d)", vip, text)
    if n != len(PROXIES):
        raise ClusterError(f"{SHIPPED}: expected {len(PROXIES)} binds on {PLACEHOLDER_VIP}, found {n}")

    def server(m: re.Match) -> str:
        i = int(m.group(2))
        return f"{m.group(1)}node{i} {net}.{i}{m.group(3)}" if i <= nodes else "\0"
    text, n = SERVER_LINE.subn(server, text)
    if n < nodes * len(PROXIES):
        raise ClusterError(f"{SHIPPED}: expected a server line per controller and proxy, found {n}")
    return text.replace("\0\n", "")


def install(cluster: Cluster, vip: str, nodes: int) -> str:
    """Write the lab's haproxy.cfg into every node's private /etc/haproxy and check it."""
    text = lab_config(SHIPPED.read_text(), vip, cluster.net, nodes)
    for i in range(1, nodes + 1):
        path = cluster.private_dir(i, CONF_DIR) / "haproxy.cfg"
        path.write_text(text)
        path.chmod(0o644)
    # haproxy -c parses the file and resolves everything but binds nothing: the host can check it
    proc = subprocess.run(["/usr/sbin/haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        raise ClusterError(f"haproxy -c rejects the lab's configuration: {proc.stdout}{proc.stderr}")
    return f"{CONF_DIR}/haproxy.cfg on every node (the example with the floating IP {vip} and servers " \
           f"{', '.join(f'node{i} {cluster.net}.{i}' for i in range(1, nodes + 1))})"


def parse_stats(text: str) -> Spread:
    """Requests per server (stot: sessions; health checks are not counted) of one HAProxy's CSV."""
    spread: Spread = {}
    for row in server_rows(text):
        spread.setdefault(row["pxname"], {})[row["svname"]] = int(row.get("stot") or 0)
    return spread


class ServerState(NamedTuple):
    """One server as one HAProxy sees it: its status (UP, DOWN, "DOWN (agent)", MAINT, ...)
    and what the agent said last ("" before any answer)."""

    status: str
    agent: str


def server_rows(text: str, proxies: Sequence[str] = PROXIES) -> List[Dict[str, str]]:
    """The server rows of those proxies in HAProxy's CSV stats (`show stat`), by column name."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return []
    return [row for row in csv.DictReader([lines[0][2:]] + lines[1:])
            if row.get("pxname") in proxies and row.get("svname") not in ("FRONTEND", "BACKEND")]


def parse_states(text: str) -> Dict[Tuple[str, str], ServerState]:
    """(proxy, server) -> ServerState, from one HAProxy's CSV stats."""
    return {(row["pxname"], row["svname"]): ServerState(row.get("status", ""),
                                                        row.get("last_agt", "").replace("via agent : ", ""))
            for row in server_rows(text)}


def states(cluster: Cluster, i: int, timeout: float = 2.0) -> Dict[Tuple[str, str], ServerState]:
    """What node i's HAProxy says of every server ({} when it does not answer)."""
    proc = cluster.node(i, "curl", "-s", "--max-time", str(timeout), STATS_URL, check=False, timeout=timeout + 8)
    return parse_states(proc.stdout)


def describe_states(found: Dict[Tuple[str, str], ServerState]) -> List[str]:
    """One line per backend: each controller's state and the agent's last word."""
    lines = []
    for proxy in PROXIES:
        servers = sorted((server, st) for (px, server), st in found.items() if px == proxy)
        lines.append(f"  {proxy}: " + ", ".join(f"{server} {st.status}" + (f" (agent: {st.agent})" if st.agent else "")
                                                 for server, st in servers))
    return lines


ADMIN_SOCKET = "/run/haproxy/admin.sock"   # the example's stats socket, level admin
_ASK = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); "
        "s.sendall(sys.argv[2].encode() + b'\\n'); print(s.makefile().read())")


def admin(cluster: Cluster, i: int, command: str) -> str:
    """One command on node i's HAProxy admin socket (what socat stdio would send); its answer."""
    proc = cluster.node(i, "/usr/bin/python3", "-c", _ASK, ADMIN_SOCKET, command, check=False, timeout=15)
    return proc.stdout.strip()


def agent_checks(cluster: Cluster, on: bool) -> None:
    """Every HAProxy's agent checks on or off ("disable agent": the health check alone decides,
    as before agent-check; the benchmark's "before")."""
    verb = "enable" if on else "disable"
    for i in cluster.live_nodes():
        servers = states(cluster, i)
        if not servers:    # nothing done would pass for "done"
            raise ClusterError(f"node{i}'s HAProxy lists no server: cannot {verb} its agent checks")
        for (proxy, server) in servers:
            answer = admin(cluster, i, f"{verb} agent {proxy}/{server}")
            if answer:
                raise ClusterError(f"node{i} HAProxy: {verb} agent {proxy}/{server}: {answer}")


def spread(cluster: Cluster) -> Spread:
    """Requests per proxy and server, summed over the HAProxy of every live node."""
    total: Spread = {}
    for i in cluster.live_nodes():
        proc = cluster.node(i, "curl", "-s", "--max-time", "2", STATS_URL, check=False, timeout=10)
        for proxy, servers in parse_stats(proc.stdout).items():
            mine = total.setdefault(proxy, {})
            for name, count in servers.items():
                mine[name] = mine.get(name, 0) + count
    return total


def served_by(before: Spread, after: Spread) -> Dict[str, List[str]]:
    """proxy -> the servers that took at least one request between two snapshots."""
    return {proxy: sorted(name for name, count in servers.items() if count > before.get(proxy, {}).get(name, 0))
            for proxy, servers in after.items()}


def describe(snapshot: Spread) -> str:
    return "; ".join(f"{proxy}: " + ", ".join(f"{name} {count}" for name, count in sorted(servers.items()))
                     for proxy, servers in sorted(snapshot.items())) or "no HAProxy answers"


# ---------------------------------------------------------------- the topology

def ip_with_haproxy(where: Where) -> Optional[str]:
    """The snippet's colocation: the floating IP where an HAProxy runs."""
    if not set(where["FloatingIP"]) <= set(where["haproxy"]):
        return f"FloatingIP on {where['FloatingIP']}, where no HAProxy runs"
    return None


def prepare(cluster: Cluster, vip: str, nodes: int) -> str:
    return f"haproxy: {install(cluster, vip, nodes)}; {NODE_SYSCTL} on every node"


def problems(agent: str) -> List[str]:
    found = []
    if agent != "openstack":
        found.append("--haproxy runs our agents only (the anything baseline listens on 5000)")
    if not SHIPPED.is_file():
        found.append(f"{SHIPPED} missing: install the .deb")
    if not os.access("/usr/sbin/haproxy", os.X_OK) or not os.path.exists("/etc/init.d/haproxy"):
        found.append("haproxy missing: the package haproxy (bash tests/setup/install-deps.sh installs it)")
    return found


TOPOLOGY = Topology("haproxy", "openstack-ha-haproxy.crm", RESOURCES + ("haproxy",), LAB_GLANCE_CONF_HAPROXY,
                    placement=ip_with_haproxy, node_private=NODE_PRIVATE, node_sysctl=NODE_SYSCTL,
                    prepare=prepare, problems=problems)
