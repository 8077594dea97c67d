"""The controller lab: two (or three) Pacemaker nodes in namespaces running Debian's Keystone
and Glance through the installed agents, behind the floating IP of the installed crm
snippet, with a database node running MariaDB. LabOptions says which lab; Lab brings it
up (preflight, nodes, database copy, keys, region, crm, settled), reports on it and takes
it down, and is what every drill holds.

What the nodes share, as real controllers would: the database server (the database node,
which each node's /etc/hosts names openstack-db; a copy of this host's test databases) and
the Glance image store (/var/lib/glance/images, standing in for NFS, Ceph or Swift). What
each node has of its own: /run, the CIB, the Pacemaker/Corosync state and logs,
/var/log/keystone, /var/log/glance, and Keystone's fernet and credential keys (created on
node1 and copied, see keys.py).

Elsewhere: the topologies and when a lab is settled (topology/), the crm it loads
(snippet.py), the config copies (configs.py), LabRegion (region.py), the harness
(cluster.py).
"""

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional

from . import database, fencing, keys
from .galera_lab import GaleraLab, missing as galera_missing
from .cib import failures, resource_instances
from .cluster import LAB_DIR, Cluster, ClusterError, clean_env, log
# INSTALLED_CRM, OCF_DIR, KEYSTONE_EXTRA, operator_edits, read_env_file: the live cluster
# tests (tests/cluster, tests/trixie) import them from here
from .configs import (GLANCE_CONF, GLANCE_PASTE, INSTALLED_CRM, KEYSTONE_CONF, KEYSTONE_EXTRA,  # noqa: F401
                      NODE_PRIVATE, OCF_DIR, PY, REGION, glance_url, keystone_url, read_env_file, write_service_configs)
from .region import ensure_region
from .snippet import crm_text, operator_edits  # noqa: F401
from .topology import SERVICES, SNIPPETS, TOPOLOGIES, Topology
from .topology import settle

CLIENT = LAB_DIR / "raolab" / "client.py"
# processes of each service inside a node (host view: /proc/<pid>/cmdline)
# (anchored on argv[0]: "glance-api" alone would also match the agent's own processes,
# /usr/lib/ocf/resource.d/openstack/glance-api monitor)
PROC_PATTERN = {"keystone": r"^\S*uwsgi", "glance-api": r"^(\S*python3\S* )?/usr/bin/glance-api "}


@dataclass
class LabOptions:
    pfx: str = "raolab"            # netns prefix: raolab-sw, raolab-n1, raolab-n2, raolab-cl
    net: str = "10.232.0"          # exists only inside those namespaces
    mode: str = "group"            # group, clone or haproxy: the topology (topology.TOPOLOGIES)
    agent: str = "openstack"       # anything: ocf:heartbeat:anything instead (the baseline)
    token_ms: int = 3000           # corosync totem token
    nodes: int = 2                 # 2 (two_node quorum) or 3 (real quorum)
    depth10_interval: int = 60     # the snippet's depth-10 monitor interval (s); the tests shorten it
    migration_threshold: int = 0   # >0: meta migration-threshold on keystone and glance-api
    watch: Optional[bool] = None   # the failure watcher: None as shipped, else watch=true/false on both
    fencing: bool = True           # a fence device per node on the lab's power switch (fencing.py)
    database: str = "galera"       # galera: three nodes behind HAProxy (galera_lab.py); single: database.py

    @property
    def vip(self) -> str:
        return f"{self.net}.100"

    @property
    def base(self) -> str:
        return f"/tmp/{self.pfx}-cluster"

    @property
    def topology(self) -> Topology:
        return TOPOLOGIES[self.mode]


# ---------------------------------------------------------------- the lab

class Lab:
    def __init__(self, opts: LabOptions, say=None) -> None:
        self.opts = opts
        self.say = say or (lambda msg: log(msg, "lab"))
        self.settings = read_env_file()
        self.password = self.settings["OS_ADMIN_PASSWORD"]
        topology = opts.topology
        self.cluster = Cluster(opts.pfx, opts.net, opts.nodes, base=opts.base, token_ms=opts.token_ms,
                               node_private=" ".join(filter(None, (NODE_PRIVATE, topology.node_private))),
                               node_sysctl=topology.node_sysctl, db=True, power=opts.fencing,
                               galera=opts.database == "galera")
        self.galera = GaleraLab(self.cluster, self.say) if opts.database == "galera" else None
        self.keystone_url = keystone_url(opts.vip)
        self.glance_url = glance_url(opts.vip)
        self.state_file = Path(opts.base) / "lab.json"
        self.diagnose = True   # print crm_mon and the pacemaker.log results when a drill fails

    # ------------------------------------------------------------ preflight
    def preflight(self) -> None:
        problems = []
        if os.geteuid() != 0:
            problems.append("run as root")
        for agent in SERVICES:
            if not os.access(OCF_DIR / agent, os.X_OK):
                problems.append(f"{OCF_DIR / agent} missing: install the .deb "
                                "(bash tests/setup/build-deb.sh; apt-get install -y /tmp/ra-openstack-deb/*.deb)")
        for snippet in (*SNIPPETS.values(), fencing.TWO_NODE_PROPERTIES):
            if not (INSTALLED_CRM / snippet).is_file():
                problems.append(f"{INSTALLED_CRM / snippet} missing: install the .deb")
        if self.opts.mode in TOPOLOGIES:
            problems += self.opts.topology.problems(self.opts.agent)
        if self.opts.watch is not None and self.opts.agent != "openstack":
            problems.append("--watch is our agents' failure watcher (the anything baseline has none)")
        if self.opts.nodes not in (2, 3):
            problems.append(f"--nodes {self.opts.nodes}: the lab has 2 or 3 controllers")
        if self.opts.database not in ("galera", "single"):
            problems.append(f"database {self.opts.database!r}: galera or single")
        elif self.galera is not None:
            problems += galera_missing()
        if not os.access("/usr/sbin/mariadbd", os.X_OK):
            problems.append("mariadbd missing: the database node needs the package mariadb-server "
                            "(bash tests/setup/install-deps.sh installs it)")
        elif not database.host_answers():
            problems.append("this host's MariaDB does not answer (the lab copies its keystone and glance "
                            "databases): run sh tests/setup/openstack-setup.sh")
        for path in (*keys.REPOSITORIES.values(), KEYSTONE_CONF, GLANCE_CONF, GLANCE_PASTE):
            if not os.path.exists(path):
                problems.append(f"{path} missing: run sh tests/setup/openstack-setup.sh")
        for tool in ("corosync", "pacemakerd", "crm", "curl", "runuser", "mariadb", "mariadb-dump", "arping", "stdbuf"):
            if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
                problems.append(f"{tool} missing: run bash tests/setup/install-deps.sh")
        if problems:
            raise ClusterError("cannot start the lab:\n  - " + "\n  - ".join(problems))

    def write_private(self, name: str, text: str) -> Path:
        path = Path(self.opts.base) / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds the password
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    # ------------------------------------------------------------ up
    def up(self, session: bool = False, settle_timeout: float = 180) -> None:
        t0 = time.monotonic()
        self.preflight()
        o = self.opts
        self.say(f"lab: {o.nodes} controllers node1..node{o.nodes} ({o.net}.1-{o.nodes}), database node "
                 f"{self.cluster.db_addr}, {o.mode} snippet, "
                 f"{'our agents' if o.agent == 'openstack' else 'ocf:heartbeat:anything'}"
                 f", corosync token {o.token_ms} ms, netns {o.pfx}-*, {o.net}.0/24, floating IP {o.vip}")
        for path in write_service_configs(o.vip):
            self.say(f"wrote {path}")
        try:
            # inside the try: a failure or Ctrl-C while the nodes boot tears them down too
            if session:
                self.cluster.start_session()
            else:
                self.cluster.up()
            self.save_state()
            ensure_region(o.vip, self.password, self.say)
            if self.galera is not None:
                self.galera.up()
                database.seed(self.cluster, self.say, on=self.galera.nodes[0].name)
            else:
                database.seed(self.cluster, self.say)
            for line in keys.setup(self.cluster):
                self.say(f"keys: {line}")
            if o.topology.prepare:
                self.say(o.topology.prepare(self.cluster, o.vip, o.nodes))
            # fencing (the default): a device per node and the fencing properties in one
            # commit (fencing.py); --no-fencing: the lab alone turns it off
            if o.fencing:
                self.say(f"fencing: {fencing.install_agent()}")
                two_node = (INSTALLED_CRM / fencing.TWO_NODE_PROPERTIES).read_text() if o.nodes == 2 else None
                crms = [("lab-fencing.crm", fencing.crm(o.nodes, self.cluster.base / "power.sock", two_node))]
            else:
                crms = [("lab-no-fencing.crm", fencing.no_fencing_crm())]
            for name, text in crms + [(o.topology.snippet, crm_text(o, self.password))]:
                path = self.write_private(name, text)
                t1 = time.monotonic()
                proc = self.cluster.crm("configure", "load", "update", str(path), check=False)
                if proc.returncode != 0:
                    raise ClusterError(f"crm configure load update {path} failed:\n{proc.stdout}{proc.stderr}")
                self.say(f"crm configure load update {path} ({time.monotonic() - t1:.1f}s)")
            # a failure while everything starts at once is Pacemaker's to recover (a Glance
            # that started before any Keystone answered rejects tokens until restarted): the
            # lab is up once every resource runs, each clone on every node (the watchers too:
            # a drill right after up would count their late start), and the services'
            # authenticated checks passed
            states = self.wait_settled(settle_timeout, depth10=o.agent == "openstack", allow_degraded=True,
                                       allow_failures=True)
            self.say(f"resources Started: {self.describe(states)}")
            listed = failures(self.mon())
            if listed:   # degraded results of the first monitors, or what Pacemaker recovered: forgotten
                self.say(f"crm resource cleanup of {listed}")
                self.cleanup()
                self.wait_settled(settle_timeout)
            self.wait_api(60)
            check = self.first_check()
            if check.get("keystone_v3") != 200 or check.get("glance_images") != 200:
                raise ClusterError(f"the floating IP does not serve both APIs: {check}")
            self.say(f"from the client namespace: GET {self.keystone_url}/v3 -> {check['keystone_v3']}, "
                     f"token issued, GET {self.glance_url}/v2/images -> {check['glance_images']}")
        except BaseException:
            self.say("up failed: tearing the lab down (logs kept in " + o.base + ")")
            try:
                self.diagnostics()
            finally:
                self.cluster.close(keep_state=True) if session else self.cluster.teardown(hard=True, keep_state=True)
            raise
        self.say(f"lab up in {time.monotonic() - t0:.1f}s")

    def first_check(self, attempts: int = 5) -> dict:
        """The client's first token and image list through the floating IP. Behind HAProxy, a
        request a just-started Keystone answers after more than HAProxy's timeout server
        (1 s) fails with 504 (see haproxy.cfg): retried a few times, and said."""
        for attempt in range(1, attempts + 1):
            check = self.client_json("check", self.keystone_url, self.glance_url)
            if check.get("keystone_v3") == 200 and check.get("glance_images") == 200:
                return check
            if attempt < attempts:
                self.say(f"first check through {self.opts.vip} failed (attempt {attempt}): "
                         f"{str(check.get('error', check))[:200]}; again in 2 s")
                time.sleep(2)
        return check

    # ------------------------------------------------------------ state of the cluster
    def mon(self, viewer: Optional[int] = None):
        return self.cluster.crm_mon(viewer)

    describe = staticmethod(settle.describe)

    def settled(self, mon, expect_nodes: Optional[List[str]] = None,
                allow_failures: bool = False, allow_degraded: bool = False) -> Optional[str]:
        """None when every resource the CIB defines runs where it should and is healthy, else
        why not (topology/settle.py). expect_nodes: the nodes that must be online and not in
        standby."""
        return settle.settled(mon, self.opts.topology, expect_nodes, allow_failures, allow_degraded)

    def wait_settled(self, timeout: float, expect_nodes: Optional[List[str]] = None,
                     depth10: bool = False, viewer: Optional[int] = None,
                     allow_failures: bool = False, allow_degraded: bool = False) -> List[Dict[str, str]]:
        deadline = time.monotonic() + timeout
        last = 0.0
        why = "?"
        while time.monotonic() < deadline:
            try:
                mon = self.mon(viewer)
            except ClusterError as err:
                why = str(err)
            else:
                why = self.settled(mon, expect_nodes, allow_failures, allow_degraded)
                if why is None and depth10:
                    why = settle.depth10_pending(mon, failed_is_pending=allow_failures)
                if why is None:
                    return resource_instances(mon)
            if time.monotonic() - last >= 5:
                self.say(f"waiting for the cluster to settle: {why}")
                last = time.monotonic()
            time.sleep(0.5)
        raise ClusterError(f"the cluster did not settle within {timeout:.0f}s: {why}")

    def where(self, rsc: str, mon=None) -> List[str]:
        mon = mon if mon is not None else self.mon()
        return sorted({r["node"] for r in resource_instances(mon)
                       if r["id"] == rsc and r["role"] == "Started" and r["node"]})

    def active_node(self) -> int:
        """Index of the node holding the floating IP."""
        nodes = self.where("FloatingIP")
        if len(nodes) != 1:
            raise ClusterError(f"FloatingIP runs on {nodes or 'no node'}")
        return int(nodes[0].removeprefix("node"))

    def api_up(self) -> bool:
        for url in (f"{self.keystone_url}/v3", f"{self.glance_url}/healthcheck"):
            proc = self.cluster.client("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                       url, check=False, timeout=10)
            if proc.stdout.strip() != "200":
                return False
        return True

    def wait_api(self, timeout: float) -> float:
        t0 = time.monotonic()
        while not self.api_up():
            if time.monotonic() - t0 > timeout:
                raise ClusterError(f"the APIs did not answer on {self.opts.vip} within {timeout:.0f}s")
            time.sleep(0.3)
        return time.monotonic() - t0

    def client_json(self, *args: str, timeout: float = 120) -> dict:
        proc = subprocess.run(self.cluster.client_argv(PY, str(CLIENT), *args), capture_output=True, text=True,
                              timeout=timeout, env=clean_env(LAB_OS_PASSWORD=self.password),
                              stdin=subprocess.DEVNULL)
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": f"client {args[0]}: rc {proc.returncode} {proc.stdout[-500:]} {proc.stderr[-1500:]}"}

    def cleanup(self, quiet_timeout: float = 45) -> None:
        """Forget failures (fail-counts, failed actions) so the next drill starts clean (once
        no operation is in flight: see Cluster.cleanup)."""
        self.cluster.cleanup(quiet_timeout=quiet_timeout)

    def diagnostics(self) -> None:
        try:
            v = self.cluster.viewer()
        except ClusterError:
            return
        proc = self.cluster.node(v, "crm_mon", "-1", "-o", "--include=failures", check=False)
        print(proc.stdout, proc.stderr, flush=True)
        for i in self.cluster.live_nodes():
            lines = [l for l in self.cluster.pacemaker_log(i).splitlines()
                     if re.search(r"Result of \w+ operation for (keystone|glance-api|FloatingIP|haproxy)|ocf-exit-reason", l)]
            print(f"--- node{i} pacemaker.log (results)\n" + "\n".join(l[:400] for l in lines[-30:]), flush=True)

    # ------------------------------------------------------------ status / down
    def save_state(self) -> None:
        self.state_file.write_text(json.dumps({**asdict(self.opts), "started": time.time()}))

    @classmethod
    def load(cls, pfx: str = "raolab", say=None) -> Optional["Lab"]:
        path = Path(LabOptions(pfx=pfx).base) / "lab.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        data.pop("started", None)
        data.setdefault("database", "single")     # a lab started before the Galera default
        return cls(LabOptions(**data), say=say)

    def node_table(self) -> List[str]:
        """One line per node: online (as it sees itself), quorum, what runs, key fingerprints."""
        lines = []
        for i in range(1, self.opts.nodes + 1):
            name = f"node{i}"
            if not self.cluster.init_pid(i):
                lines.append(f"{name}: DOWN")
                continue
            try:
                mon = self.mon(i)
            except ClusterError as err:
                lines.append(f"{name}: running, crm_mon failed: {str(err).splitlines()[0]}")
                continue
            me = mon.find(f"./nodes/node[@name='{name}']")
            dc = mon.find("./summary/current_dc")
            state = ("online" if me is not None and me.get("online") == "true" else "offline")
            if me is not None and me.get("standby") == "true":
                state += " (standby)"
            quorum = "quorum" if dc is not None and dc.get("with_quorum") == "true" else "NO QUORUM"
            runs = sorted({r["id"] for r in resource_instances(mon) if r["node"] == name and r["role"] == "Started"})
            lines.append(f"{name}: {state}, {quorum}, runs {', '.join(runs) or 'nothing'}; "
                         f"keys {keys.describe(keys.fingerprints(self.cluster, i))}")
        return lines

    def fencing_lines(self, last: int = 5) -> List[str]:
        """The fence devices (where each runs) and the last fencing actions, as the power
        switch logged them and as Pacemaker remembers them."""
        if not self.opts.fencing:
            return ["fencing: OFF (rao-lab up --no-fencing: stonith-enabled=false, for comparison only)"]
        try:
            mon = self.mon()
        except ClusterError as err:
            return [f"fencing: on; crm_mon failed: {str(err).splitlines()[0]}"]
        where = {r["id"]: r["node"] or "stopped" for r in resource_instances(mon) if r["id"].startswith("fence-")}
        lines = ["fencing: on; devices " + ", ".join(f"{d} (on {n})" for d, n in sorted(where.items()))
                 + f"; power switch {self.cluster.base / 'power.sock'}"]
        done = fencing.actions(self.cluster.base / "power.log")[-last:]
        lines.append(f"last fencing actions (power switch, {len(done)} shown):" if done
                     else "last fencing actions: none (power switch log empty)")
        lines += ["  " + fencing.describe(r) for r in done]
        lines.append("Pacemaker's fence history (stonith_admin --history '*'):")
        lines += ["  " + line for line in fencing.history(self.cluster).splitlines()[-last:]]
        return lines

    def crm_mon_text(self) -> str:
        proc = self.cluster.node(self.cluster.viewer(), "crm_mon", "-1", check=False)
        return proc.stdout + proc.stderr

    def urls(self) -> List[str]:
        return [f"Keystone  {self.keystone_url}/v3   (region {REGION}, user admin, project admin)",
                f"Glance    {self.glance_url}        (GET /versions, /healthcheck; images with a token)",
                f"client    ip netns exec {self.opts.pfx}-cl curl -s {self.keystone_url}/v3",
                f"a node    {LAB_DIR}/rao-lab{'' if self.opts.pfx == 'raolab' else ' --pfx ' + self.opts.pfx} "
                "shell 1   (or: shell 2 crm_mon -1)"]

    def down(self) -> None:
        self.cluster.teardown()
