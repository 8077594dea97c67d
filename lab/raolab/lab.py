"""The controller lab: two (or three) Pacemaker nodes in namespaces running Debian's Keystone
and Glance through the installed agents, behind the floating IP of the installed crm
snippet, with a database node running MariaDB.

What the nodes share, as real controllers would: the database server (the database node,
which each node's /etc/hosts names openstack-db; a copy of this host's test databases) and
the Glance image store (/var/lib/glance/images, standing in for NFS, Ceph or Swift). What
each node has of its own: /run, the CIB, the Pacemaker/Corosync state and logs,
/var/log/keystone, /var/log/glance, and Keystone's fernet and credential keys (created on
node1 and copied, see keys.py).

The lab changes nothing the host's tests use: it gets its own config copies
(keystone-lab.conf, glance-api-lab.conf with bind_host 0.0.0.0, a paste ini whose
healthcheck disable file is a lab one) and its own region (LabRegion) whose identity and
image endpoints point at the floating IP; RegionOne stays as it is.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional

from . import database, haproxy, keys
from .cluster import (LAB_DIR, Cluster, ClusterError, clean_env, failures, log, online_nodes,
                      operation_history, placement, resource_instances)

REPO = LAB_DIR.parent
ENV_FILE = REPO / "tests" / "setup" / "openstack.env"
INSTALLED_CRM = Path("/usr/share/resource-agents-openstack/crm")
OCF_DIR = Path("/usr/lib/ocf/resource.d/openstack")
CLIENT = LAB_DIR / "raolab" / "client.py"
REGISTER = LAB_DIR / "raolab" / "register.py"
PY = "/usr/bin/python3"

REGION = "LabRegion"
REGION_PORT = 35357   # the temporary Keystone that registers LabRegion (loopback, once)
# Debian's ini sizing (8 processes x 32 threads) takes 14-15 s to start on 2 cores and ~1 GB
# per node: the lab keeps the 32 threads and runs 2 processes.
KEYSTONE_EXTRA = "--processes 2"
KEYSTONE_CONF = "/etc/keystone/keystone.conf"
LAB_KEYSTONE_CONF = "/etc/keystone/keystone-lab.conf"
GLANCE_CONF = "/etc/glance/glance-api.conf"
LAB_GLANCE_CONF = "/etc/glance/glance-api-lab.conf"
# the HAProxy topology's copy (Glance on its internal port): a file of its own, so that labs
# of different modes never see each other's ports
LAB_GLANCE_CONF_HAPROXY = "/etc/glance/glance-api-lab-haproxy.conf"
GLANCE_PASTE = "/etc/glance/glance-api-paste.ini"
LAB_GLANCE_PASTE = "/etc/glance/glance-api-paste-lab.ini"
# each node keeps its own service logs, as a real controller does
NODE_PRIVATE = ("/var/log/keystone:keystone:keystone:0750 /var/log/glance:glance:glance:0750 "
                + keys.NODE_PRIVATE)
RESOURCES = ("FloatingIP", "keystone", "glance-api")
SERVICES = ("keystone", "glance-api")
# mode -> the installed snippet it loads
SNIPPETS = {"group": "openstack-ha.crm", "clone": "openstack-ha-clone.crm", "haproxy": "openstack-ha-haproxy.crm"}
# haproxy mode: the snippet's internal ports (HAProxy holds 5000 and 9292 on the floating IP)
GLANCE_INTERNAL_PORT = 9282
# processes of each service inside a node (host view: /proc/<pid>/cmdline)
# (anchored on argv[0]: "glance-api" alone would also match the agent's own processes,
# /usr/lib/ocf/resource.d/openstack/glance-api monitor)
PROC_PATTERN = {"keystone": r"^\S*uwsgi", "glance-api": r"^(\S*python3\S* )?/usr/bin/glance-api "}


def read_env_file(path: Path = ENV_FILE) -> Dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass
class LabOptions:
    pfx: str = "raolab"            # netns prefix: raolab-sw, raolab-n1, raolab-n2, raolab-cl
    net: str = "10.232.0"          # exists only inside those namespaces
    mode: str = "group"            # group, clone or haproxy: the snippet (SNIPPETS)
    agent: str = "openstack"       # anything: ocf:heartbeat:anything instead (the baseline)
    token_ms: int = 3000           # corosync totem token
    nodes: int = 2                 # 2 (two_node quorum) or 3 (real quorum)
    depth10_interval: int = 60     # the snippet's depth-10 monitor interval (s); the tests shorten it
    migration_threshold: int = 0   # >0: meta migration-threshold on keystone and glance-api
    watch: Optional[bool] = None   # the failure watcher: None as shipped, else watch=true/false on both

    @property
    def vip(self) -> str:
        return f"{self.net}.100"

    @property
    def base(self) -> str:
        return f"/tmp/{self.pfx}-cluster"

    @property
    def resources(self) -> tuple:
        """The snippet's resources the lab checks."""
        return RESOURCES + (("haproxy",) if self.mode == "haproxy" else ())



# ---------------------------------------------------------------- crm

def _sub(text: str, pattern: str, repl, count: int) -> str:
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n != count:
        raise ValueError(f"expected {count} match(es) of {pattern!r} in the snippet, found {n}")
    return new


KEYSTONE_PARAMS = r"(^primitive keystone ocf:openstack:keystone \\\n\s*params )"
GLANCE_PARAMS = r"(^primitive glance-api ocf:openstack:glance-api \\\n\s*params )"


def operator_edits(text: str, vip: str, password: str) -> str:
    """What an operator edits in a shipped snippet (the floating IP, the credentials), and
    keystone's size for a small machine. Shared by the lab and the live cluster tests."""
    text = _sub(text, r"\bip=192\.0\.2\.\d+", f"ip={vip}", 1)
    text = _sub(text, r"\bos_username=\S+", "os_username=admin", 2)
    # a function, not a template: a backslash in the password must stay a backslash
    text = _sub(text, r"\bos_password=\S+", lambda _: f"os_password={password}", 2)
    text = _sub(text, r"\bos_project_name=\S+", "os_project_name=admin", 2)
    return _sub(text, KEYSTONE_PARAMS, rf'\g<1>additional_parameters="{KEYSTONE_EXTRA}" ', 1)


def localize(text: str, vip: str, password: str, glance_conf: str = LAB_GLANCE_CONF) -> str:
    """operator_edits, and the lab's config copies and region."""
    text = operator_edits(text, vip, password)
    text = _sub(text, KEYSTONE_PARAMS, rf"\g<1>config={LAB_KEYSTONE_CONF} os_region_name={REGION} ", 1)
    return _sub(text, GLANCE_PARAMS, rf"\g<1>config={glance_conf} os_region_name={REGION} ", 1)


def _primitive_block(text: str, name: str) -> re.Match:
    m = re.search(rf"^primitive {re.escape(name)} \S+ \\\n(?:.*\\\n)*.*\n", text, flags=re.M)
    if not m:
        raise ValueError(f"no primitive {name} in the snippet")
    return m


def latest_operation(ops: List[Dict[str, str]]) -> Optional[Dict[str, str]]:
    """The newest of crm_mon's operation_history entries (by last-rc-change, then by
    position: a later entry wins a tie), or None."""
    def when(op: Dict[str, str]) -> float:
        try:
            return time.mktime(time.strptime(" ".join(op.get("last-rc-change", "").split()),
                                             "%a %b %d %H:%M:%S %Y"))
        except ValueError:
            return 0.0
    return max(enumerate(ops), key=lambda item: (when(item[1]), item[0]), default=(0, None))[1]


def as_anything(text: str) -> str:
    """The baseline: the same snippet, but Keystone and Glance run by ocf:heartbeat:anything
    with the command lines our agents use. anything has no health check and no depth 10."""
    from ocf_openstack.keystone import debian_uwsgi  # the installed agent's own choice

    params = {
        "keystone": (f'binfile={debian_uwsgi({}, {})} user=keystone workdir=/ '
                     f'pidfile=/run/lab-anything-keystone/keystone.pid '
                     f'logfile=/var/log/keystone/keystone-anything.out '
                     f'cmdline_options="--http-socket :5000 --ini /etc/keystone/keystone-uwsgi.ini '
                     f"--add-header 'Connection: close' --worker-reload-mercy 5 "
                     f'--env OS_KEYSTONE_CONFIG_FILES={LAB_KEYSTONE_CONF} {KEYSTONE_EXTRA}"'),
        "glance-api": (f'binfile=/usr/bin/glance-api user=glance workdir=/ '
                       f'pidfile=/run/lab-anything-glance/glance-api.pid '
                       f'logfile=/var/log/glance/glance-anything.out '
                       f'cmdline_options="--config-file={LAB_GLANCE_CONF} '
                       f'--log-file=/var/log/glance/glance-api.log"'),
    }
    for name, param_line in params.items():
        m = _primitive_block(text, name)
        lines = [line.strip().rstrip("\\").strip() for line in m.group(0).splitlines()]
        kept = [line for line in lines[1:] if line.startswith(("op ", "meta "))
                and "OCF_CHECK_LEVEL" not in line]
        block = " \\\n    ".join([f"primitive {name} ocf:heartbeat:anything", f"params {param_line}", *kept]) + "\n"
        text = text[:m.start()] + block + text[m.end():]
    return text


# ---------------------------------------------------------------- service configuration

def _write_atomic(path: str, text: str, like: str) -> None:
    """Write path with the owner and mode of ``like`` (root:glance 0640 and so on)."""
    st = os.stat(like)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lab-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _ini_set(text: str, section: str, key: str, value: str) -> str:
    """Set key in [section] of an ini text (added if absent); comments are left alone."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == f"[{section}]"), None)
    if start is None:
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {value}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def write_service_configs(vip: str) -> List[str]:
    """The lab's copies of the host's service configuration (regenerated at every up, so
    they follow tests/setup/openstack-setup.sh). The host's own files are not touched.
    The HAProxy topology's Glance copy has the edits of the snippet's SERVICE PORTS: its
    internal port, and token validation through HAProxy on the floating IP."""
    text = Path(KEYSTONE_CONF).read_text()
    # the host tests create /etc/keystone/healthcheck_disable at times: not ours
    text = _ini_set(text, "healthcheck", "disable_by_file_path", "/etc/keystone/healthcheck_disable.lab")
    _write_atomic(LAB_KEYSTONE_CONF, text, KEYSTONE_CONF)
    text = Path(GLANCE_CONF).read_text()
    text = _ini_set(text, "DEFAULT", "bind_host", "0.0.0.0")      # answer on the floating IP too
    text = _ini_set(text, "paste_deploy", "config_file", LAB_GLANCE_PASTE)
    _write_atomic(LAB_GLANCE_CONF, text, GLANCE_CONF)
    text = _ini_set(text, "DEFAULT", "bind_port", str(GLANCE_INTERNAL_PORT))
    for key in ("auth_url", "www_authenticate_uri"):
        text = _ini_set(text, "keystone_authtoken", key, f"http://{vip}:5000")
    # keystonemiddleware validates at the region's identity endpoint: the floating IP's
    text = _ini_set(text, "keystone_authtoken", "region_name", REGION)
    _write_atomic(LAB_GLANCE_CONF_HAPROXY, text, GLANCE_CONF)
    text = Path(GLANCE_PASTE).read_text()
    text, n = re.subn(r"^(disable_by_file_path\s*=).*$", r"\1 /etc/glance/healthcheck_disable.lab", text, flags=re.M)
    if n != 1:
        raise RuntimeError(f"{GLANCE_PASTE}: expected one disable_by_file_path line, found {n}")
    _write_atomic(LAB_GLANCE_PASTE, text, GLANCE_PASTE)
    return [LAB_KEYSTONE_CONF, LAB_GLANCE_CONF, LAB_GLANCE_CONF_HAPROXY, LAB_GLANCE_PASTE]


def region_endpoints() -> Dict[str, str]:
    """'type/interface' -> url of LabRegion's endpoints, from this host's keystone database."""
    rows = database.query("SELECT CONCAT(s.type, '/', e.interface), e.url FROM keystone.endpoint e "
                                   f"JOIN keystone.service s ON e.service_id = s.id WHERE e.region_id = '{REGION}'")
    return {row[0]: row[1] for row in rows if len(row) == 2}


# ---------------------------------------------------------------- the lab

class Lab:
    def __init__(self, opts: LabOptions, say=None) -> None:
        self.opts = opts
        self.say = say or (lambda msg: log(msg, "lab"))
        self.settings = read_env_file()
        self.password = self.settings["OS_ADMIN_PASSWORD"]
        with_haproxy = opts.mode == "haproxy"
        self.cluster = Cluster(opts.pfx, opts.net, opts.nodes, base=opts.base, token_ms=opts.token_ms,
                               node_private=NODE_PRIVATE + (" " + haproxy.NODE_PRIVATE if with_haproxy else ""),
                               node_sysctl=haproxy.NODE_SYSCTL if with_haproxy else "", db=True)
        self.keystone_url = f"http://{opts.vip}:5000"
        self.glance_url = f"http://{opts.vip}:9292"
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
        for snippet in (*SNIPPETS.values(), "lab-two-node.crm"):
            if not (INSTALLED_CRM / snippet).is_file():
                problems.append(f"{INSTALLED_CRM / snippet} missing: install the .deb")
        if self.opts.mode == "haproxy":
            if self.opts.agent != "openstack":
                problems.append("--haproxy runs our agents only (the anything baseline listens on 5000)")
            if not haproxy.SHIPPED.is_file():
                problems.append(f"{haproxy.SHIPPED} missing: install the .deb")
            if not os.access("/usr/sbin/haproxy", os.X_OK) or not os.path.exists("/etc/init.d/haproxy"):
                problems.append("haproxy missing: the package haproxy (bash tests/setup/install-deps.sh installs it)")
        if self.opts.watch is not None and self.opts.agent != "openstack":
            problems.append("--watch is our agents' failure watcher (the anything baseline has none)")
        if self.opts.nodes not in (2, 3):
            problems.append(f"--nodes {self.opts.nodes}: the lab has 2 or 3 controllers")
        if not os.access("/usr/sbin/mariadbd", os.X_OK):
            problems.append("mariadbd missing: the database node needs the package mariadb-server "
                            "(bash tests/setup/install-deps.sh installs it)")
        elif not database.host_answers():
            problems.append("this host's MariaDB does not answer (the lab copies its keystone and glance "
                            "databases): run sh tests/setup/openstack-setup.sh")
        for path in (*keys.REPOSITORIES.values(), KEYSTONE_CONF, GLANCE_CONF, GLANCE_PASTE):
            if not os.path.exists(path):
                problems.append(f"{path} missing: run sh tests/setup/openstack-setup.sh")
        for tool in ("corosync", "pacemakerd", "crm", "curl", "runuser", "mariadb", "mariadb-dump"):
            if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
                problems.append(f"{tool} missing: run bash tests/setup/install-deps.sh")
        if problems:
            raise ClusterError("cannot start the lab:\n  - " + "\n  - ".join(problems))

    # ------------------------------------------------------------ crm
    def crm_text(self) -> str:
        snippet = SNIPPETS[self.opts.mode]
        text = localize((INSTALLED_CRM / snippet).read_text(), self.opts.vip, self.password,
                        LAB_GLANCE_CONF_HAPROXY if self.opts.mode == "haproxy" else LAB_GLANCE_CONF)
        if self.opts.depth10_interval != 60:
            text = _sub(text, r"op monitor interval=60s (timeout=\S+ OCF_CHECK_LEVEL=10)",
                        rf"op monitor interval={self.opts.depth10_interval}s \1", 2)
        if self.opts.migration_threshold:
            for name in SERVICES:
                block = _primitive_block(text, name)
                body = block.group(0)
                extra = f"migration-threshold={self.opts.migration_threshold}"
                body = (re.sub(r"(\n\s*meta )", rf"\g<1>{extra} ", body, count=1) if "\n    meta " in body
                        else body[:-1] + f" \\\n    meta {extra}\n")
                text = text[:block.start()] + body + text[block.end():]
        if self.opts.watch is not None:   # the operator's edit the README gives: watch=... in the params
            value = "true" if self.opts.watch else "false"
            text = _sub(text, KEYSTONE_PARAMS, rf"\1watch={value} ", 1)
            text = _sub(text, GLANCE_PARAMS, rf"\1watch={value} ", 1)
        if self.opts.agent == "anything":
            text = as_anything(text)
        return text

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
            self.ensure_region()
            database.seed(self.cluster, self.say)
            for line in keys.setup(self.cluster):
                self.say(f"keys: {line}")
            if o.mode == "haproxy":
                self.say(f"haproxy: {haproxy.install(self.cluster, o.vip, o.nodes)}; {haproxy.NODE_SYSCTL} on every node")
            # two nodes: the lab properties; three keep Pacemaker's default no-quorum-policy=stop
            # (the harness's seed CIB already has stonith-enabled=false: no fence device here)
            crms = [("lab-two-node.crm", (INSTALLED_CRM / "lab-two-node.crm").read_text())] if o.nodes == 2 else []
            for name, text in crms + [(SNIPPETS[o.mode], self.crm_text())]:
                path = self.write_private(name, text)
                t1 = time.monotonic()
                proc = self.cluster.crm("configure", "load", "update", str(path), check=False)
                if proc.returncode != 0:
                    raise ClusterError(f"crm configure load update {path} failed:\n{proc.stdout}{proc.stderr}")
                self.say(f"crm configure load update {path} ({time.monotonic() - t1:.1f}s)")
            # a failure while everything starts at once is Pacemaker's to recover (a Glance
            # that started before any Keystone answered rejects tokens until restarted): the
            # lab is up once every service runs and its authenticated check passed
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

    def ensure_region(self) -> None:
        """LabRegion in this host's keystone database (once: every copy the database node gets
        has it then), registered through a temporary Keystone on loopback (REGION_PORT)."""
        want = {f"{t}/{i}": u for t, u in (("identity", f"{self.keystone_url}/v3/"), ("image", self.glance_url))
                for i in ("public", "internal", "admin")}
        if region_endpoints() == want:
            self.say(f"region {REGION}: identity and image endpoints at {self.opts.vip} already registered")
            return
        url = f"http://127.0.0.1:{REGION_PORT}"
        self.say(f"registering region {REGION} (identity and image endpoints at {self.opts.vip}) "
                 f"with a temporary Keystone on {url}")
        env = clean_env(OCF_ROOT="/usr/lib/ocf", OCF_RESOURCE_INSTANCE="lab-setup-keystone",
                        HA_RSCTMP="/run/resource-agents", OCF_RESKEY_bind=f"127.0.0.1:{REGION_PORT}",
                        OCF_RESKEY_url=url, OCF_RESKEY_additional_parameters="--processes 1")
        agent = str(OCF_DIR / "keystone")
        os.makedirs("/run/resource-agents", exist_ok=True)
        proc = subprocess.run([agent, "start"], env=env, capture_output=True, text=True, timeout=120)
        try:
            if proc.returncode != 0:
                raise ClusterError(f"the temporary Keystone on {url} did not start: {proc.stderr.strip()[-1000:]}")
            proc = subprocess.run([PY, str(REGISTER)], capture_output=True, text=True, timeout=120,
                                  env=clean_env(LAB_OS_PASSWORD=self.password, LAB_VIP=self.opts.vip,
                                                LAB_REGION=REGION, LAB_KEYSTONE=url))
            if proc.returncode != 0:
                raise ClusterError(f"registering {REGION} failed: {proc.stdout}{proc.stderr[-2000:]}")
            self.say(f"region {REGION}: {proc.stdout.strip()}")
        finally:
            subprocess.run([agent, "stop"], env=env, capture_output=True, timeout=120)

    # ------------------------------------------------------------ state of the cluster
    def mon(self, viewer: Optional[int] = None):
        return self.cluster.crm_mon(viewer)

    @staticmethod
    def describe(instances: List[Dict[str, str]]) -> str:
        return ", ".join(f"{r['id']}@{r['node'] or '-'}:{r['role']}" for r in instances)

    def settled(self, mon, expect_nodes: Optional[List[str]] = None,
                allow_failures: bool = False, allow_degraded: bool = False) -> Optional[str]:
        """None when every resource the CIB defines (crm_mon lists them all) runs where it
        should and is healthy, else why not: each primitive Started once, each clone Started
        on every active node (online, not in standby), the topology's placement kept.
        expect_nodes: the nodes that must be online and not in standby."""
        nodes = online_nodes(mon, standby=False)
        if expect_nodes is not None and nodes != sorted(expect_nodes):
            return f"active nodes {nodes}, expected {sorted(expect_nodes)}"
        inst = resource_instances(mon)
        # a clone's instance without a node is a spare (clone-max counts offline nodes too)
        bad = [r for r in inst if (r["node"] or not r["clone"]) and not (
            r["role"] == "Started" and r["active"] == "true" and r["failed"] == "false")]
        if bad:
            return "not Started: " + self.describe(bad)
        where = placement(mon)
        missing = [r for r in self.opts.resources if r not in where]
        if missing:
            return f"not running: {missing}"
        short = [f"{rsc} on {where.get(rsc, [])}" for rsc in sorted({r["id"] for r in inst if r["clone"]})
                 if where.get(rsc, []) != nodes]
        if short:
            return f"clones not on every active node {nodes}: {', '.join(short)}"
        if self.opts.mode == "group":
            if len({n for r in self.opts.resources for n in where[r]}) != 1:
                return f"not together on one node: { {r: where[r] for r in self.opts.resources} }"
        elif self.opts.mode == "haproxy" and not set(where["FloatingIP"]) <= set(where["haproxy"]):
            return f"FloatingIP on {where['FloatingIP']}, where no HAProxy runs"
        # a degraded result (190) is listed among the failures, but it is no failure: a
        # depth-10 monitor that met a Keystone still loading right after the start
        listed = [f for f in failures(mon) if not (allow_degraded and f.get("exitcode") == "190")]
        if listed and not allow_failures:
            return f"failed actions: {listed}"
        return None

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
                    why = self.depth10_pending(mon, failed_is_pending=allow_failures)
                if why is None:
                    return resource_instances(mon)
            if time.monotonic() - last >= 5:
                self.say(f"waiting for the cluster to settle: {why}")
                last = time.monotonic()
            time.sleep(0.5)
        raise ClusterError(f"the cluster did not settle within {timeout:.0f}s: {why}")

    def depth10_pending(self, mon, failed_is_pending: bool = False) -> Optional[str]:
        """None once every running instance's authenticated monitor (the longer interval) passed.
        A failed one is an error, or with ``failed_is_pending`` (Pacemaker recovers the
        service and its monitor runs again) one more reason to wait."""
        pending = []
        for node in online_nodes(mon, standby=False):
            for rsc in SERVICES:
                ops = [op for op in operation_history(mon, rsc, node) if op.get("task") == "monitor"]
                intervals = sorted({int(op["interval"].rstrip("ms")) for op in ops if op.get("interval") not in (None, "0ms")})
                if not ops:
                    continue   # not running there
                deep = [op for op in ops if intervals and op.get("interval") == f"{intervals[-1]}ms"]
                # the newest result counts: a degraded one stays listed as the last failure
                # (same operation, same call id) after the monitor passed again
                latest = latest_operation(deep)
                if (len(intervals) < 2 or latest is None or latest.get("rc") in ("193", "190")
                        or (failed_is_pending and latest.get("rc") != "0")):
                    pending.append(f"{rsc}@{node}")   # not run yet, degraded, or being recovered: wait for a pass
                elif latest.get("rc") != "0":
                    raise ClusterError(f"{rsc} depth-10 monitor failed on {node}: {deep}")
        return f"depth-10 monitors pending: {pending}" if pending else None

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
