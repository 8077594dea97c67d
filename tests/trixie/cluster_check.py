#!/usr/bin/python3
"""Both installed crm snippets in a one-node Pacemaker 3.0 cluster, with trixie's crmsh.

Runs INSIDE the trixie leg (leg-inner.sh): in the leg's own network namespace (eth0 =
NET.1/24, hostname node1) and PID namespace, chrooted in a throw-away overlay of the
cached trixie root, with the package installed and Keystone and Glance configured.

For each of /usr/share/resource-agents-openstack/crm/openstack-ha.crm and
openstack-ha-clone.crm, on a fresh cluster (new seed CIB, corosync + pacemakerd):
  - the operator's edits, as tests/cluster/test_live_one_node.py makes them: the
    floating IP becomes NET.100 (in eth0's subnet, so IPaddr2 finds the interface), the
    credentials become the test admin's (written to a 0600 file, never on a command
    line), and keystone gets additional_parameters="--processes 2";
  - `crm configure load update FILE` (no -F), as the operator guide tells the operator;
  - wait until crm_mon --output-as=xml (Pacemaker 3.0's schema) shows FloatingIP,
    keystone and glance-api (every clone instance) Started, active, not failed, with no
    failed actions; then crm_verify -L, crm_resource --locate, and Keystone answering on
    the floating IP;
  - graceful stop (SIGTERM pacemakerd: it stops every resource), then corosync; no
    keystone or glance process may be left.
Writes everything it saw to --out (JSON). Exit status 0 only if both snippets passed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
from raolab.lab import operator_edits, read_env_file  # noqa: E402  (stdlib only, no side effects)

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRM_DIR = Path("/usr/share/resource-agents-openstack/crm")
SNIPPETS = ("openstack-ha.crm", "openstack-ha-clone.crm")
EXPECTED = ("FloatingIP", "keystone", "glance-api")
LOGDIR = Path("/var/log/pacemaker")
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.strftime('%T')} +{time.monotonic() - T0:6.1f}s] cluster: {msg}", flush=True)


def env(**extra: str) -> Dict[str, str]:
    return {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "HOME": "/root", **extra}


def run(argv: List[str], timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env(**extra), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------ the node

COROSYNC_CONF = """totem {{
    version: 2
    cluster_name: raotrx
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: 3000
}}
logging {{
    to_stderr: no
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    timestamp: hires
}}
quorum {{
    provider: corosync_votequorum
}}
nodelist {{
    node {{
        name: node1
        nodeid: 1
        ring0_addr: {net}.1
    }}
}}
"""


class Node:
    def __init__(self, net: str) -> None:
        self.net = net
        self.corosync: Optional[subprocess.Popen] = None
        self.pacemakerd: Optional[subprocess.Popen] = None

    def prepare(self) -> None:
        """A node that has never run: corosync.conf, empty state, a seed CIB."""
        Path("/etc/corosync/corosync.conf").write_text(COROSYNC_CONF.format(net=self.net))
        for d in ("/var/lib/pacemaker/cib", "/var/lib/pacemaker/pengine", "/var/lib/corosync",
                  "/var/log/pacemaker", "/var/log/corosync"):
            path = Path(d)
            path.mkdir(parents=True, exist_ok=True)
            for entry in path.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        for d in ("/run/pacemaker", "/run/crm"):
            Path(d).mkdir(parents=True, exist_ok=True)
            shutil.chown(d, "hacluster", "haclient")
        Path("/run/resource-agents").mkdir(mode=0o1755, parents=True, exist_ok=True)
        cib = Path("/var/lib/pacemaker/cib/cib.xml")
        with open(cib, "w") as f:
            subprocess.run(["cibadmin", "--empty"], stdout=f, check=True, env=env(), timeout=30)
        for name, value in (("stonith-enabled", "false"), ("dc-deadtime", "2s")):
            proc = run(["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
                       CIB_file=str(cib))
            assert proc.returncode == 0, proc.stderr
        for path in (cib.parent, Path("/var/lib/pacemaker/pengine"), LOGDIR):
            shutil.chown(path, "hacluster", "haclient")
        shutil.chown(cib, "hacluster", "haclient")
        cib.chmod(0o600)

    def start(self) -> float:
        t0 = time.monotonic()
        out = open("/var/log/corosync/corosync.stdout", "w")
        self.corosync = subprocess.Popen(["corosync", "-f"], env=env(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            if run(["corosync-cfgtool", "-s"], timeout=10).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("corosync did not come up: "
                               + Path("/var/log/corosync/corosync.stdout").read_text()[-2000:])
        # what pacemaker.service would source
        defaults = subprocess.run(["/bin/bash", "-c", "set -a; [ -r /etc/default/pacemaker ] && "
                                   ". /etc/default/pacemaker; env -0"], env=env(), capture_output=True,
                                  check=True, timeout=10).stdout
        penv = dict(item.split("=", 1) for item in defaults.decode().split("\0") if "=" in item)
        penv.update(env(PCMK_logfile=str(LOGDIR / "pacemaker.log")))
        out = open(LOGDIR / "pacemakerd.stdout", "w")
        self.pacemakerd = subprocess.Popen(["/usr/sbin/pacemakerd"], env=penv, stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = crm_mon_xml()
            if status is not None and online(status):
                return time.monotonic() - t0
            if self.pacemakerd.poll() is not None:
                raise RuntimeError(f"pacemakerd exited {self.pacemakerd.returncode}")
            time.sleep(0.3)
        raise RuntimeError("node1 not online with a DC after 90 s")

    def stop(self) -> float:
        """Graceful: pacemakerd stops every resource, then corosync leaves."""
        t0 = time.monotonic()
        if self.pacemakerd and self.pacemakerd.poll() is None:
            self.pacemakerd.send_signal(signal.SIGTERM)
            try:
                self.pacemakerd.wait(timeout=180)
            except subprocess.TimeoutExpired:
                say("pacemakerd did not stop within 180 s: SIGKILL")
                self.pacemakerd.kill()
                self.pacemakerd.wait()
        if self.corosync and self.corosync.poll() is None:
            run(["corosync-cfgtool", "-H", "--force"], timeout=30)
            try:
                self.corosync.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.corosync.kill()
                self.corosync.wait()
        return time.monotonic() - t0


def crm_mon_xml() -> Optional[ET.Element]:
    try:
        proc = run(["crm_mon", "--output-as=xml"], timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if not proc.stdout.strip().startswith("<"):
        return None
    try:
        return ET.fromstring(proc.stdout)
    except ET.ParseError:
        return None


def online(status: ET.Element) -> bool:
    dc = status.find("./summary/current_dc")
    node = status.find("./nodes/node[@name='node1']")
    return (dc is not None and dc.get("present") == "true" and dc.get("name") == "node1"
            and node is not None and node.get("online") == "true")


def resources(status: ET.Element) -> List[Dict[str, object]]:
    """Every primitive (clone instances and group members included), as crm_mon shows it."""
    found = []
    for res in status.iter("resource"):
        found.append({
            "id": res.get("id"),
            "agent": res.get("resource_agent"),
            "role": res.get("role"),
            "active": res.get("active"),
            "failed": res.get("failed"),
            "blocked": res.get("blocked"),
            "nodes": [n.get("name") for n in res.iter("node")],
        })
    return found


def check_level_ops() -> Dict[str, List[str]]:
    """primitive -> OCF_CHECK_LEVEL values of its recurring monitors, from the live CIB."""
    cib = ET.fromstring(run(["cibadmin", "-Q"], timeout=30).stdout)
    levels: Dict[str, List[str]] = {}
    for prim in cib.iter("primitive"):
        if prim.get("provider") != "openstack" or prim.get("type") not in ("keystone", "glance-api"):
            continue   # the services' monitors (database-watch has one depth)
        levels[prim.get("id")] = sorted(
            nv.get("value") for op in prim.iterfind("./operations/op[@name='monitor']")
            for nv in op.iter("nvpair") if nv.get("name") == "OCF_CHECK_LEVEL")
    return levels


def failures(status: ET.Element) -> List[Dict[str, str]]:
    return [dict(f.attrib) for f in status.iterfind("./failures/failure")]


def all_started(res: List[Dict[str, object]]) -> bool:
    if not res:
        return False
    names = {str(r["id"]).split(":")[0] for r in res}
    if not set(EXPECTED) <= names:
        return False
    return all(r["role"] == "Started" and r["active"] == "true" and r["failed"] == "false"
               and r["nodes"] == ["node1"] for r in res)


# ------------------------------------------------------------------ one snippet

def edited_snippet(name: str, vip: str, password: str) -> Path:
    """The installed snippet with what an operator edits, as the live cluster tests and
    the lab make them (raolab.lab.operator_edits), in a root-only file."""
    text = operator_edits((CRM_DIR / name).read_text(), vip, password)
    path = Path("/root") / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def service_processes() -> List[str]:
    proc = run(["ps", "-eo", "pid,user,args"], timeout=10)
    return [line for line in proc.stdout.splitlines()[1:]
            if re.search(r"uwsgi|glance-api|keystone", line) and "ps -eo" not in line]


def keystone_master() -> Optional[int]:
    """The uwsgi master: the uwsgi process whose parent is no uwsgi."""
    proc = run(["ps", "-eo", "pid=,ppid=,comm="], timeout=10)
    rows = [line.split(None, 2) for line in proc.stdout.splitlines() if len(line.split(None, 2)) == 3]
    uwsgi = {int(pid): int(ppid) for pid, ppid, comm in rows if comm.startswith("uwsgi")}
    tops = [pid for pid, ppid in uwsgi.items() if ppid not in uwsgi]
    return tops[0] if len(tops) == 1 else None


def log_count(pattern: str) -> int:
    try:
        text = (LOGDIR / "pacemaker.log").read_text(errors="replace")
    except OSError:
        return 0
    return len(re.findall(pattern, text, flags=re.I))


RELOADED = r"Result of reload(-agent)? operation for keystone on node1: ok"
STARTED = r"Result of start operation for keystone on node1: ok"


def check_reload(change: List[str], timeout: float = 90) -> Dict[str, object]:
    """Change one keystone parameter; report whether Pacemaker reloaded or restarted it."""
    master = keystone_master()
    reloads, starts = log_count(RELOADED), log_count(STARTED)
    proc = run(change, timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and log_count(RELOADED) == reloads and log_count(STARTED) == starts:
        time.sleep(0.5)
    time.sleep(2)   # a restart right after a reload would show by now
    return {"change": " ".join(change), "rc": proc.returncode, "master_before": master,
            "master_after": keystone_master(), "reloads": log_count(RELOADED) - reloads,
            "starts": log_count(STARTED) - starts}


def check_snippet(name: str, net: str, password: str) -> Dict[str, object]:
    vip = f"{net}.100"
    result: Dict[str, object] = {"snippet": name, "vip": vip, "ok": False}
    node = Node(net)
    try:
        node.prepare()
        result["seconds_online"] = round(node.start(), 2)
        say(f"{name}: node1 online with a DC after {result['seconds_online']}s")
        path = edited_snippet(name, vip, password)
        t0 = time.monotonic()
        load = run(["crm", "configure", "load", "update", str(path)], timeout=180)
        result["load_rc"] = load.returncode
        result["load_output"] = (load.stdout + load.stderr)[-4000:].replace(password, "***")
        result["seconds_load"] = round(time.monotonic() - t0, 2)
        say(f"{name}: crm configure load update rc={load.returncode} in {result['seconds_load']}s"
            + (f": {result['load_output'].strip()}" if result["load_output"].strip() else ""))
        if load.returncode != 0:
            return result
        deadline = time.monotonic() + 240
        status = None
        while time.monotonic() < deadline:
            status = crm_mon_xml()
            if status is not None and (all_started(resources(status)) or failures(status)):
                break
            time.sleep(0.5)
        result["seconds_started"] = round(time.monotonic() - t0, 2)
        result["resources"] = resources(status) if status is not None else []
        result["failures"] = failures(status) if status is not None else []
        result["all_started"] = status is not None and all_started(result["resources"]) \
            and not result["failures"]
        result["crm_mon"] = run(["crm_mon", "-1"], timeout=30).stdout
        say(f"{name}: all Started = {result['all_started']} after {result['seconds_started']}s\n"
            + str(result["crm_mon"]))
        # a few seconds of monitors (depth 0 every 10 s) must not fail either
        time.sleep(float(os.environ.get("RAO_TRIXIE_SETTLE", "12")))
        status = crm_mon_xml()
        result["failures_after_settle"] = failures(status) if status is not None else ["no crm_mon"]
        result["still_started"] = status is not None and all_started(resources(status))
        verify = run(["crm_verify", "-L", "-V"], timeout=60)
        result["crm_verify_rc"] = verify.returncode
        result["crm_verify_output"] = (verify.stdout + verify.stderr)[-2000:]
        result["locate"] = {r: run(["crm_resource", "--locate", "-r", r], timeout=30).stdout.strip()
                            for r in ("FloatingIP", "keystone", "glance-api")}
        # the snippet's depth-10 monitors reached the CIB (crmsh 5 -> Pacemaker 3.0 schema) ...
        result["check_level_ops"] = check_level_ops()
        # ... and the credentials in it work: the agents' depth-10 check, run by Pacemaker's
        # own tool with the resource's CIB parameters (the 60 s monitor would not run
        # within this test's time)
        result["force_check_10"] = {}
        for rsc in ("keystone", "glance-api"):
            check = run(["crm_resource", "--force-check=10", "-r", rsc], timeout=120)
            result["force_check_10"][rsc] = check.returncode
            if check.returncode != 0:
                result["force_check_10_output"] = (check.stdout + check.stderr)[-2000:].replace(password, "***")
        if name == "openstack-ha.crm":
            # Pacemaker 3.0 and the OCF 1.0 ("legacy") reload: a monitoring-only parameter
            # reloads, the service keeps its PID; a unique one restarts it
            result["reload"] = check_reload(["crm_resource", "-r", "keystone", "-p", "http_timeout", "-v", "9"])
            result["restart"] = check_reload(["crm_resource", "-r", "keystone", "-p", "additional_parameters",
                                              "--parameter-value=--processes 1"])
            say(f"{name}: reload {result['reload']}; restart {result['restart']}")
        show = run(["crm", "configure", "show"], timeout=60)
        result["crm_show_rc"] = show.returncode
        result["crm_show_warnings"] = [l for l in show.stderr.splitlines() if l.strip()]
        try:
            with urllib.request.urlopen(f"http://{vip}:5000/v3", timeout=10) as resp:
                result["vip_keystone_http"] = resp.status
        except Exception as exc:  # noqa: BLE001 -- recorded, asserted below
            result["vip_keystone_http"] = repr(exc)
        result["ok"] = bool(result["all_started"] and result["still_started"]
                            and not result["failures_after_settle"] and verify.returncode == 0
                            and result["vip_keystone_http"] == 200
                            and result["check_level_ops"] == {"keystone": ["10"], "glance-api": ["10"]}
                            and result["force_check_10"] == {"keystone": 0, "glance-api": 0})
        return result
    except Exception as exc:  # noqa: BLE001 -- any error is this snippet's failure, recorded
        result["error"] = repr(exc)
        say(f"{name}: ERROR {exc!r}")
        return result
    finally:
        result["seconds_stop"] = round(node.stop(), 2)
        left = service_processes()
        result["left_after_stop"] = left
        if left:
            result["ok"] = False
        say(f"{name}: cluster stopped in {result['seconds_stop']}s; service processes left: {left or 'none'}")
        keep = Path(os.environ.get("RAO_TRIXIE_OUT", "/leg-out")) / f"cluster-{name}"
        try:
            keep.mkdir(parents=True, exist_ok=True)
            for log in ("/var/log/pacemaker/pacemaker.log", "/var/log/corosync/corosync.log"):
                if os.path.exists(log):
                    shutil.copy(log, keep / os.path.basename(log))
        except OSError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--net", default="10.98.0")
    args = parser.parse_args()
    password = read_env_file()["OS_ADMIN_PASSWORD"]
    if service_processes():
        say("keystone or glance already running before the cluster starts: " + str(service_processes()))
    report = {"snippets": {}}
    for name in SNIPPETS:
        report["snippets"][name] = check_snippet(name, args.net, password)
    report["ok"] = all(r["ok"] for r in report["snippets"].values())
    text = json.dumps(report, indent=2)
    assert password not in text
    Path(args.out).write_text(text)
    say("result: " + ", ".join(f"{n}={'ok' if r['ok'] else 'FAILED'}" for n, r in report["snippets"].items()))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
