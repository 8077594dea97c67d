"""A real one-node Pacemaker + Corosync cluster runs the installed agents and snippet.

The node lives in network, mount, UTS, IPC and PID namespaces of its own (see
pcmk-harness.sh), with the subnet 10.231.0.0/24 that exists only there. It loads the
installed crm/openstack-ha.crm with `crm configure load update` (no -F). Only the
values an operator edits are changed: the floating IP, the credentials, and Keystone's
process count. Then the test checks the resources, the services, the floating IP from a
client namespace, and a graceful stop. Keystone and Glance use the host's configuration
and a copy of its MariaDB databases on the cluster's database node (tests/setup/openstack-setup.sh).
"""

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from pcmk_common import INSTALLED_CRM, REPO, REPO_CRM
from pcmk_live import (VIP, Harness, failures, grep_lines, log, node_processes, operation_history,
                       resource_states, start_time, still_alive)
from raolab.lab import KEYSTONE_EXTRA, operator_edits, read_env_file

RESOURCES = ("FloatingIP", "keystone", "glance-api")
SERVICE_PROCS = r"uwsgi|keystone|glance"
ENV_FILE = REPO / "tests" / "setup" / "openstack.env"
START_TIMEOUT = 150      # both services take 3-5 s; allow for a loaded CI machine
DEPTH10_TIMEOUT = 60


def snippet_path(name: str = "openstack-ha.crm") -> Path:
    """The installed snippet (what users load); the repository's if the package is absent.
    RAO_CRM_DIR chooses another directory (as in the offline tests)."""
    if os.environ.get("RAO_CRM_DIR"):
        return Path(os.environ["RAO_CRM_DIR"]) / name
    installed = INSTALLED_CRM / name
    return installed if installed.is_file() else REPO_CRM / name


@pytest.fixture(scope="module")
def openstack_env():
    if not ENV_FILE.is_file():
        pytest.fail(f"{ENV_FILE} is missing", pytrace=False)
    missing = [p for p in ("/var/lib/resource-agents-openstack-tests/setup-done",
                           "/etc/keystone/fernet-keys") if not os.path.exists(p)]
    if missing:
        pytest.fail(f"Keystone/Glance are not set up ({', '.join(missing)} missing): "
                    "run sh tests/setup/openstack-setup.sh first", pytrace=False)
    return read_env_file(ENV_FILE)


@contextlib.contextmanager
def running_cluster(request, harness: Optional[Harness] = None) -> Iterator[Harness]:
    """A started one-node cluster; diagnostics if a test failed; nothing left behind."""
    harness = harness or Harness()
    failed_before = request.session.testsfailed
    try:
        harness.start()
        yield harness
    finally:
        if request.session.testsfailed != failed_before:
            dump_diagnostics(harness)
        harness.close()
        left = harness.netns_left()
        assert not left, f"namespaces left behind: {left}"
        assert harness.init_pid() is None, "the node's init is still running"


@pytest.fixture(scope="module")
def cluster(request, installed_agents, openstack_env):
    with running_cluster(request) as harness:
        yield harness


def load_snippet(harness: Harness, settings: Dict[str, str], name: str = "openstack-ha.crm") -> None:
    """The snippet with only the operator's edits, loaded as the operator guide says (no -F)."""
    source = snippet_path(name)
    log(f"snippet: {source} ({'installed' if source.is_relative_to(INSTALLED_CRM) else 'not the installed one'})")
    live = harness.base / "openstack-ha.live.crm"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds the password
    with os.fdopen(fd, "w") as f:
        f.write(operator_edits(source.read_text(), VIP, settings["OS_ADMIN_PASSWORD"]))
    t0 = time.monotonic()
    proc = harness.node("crm", "configure", "load", "update", str(live), check=False)
    assert proc.returncode == 0, f"crm configure load update failed:\n{proc.stdout}\n{proc.stderr}"
    log(f"crm configure load update: ok in {time.monotonic() - t0:.1f}s")


def dump_diagnostics(harness: Harness) -> None:
    log("test failed: diagnostics follow")
    if harness.init_pid():
        proc = harness.node("crm_mon", "-1", "-o", "--include=failures", check=False)
        print(proc.stdout, proc.stderr, flush=True)
    lines = grep_lines(harness.pacemaker_log(),
                       [r"Result of \w+ operation for (keystone|glance-api|FloatingIP)", r"ocf-exit-reason"])
    print("\n".join(line[:400] for line in lines[-60:]), flush=True)


def wait_started(harness: Harness, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        mon = harness.crm_mon()
        states = resource_states(mon)
        fails = failures(mon)
        done = all(states.get(r, {}).get("role") == "Started" and states[r]["active"] == "true"
                   and states[r]["failed"] == "false" for r in RESOURCES)
        if done:
            return states
        assert not fails, f"failed actions while starting: {fails}"
        if time.monotonic() - last_report >= 3:
            log("waiting for Started: " + ", ".join(
                f"{r}={states.get(r, {}).get('role', 'absent')}" for r in RESOURCES))
            last_report = time.monotonic()
        assert time.monotonic() < deadline, f"not all Started after {timeout}s: {states}"
        time.sleep(0.5)


def wait_depth10_monitors(harness: Harness, timeout: float) -> None:
    """Both authenticated monitors (OCF_CHECK_LEVEL=10, the longer interval) ran and passed."""
    deadline = time.monotonic() + timeout
    while True:
        mon = harness.crm_mon()
        assert not failures(mon), f"failed actions: {failures(mon)}"
        pending = []
        for rsc in ("keystone", "glance-api"):
            ops = operation_history(mon, rsc)
            intervals = sorted({op.get("interval") for op in ops if op.get("task") == "monitor"
                                and op.get("interval") not in (None, "0ms")},
                               key=lambda i: int(i.rstrip("ms")))
            if len(intervals) < 2:
                pending.append(rsc)
                continue
            deep = [op for op in ops if op.get("task") == "monitor" and op.get("interval") == intervals[-1]]
            if any(op.get("rc") == "193" for op in deep):   # 193: still running
                pending.append(rsc)
                continue
            assert deep and all(op.get("rc") == "0" for op in deep), f"{rsc} depth-10 monitor: {deep}"
        if not pending:
            return
        assert time.monotonic() < deadline, f"depth-10 monitors of {pending} never ran"
        time.sleep(0.5)


def http_status(harness: Harness, where: str, url: str) -> tuple:
    run = harness.node if where == "node" else harness.client
    proc = run("curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", url, check=False)
    body, _, code = proc.stdout.rpartition("\n")
    return code, body


def test_one_node_cluster_runs_keystone_and_glance(cluster: Harness, openstack_env):
    t_start = time.monotonic()

    # ---- the snippet, as an operator would adapt it
    load_snippet(cluster, openstack_env)
    t0 = time.monotonic()

    # ---- all three Started on node1
    states = wait_started(cluster, START_TIMEOUT)
    log(f"all Started {time.monotonic() - t0:.1f}s after the load: {states}")
    assert {states[r]["node"] for r in RESOURCES} == {"node1"}
    wait_depth10_monitors(cluster, DEPTH10_TIMEOUT)
    log("depth-0 and depth-10 monitors of keystone and glance-api passed")

    # ---- the services answer inside the node
    for port in (5000, 9292):
        code, body = http_status(cluster, "node", f"http://127.0.0.1:{port}/healthcheck")
        assert code == "200", f"port {port} /healthcheck from the node: HTTP {code} {body[:200]}"
    log("GET 127.0.0.1:5000/healthcheck and :9292/healthcheck on node1: 200")

    # ---- the floating IP answers from the client namespace (keystone binds :5000)
    code, body = http_status(cluster, "client", f"http://{VIP}:5000/v3")
    assert code == "200", f"http://{VIP}:5000/v3 from the client: HTTP {code} {body[:200]}"
    assert json.loads(body)["version"]["id"].startswith("v3")
    code, _ = http_status(cluster, "client", f"http://{VIP}:5000/healthcheck")
    assert code == "200"
    log(f"GET http://{VIP}:5000/v3 from the client namespace: 200")

    # the keystone process count came through additional_parameters
    init = cluster.init_pid()
    assert init, "node1's init is gone"
    procs = node_processes(init, SERVICE_PROCS)
    uwsgi = [c for c in procs.values() if "uwsgi" in c]
    glance = [c for c in procs.values() if "glance-api" in c]
    assert uwsgi and all(KEYSTONE_EXTRA in c for c in uwsgi), uwsgi
    assert len(uwsgi) == 3, f"uwsgi master + 2 workers expected: {uwsgi}"
    assert glance, f"no glance-api process on the node: {procs}"
    log(f"node1 runs {len(uwsgi)} uwsgi and {len(glance)} glance-api processes")
    started = {pid: start_time(pid) for pid in procs}

    # ---- graceful stop: Pacemaker stops every resource, nothing of the services is left
    t0 = time.monotonic()
    proc = cluster.stop_node()
    assert proc.returncode == 0, "graceful stop of node1 failed or timed out"
    log(f"node1 stopped gracefully in {time.monotonic() - t0:.1f}s")
    pcmk_log = cluster.pacemaker_log()
    for rsc in RESOURCES:
        assert re.search(rf"Result of stop operation for {re.escape(rsc)} on node1: ok", pcmk_log), \
            f"no successful stop of {rsc} in pacemaker.log"
    snapshot = (cluster.node_dir / "after-pacemaker.ps").read_text()
    leftovers = [line for line in snapshot.splitlines()[1:] if re.search(SERVICE_PROCS, line)]
    assert not leftovers, f"processes left on node1 after Pacemaker stopped: {leftovers}"
    assert not still_alive(procs, started), f"service processes still alive: {still_alive(procs, started)}"
    log("no keystone/glance process left on node1")

    # informational: did Keystone and Glance really start in parallel?
    times = {}
    for m in re.finditer(r"^(\w+ \d+ [\d:.]+) .*(Initiating|Result of) start operation (?:for )?"
                         r"(keystone|glance-api)", pcmk_log, re.M):
        times.setdefault((m.group(3), m.group(2)), m.group(1))
    log(f"start timeline from pacemaker.log: {times}")
    log(f"live test body took {time.monotonic() - t_start:.1f}s")
