"""The lab's Galera cluster, the parts that are pure: each node's configuration, the HAProxy
frontend in front of the nodes, and the operator's restart decision.

Three database nodes (db1..db3) run Debian's mariadbd with galera-4 outside Pacemaker (the
seed's remote database backend), rsync SST. The controllers reach them through one address:
HAProxy with an HTTP health check per node (lab/clustercheck), one active server and the
others ``backup`` (a single writer: the HA guide's reason is deadlocks with several),
``stick on dst`` (a node that comes back does not take the traffic back) and
``on-marked-down shutdown-sessions`` (sessions to a node marked down are cut, not left hanging).

Restarting a cluster that stopped (galera_ops.restart runs it) is what an operator does:
read every node's ``grastate.dat``; where its seqno is -1 (the node crashed), ask
``mariadbd --wsrep-recover`` for the position InnoDB holds; bootstrap a new primary component
(``--wsrep-new-cluster``) from the node that says ``safe_to_bootstrap: 1``, else from the one
with the highest position (ties: the first in node order), after marking it safe; then the
others join, each with its recovered start position, so that IST serves where the donor's
gcache allows. ``choose`` refuses, and says why, when the nodes hold different cluster
histories (UUIDs) or a position is unknown: either would lose committed transactions.

Every address and port is a parameter: in the lab each node is a network namespace of its
own (default ports), the loopback test runs three nodes on 127.0.0.1 with distinct ports.
"""

import re
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
CLUSTER_NAME = "raolab-galera"
NO_UUID = "00000000-0000-0000-0000-000000000000"
# db-init.sh's sizes and character set: a lab database of a few MB on a 2-core machine
LAB_SETTINGS = {"innodb_buffer_pool_size": "64M", "max_connections": "500",
                "character_set_server": "utf8mb4", "collation_server": "utf8mb4_general_ci"}
# gcache.recover: a node that crashed keeps its writesets, so that after a whole-cluster crash
# the bootstrapped node can still serve IST to the others
PROVIDER_OPTIONS = "gcache.size=32M;gcache.recover=yes"
RECOVERED = re.compile(r"WSREP: Recovered position:\s*([0-9a-fA-F-]{36}):(-?\d+)")


class Node(NamedTuple):
    """One database node: its name, the address its peers and clients reach, its directory
    (host path: data/, tmp/, my.cnf, error.log) and its ports."""

    name: str
    address: str
    home: str
    port: int = 3306
    gcomm_port: int = 4567
    ist_port: int = 4568
    sst_port: int = 4444
    check_port: int = 9200      # its clustercheck
    socket: str = ""            # default <home>/mysqld.sock (the lab: the node's private /run)
    pid_file: str = ""

    @property
    def datadir(self) -> str:
        return f"{self.home}/data"

    @property
    def tmpdir(self) -> str:
        return f"{self.home}/tmp"

    @property
    def cnf(self) -> str:
        return f"{self.home}/my.cnf"

    @property
    def error_log(self) -> str:
        return f"{self.home}/error.log"

    @property
    def grastate(self) -> str:
        return f"{self.datadir}/grastate.dat"

    @property
    def socket_path(self) -> str:
        return self.socket or f"{self.home}/mysqld.sock"

    @property
    def gcomm(self) -> str:
        return f"{self.address}:{self.gcomm_port}"


def lab_nodes(base: Path, net: str, count: int = 3, first: int = 251) -> List[Node]:
    """The lab's nodes db1..dbN on net.251.. (the frontend keeps the database node's .250),
    each in its own namespaces: default ports, socket and pid file in its private /run."""
    return [Node(f"db{i}", f"{net}.{first + i - 1}", str(base / f"db{i}"), socket="/run/mysqld/mysqld.sock",
                 pid_file="/run/mysqld/mysqld.pid") for i in range(1, count + 1)]


def render_cnf(node: Node, members: Sequence[Node], cluster_name: str = CLUSTER_NAME,
               provider_options: str = PROVIDER_OPTIONS, settings: Mapping[str, str] = LAB_SETTINGS) -> str:
    """The node's whole option file (mariadbd --defaults-file=<node.cnf>: nothing of the
    host's /etc/mysql applies). ``members``: every node of the cluster, this one included."""
    addr = node.address
    options = f"gmcast.listen_addr=tcp://{addr}:{node.gcomm_port};ist.recv_addr={addr}:{node.ist_port}"
    if provider_options:
        options += f";{provider_options}"
    values: Dict[str, str] = {
        "datadir": node.datadir, "tmpdir": node.tmpdir, "socket": node.socket_path,
        "pid_file": node.pid_file or f"{node.home}/mysqld.pid", "log_error": node.error_log,
        "bind_address": addr, "port": str(node.port), "skip_name_resolve": "ON",
        "default_storage_engine": "InnoDB", "innodb_autoinc_lock_mode": "2", "binlog_format": "ROW",
        **settings,
        "wsrep_on": "ON", "wsrep_provider": PROVIDER, "wsrep_cluster_name": cluster_name,
        "wsrep_cluster_address": "gcomm://" + ",".join(m.gcomm for m in members),
        "wsrep_node_name": node.name, "wsrep_node_address": node.gcomm,
        "wsrep_node_incoming_address": f"{addr}:{node.port}",
        "wsrep_sst_method": "rsync", "wsrep_sst_receive_address": f"{addr}:{node.sst_port}",
        "wsrep_provider_options": f'"{options}"',
    }
    lines = [f"# {node.name} of the Galera cluster {cluster_name} (rendered by raolab.galera)", "[mysqld]"]
    lines += [f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def render_frontend(address: str, nodes: Sequence[Node], port: int = 3306, name: str = "galera",
                    session_timeout: str = "90m", last_resort: bool = True) -> str:
    """HAProxy's ``listen`` section for the database (with a named ``defaults`` of its own, so
    that an http-mode ``defaults`` of the file it joins, as the controllers' example has, does
    not apply): the first node active, the others backup, each marked up or down by its
    clustercheck (HTTP 200 or 503 on its check_port). ``last_resort``: when no node passes
    its check, connections go to the first node anyway (unchecked, never stored in the stick
    table): a node outside the primary component refuses every statement with its own error
    (1047), so nothing is written, and clients learn why instead of meeting a closed connection."""
    servers = [f"    server {n.name} {n.address}:{n.port} check port {n.check_port} inter 1s fall 2 rise 2 "
               f"on-marked-down shutdown-sessions" + (" backup" if i else "") for i, n in enumerate(nodes)]
    if last_resort and nodes:
        servers.append(f"    server last-resort {nodes[0].address}:{nodes[0].port} backup non-stick")
    return "\n".join([
        f"defaults {name}-tcp",
        "    mode tcp",
        # long-lived pooled connections (oslo.db recycles them after an hour)
        f"    timeout client {session_timeout}",
        f"    timeout server {session_timeout}",
        "    timeout connect 1s",
        # the clustercheck answers within its own bound (1.5 s for mariadbd)
        "    timeout check 2s",
        "",
        f"listen {name} from {name}-tcp",
        f"    bind {address}:{port}",
        "    option tcpka",
        # the clustercheck's verdict: 200 only for a Synced, Primary, ready node that takes queries
        "    option httpchk",
        "    http-check expect status 200",
        # the server new connections go to (one key: the frontend's address), kept while it is
        # up and replaced when it goes down, so that a node that comes back does not take the
        # writer's role back (TripleO's table; "size 1 nopurge" is full once it holds that key,
        # is never updated, and the traffic returns to the first node: measured)
        "    stick-table type ip size 1000",
        "    stick on dst",
        *servers,
    ]) + "\n"


def render_haproxy(frontend: str, stats_socket: str, pidfile: str = "") -> str:
    """A whole haproxy.cfg for a HAProxy that serves the database only (the lab's frontend
    node, the loopback test): ``frontend`` is render_frontend's text."""
    head = ["global", "    maxconn 2048", f"    stats socket {stats_socket} mode 600 level admin"]
    if pidfile:
        head.append(f"    pidfile {pidfile}")
    return "\n".join(head) + "\n\n" + frontend


# ------------------------------------------------------------------ the restart decision

class Position(NamedTuple):
    uuid: str
    seqno: int


class GraState(NamedTuple):
    """A node's grastate.dat: its cluster's UUID, its last committed seqno (-1: unknown, the
    node did not shut down cleanly), and whether it may bootstrap (it left last)."""

    uuid: str
    seqno: int
    safe_to_bootstrap: bool


class Candidate(NamedTuple):
    name: str
    state: Optional[GraState]               # None: no grastate.dat (a node that never joined)
    recovered: Optional[Position] = None    # --wsrep-recover's, read when state.seqno is -1


class Decision(NamedTuple):
    """Which node bootstraps (None: refused), who joins, the position each start takes
    (``--wsrep-start-position``), whether grastate.dat must first be marked safe, and why,
    as text an operator reads."""

    bootstrap: Optional[str]
    joiners: List[str]
    positions: Dict[str, Position]
    mark_safe: bool
    text: str


def parse_grastate(text: str) -> GraState:
    """grastate.dat's fields; ValueError when uuid or seqno is missing or malformed."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.lstrip().startswith("#"):
            fields[key.strip()] = value.strip()
    try:
        return GraState(fields["uuid"].lower(), int(fields["seqno"]), fields.get("safe_to_bootstrap", "0") == "1")
    except (KeyError, ValueError) as err:
        raise ValueError(f"grastate.dat without a valid uuid and seqno ({err})") from None


def mark_safe(text: str) -> str:
    """grastate.dat with ``safe_to_bootstrap: 1`` (what the operator edits by hand)."""
    text, n = re.subn(r"(?m)^safe_to_bootstrap:.*$", "safe_to_bootstrap: 1", text)
    return text if n else text.rstrip("\n") + "\nsafe_to_bootstrap: 1\n"


def parse_recovered(log: str) -> Optional[Position]:
    """The position a ``mariadbd --wsrep-recover`` run printed (its last one), or None."""
    found = RECOVERED.findall(log)
    return Position(found[-1][0].lower(), int(found[-1][1])) if found else None


def position_of(c: Candidate) -> Optional[Position]:
    """The node's position: grastate's when it is known, else the recovered one (None: unknown)."""
    if c.state is not None and c.state.seqno != -1:
        return Position(c.state.uuid, c.state.seqno)
    if c.recovered is not None and c.recovered.seqno != -1 and c.recovered.uuid != NO_UUID:
        return c.recovered
    return None


def _fresh(c: Candidate) -> bool:
    """A node that never joined a cluster: no grastate.dat, or one (and InnoDB) without a UUID."""
    return c.state is None or (c.state.uuid == NO_UUID and (c.recovered is None or c.recovered.uuid == NO_UUID))


def choose(candidates: Sequence[Candidate]) -> Decision:
    """The node to bootstrap the cluster from (see the module's docstring). ``candidates`` in
    node order: the order breaks ties."""
    known = {c.name: p for c in candidates if not _fresh(c) and (p := position_of(c)) is not None}
    unknown = [c.name for c in candidates if not _fresh(c) and c.name not in known]
    if not known and not unknown:
        first = candidates[0].name
        return Decision(first, [c.name for c in candidates[1:]], {}, False,
                        f"no node has a Galera state (new data directories): a new cluster from {first}, "
                        "the others join by SST")
    if unknown:
        return _refuse(f"the position of {', '.join(unknown)} is unknown (grastate.dat says seqno -1 and "
                       "--wsrep-recover recovered none): it may hold the latest transactions")
    histories = sorted({p.uuid for p in known.values()})
    if len(histories) > 1:
        groups = "; ".join(f"{', '.join(n for n, p in known.items() if p.uuid == u)} in {u}" for u in histories)
        return _refuse(f"the nodes hold different cluster histories ({groups}): bootstrapping from one discards "
                       "the others' transactions; decide by hand, and move the data directory of the nodes "
                       "you give up aside so that they join by SST")
    order = [c.name for c in candidates]
    safe = [c.name for c in candidates if c.name in known and c.state is not None and c.state.safe_to_bootstrap]
    pool = safe or list(known)
    top = max(known[n].seqno for n in pool)
    chosen = next(n for n in order if n in pool and known[n].seqno == top)
    above = [f"{n} has seqno {known[n].seqno}" for n in order if n in known and known[n].seqno > top]
    if above:
        return _refuse(f"{chosen} says safe_to_bootstrap: 1 at seqno {top}, but {', '.join(above)}: one of them "
                       "holds transactions the other lacks; decide by hand")
    ties = [n for n in pool if n != chosen and known[n].seqno == top]
    tie = f" ({', '.join(ties)} too: the first in node order)" if ties else ""
    state = next(c.state for c in candidates if c.name == chosen)
    where = "--wsrep-recover" if state is not None and state.seqno == -1 else "grastate.dat"
    if safe:
        why = f"{chosen} says safe_to_bootstrap: 1 (it left the cluster last; seqno {top}){tie}"
    else:
        why = (f"no node says safe_to_bootstrap: 1 (the cluster stopped without a last node to leave); "
               f"{chosen} has the highest position, seqno {top} (from {where}){tie}: "
               f"its grastate.dat is marked safe_to_bootstrap: 1 first")
    lines = [f"bootstrap {chosen} (--wsrep-new-cluster) in cluster {histories[0]}: {why}"]
    for c in candidates:
        if c.name == chosen:
            continue
        p = known.get(c.name)
        if p is None:
            lines.append(f"{c.name} joins by SST (no Galera state)")
        elif p.seqno == top:
            lines.append(f"{c.name} joins from seqno {p.seqno}, the same position: an IST of what the cluster "
                         "commits meanwhile at most")
        else:
            lines.append(f"{c.name} joins from seqno {p.seqno}, {top - p.seqno} behind: IST if the donor's "
                         "gcache holds them, else SST")
    return Decision(chosen, [n for n in order if n != chosen], known, not safe, "; ".join(lines))


def _refuse(why: str) -> Decision:
    return Decision(None, [], {}, False, f"no bootstrap: {why}")
