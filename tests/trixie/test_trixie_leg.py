"""Debian 13 (trixie) as a first-class target: the whole leg, run from this host
(legrun: in the background while the lab drills run, when the session has both).

tests/trixie/run-leg.sh builds or reuses a cached trixie root (bootstrap.sh), and in
its own mount, network and PID namespaces, chrooted in a throw-away overlay of that root:
builds the .deb with trixie's debhelper, runs trixie's lintian, installs the package,
configures trixie's Keystone and Glance with tests/setup/openstack-setup.sh, runs
tests/packaging and the offline crm_simulate tests against that package, and
tests/integration (ocf-tester included) with trixie's pytest, and loads both installed
crm snippets into a one-node Pacemaker 3.0 cluster with crmsh 5. The leg runs once per
session (module fixture); each test below asserts on one of its results.

Needs root and, for the first run on a machine, the Debian mirror (about 4 minutes
more). RAO_TRIXIE=0 skips the leg; RAO_TRIXIE_TIMEOUT (s, default 2400) bounds it.
"""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Optional

import pytest

import legrun
from legrun import Leg

SNIPPETS = ("openstack-ha.crm", "openstack-ha-clone.crm")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SUMMARY_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


@pytest.fixture(scope="module")
def leg(tmp_path_factory) -> Leg:
    if os.environ.get("RAO_TRIXIE") == "0":
        pytest.skip("RAO_TRIXIE=0: the trixie leg is switched off")
    if os.geteuid() != 0:
        pytest.skip("the trixie leg needs root (debootstrap, namespaces, chroot)")
    result = legrun.result(tmp_path_factory.mktemp("trixie-leg"))
    print(f"\ntrixie leg: rc={result.rc} in {result.seconds:.0f}s; steps {result.steps}; results in {result.out}")
    return result


# ---------------------------------------------------------------- the leg as a whole

def test_leg_runs_and_leaves_nothing_behind(leg: Leg) -> None:
    assert "run-leg: teardown: processes left 0, mounts left 0" in leg.log, leg.tail()
    # nothing of the leg on the host: no mounts, no chroot processes, no work dir
    mounts = [line for line in Path("/proc/mounts").read_text().splitlines() if "raotrx-work." in line]
    assert mounts == []
    rooted = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if "raotrx-work." in os.readlink(proc / "root"):
                    rooted.append(proc.name)
            except OSError:
                pass
    assert rooted == []


def test_it_really_is_trixie(leg: Leg) -> None:
    versions = leg.file("versions.txt")
    assert re.search(r"^debian_version: 13\.", versions, re.M), versions or leg.tail()
    assert re.search(r"^python 3\.13\.", versions, re.M), versions
    assert re.search(r"^pacemaker 3\.", versions, re.M), versions
    assert re.search(r"^crmsh 5\.", versions, re.M), versions


# ---------------------------------------------------------------- build, lintian, install

def test_deb_builds_with_trixies_debhelper(leg: Leg) -> None:
    leg.step_ok("build")
    debs = list((leg.out / "deb").glob("resource-agents-openstack_*_all.deb"))
    assert len(debs) == 1, debs
    # dh_auto_test ran tests/unit under Python 3.13
    build_log = leg.file("deb/build.log")
    assert re.search(r"\d+ passed", build_log), "no unit test summary in the trixie build log"


def _host_lintian_tags(leg: Leg) -> Optional[set]:
    """Tags the host's (bookworm's) lintian gives the same trixie-built .changes."""
    changes = sorted((leg.out / "deb").glob("*.changes"))
    if not changes or not shutil.which("lintian", path=CLEAN_PATH):
        return None
    proc = subprocess.run(["lintian", "-I", "--pedantic", str(changes[0])], capture_output=True, text=True,
                          timeout=600, env={"PATH": CLEAN_PATH, "LANG": "C.UTF-8"})
    return {" ".join(line.split()[:3]) for line in proc.stdout.splitlines() if line.strip()}


# Tags that no one source package can avoid on both bookworm's and trixie's lintian;
# leg-inner.sh's LINTIAN_ALLOWED must say the same (NOTES.md has the reasoning).
LINTIAN_ALLOWED = {"out-of-date-standards-version"}


def test_lintian_on_trixie_is_clean(leg: Leg) -> None:
    leg.step_ok("build")
    tags = [line for line in leg.file("lintian.txt").splitlines() if line.strip()]
    unexpected = [line for line in leg.file("lintian-unexpected.txt").splitlines() if line.strip()]
    allowed = [t for t in tags if t not in unexpected]
    if allowed:
        print("trixie lintian, allowed:\n" + "\n".join(allowed))
    assert all(any(f" {tag} " in f"{t} " for tag in LINTIAN_ALLOWED) for t in allowed), allowed
    if unexpected or leg.steps.get("lintian") != "0":
        host = _host_lintian_tags(leg)
        new = [t for t in unexpected if host is not None and " ".join(t.split()[:3]) not in host]
        pytest.fail(f"trixie's lintian -I --pedantic (step rc {leg.steps.get('lintian')}):\n"
                    + "\n".join(unexpected) + "\n--- of these, not reported by this host's lintian: "
                    + ("(host lintian not available)" if host is None else "\n".join(new) or "none")
                    + "\n--- lintian.log\n" + leg.file("lintian.log")[-3000:], pytrace=False)


def test_package_installs_on_trixie(leg: Leg) -> None:
    leg.step_ok("install")
    assert re.search(r"^ii\s+resource-agents-openstack ", leg.file("install.log"), re.M), leg.file("install.log")


# ---------------------------------------------------------------- services and integration tests

def test_openstack_setup_works_on_trixie(leg: Leg) -> None:
    leg.step_ok("openstack-setup")
    assert "openstack-setup: ready" in leg.file("openstack-setup.log")


def _junit_cases(leg: Leg, name: str = "integration.xml") -> Dict[str, str]:
    """test id -> passed / failure / error / skipped, from an inner run's JUnit XML."""
    text = leg.file(name)
    if not text:
        return {}
    cases = {}
    for case in ET.fromstring(text).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
        cases[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return cases


def _assert_inner_run(leg: Leg, step: str, what: str, summary_file: str, junit: str) -> None:
    """The inner pytest's outcome line says 0 failed, 0 errors and some passed."""
    summary = leg.file(summary_file).strip()
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
              for n, kind in SUMMARY_RE.findall(summary)}
    bad = [f"{name}: {outcome}" for name, outcome in _junit_cases(leg, junit).items()
           if outcome in ("failure", "error")]
    message = (f"inner pytest (trixie, {what}): {summary or 'no summary line'}\n"
               + "\n".join(bad) + f"\n--- {step}.log (end)\n"
               + "\n".join(leg.file(f"{step}.log").splitlines()[-60:]))
    assert summary, message
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, message
    assert counts.get("passed", 0) > 0, message
    leg.step_ok(step)


def test_integration_suite_passes_on_trixie(leg: Leg) -> None:
    _assert_inner_run(leg, "pytest", "tests/integration", "pytest-summary.txt", "integration.xml")


def test_packaging_and_offline_cluster_suites_pass_on_trixie(leg: Leg) -> None:
    if leg.steps.get("suites") == "skipped" and os.environ.get("RAO_TRIXIE_MORE_SUITES", "default") == "":
        pytest.skip("RAO_TRIXIE_MORE_SUITES is empty")
    _assert_inner_run(leg, "suites", "tests/packaging tests/cluster/test_offline_sim.py", "suites-summary.txt",
                      "suites.xml")


@pytest.mark.parametrize("agent", ["keystone", "glance"])
def test_ocf_tester_passes_on_trixie(leg: Leg, agent: str) -> None:
    cases = _junit_cases(leg)
    name = next((n for n in cases if n.endswith(f"test_ocf_tester_passes[{agent}]")), None)
    assert name, f"the inner run has no ocf-tester test for {agent}: {sorted(cases)[:40]}"
    assert cases[name] == "passed", f"{name}: {cases[name]}\n" + "\n".join(
        leg.file("pytest.log").splitlines()[-60:])


# ---------------------------------------------------------------- the crm snippets in Pacemaker 3.0

@pytest.fixture(scope="module")
def cluster(leg: Leg) -> Dict:
    text = leg.file("cluster.json")
    assert text, f"no cluster.json (cluster step: {leg.steps.get('cluster', 'never ran')})\n" \
        + leg.file("cluster.log")[-3000:] + "\n" + leg.tail(30)
    return json.loads(text)


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_snippet_loads_and_every_resource_starts(cluster: Dict, snippet: str) -> None:
    r = cluster["snippets"][snippet]
    about = (f"{snippet}: {json.dumps({k: v for k, v in r.items() if k != 'crm_mon'}, indent=1)[:4000]}\n"
             f"--- crm_mon -1\n{r.get('crm_mon', '')}")
    assert r.get("load_rc") == 0, about
    assert r.get("all_started"), about
    ids = {res["id"].split(":")[0] for res in r["resources"]}
    assert ids == {"FloatingIP", "keystone", "glance-api", "database-watch", "keys-watch"}, about
    assert all(res["role"] == "Started" and res["nodes"] == ["node1"] for res in r["resources"]), about
    assert r.get("failures") == [] and r.get("failures_after_settle") == [], about
    assert r.get("still_started"), about
    assert r.get("crm_verify_rc") == 0, about
    assert r.get("vip_keystone_http") == 200, about
    # the depth-10 monitors reached the CIB, and their credentials work (crm_resource --force-check=10)
    assert r.get("check_level_ops") == {"keystone": ["10"], "glance-api": ["10"]}, about
    assert r.get("force_check_10") == {"keystone": 0, "glance-api": 0}, about
    assert r.get("left_after_stop") == [], about
    # crmsh 5 read the live CIB (with the systemctl shim; without it: "Cluster is not running,
    # loading the CIB file from /var/lib/pacemaker/cib/cib.xml")
    assert r.get("crm_show_rc") == 0 and r.get("crm_show_warnings") == [], about
    assert r.get("ok"), about


def test_reload_without_restart_on_pacemaker_3(cluster: Dict) -> None:
    """A monitoring-only parameter reloads the agent on Pacemaker 3.0 (OCF 1.0 legacy reload):
    the keystone master keeps its PID; a unique parameter restarts it."""
    r = cluster["snippets"]["openstack-ha.crm"]
    reload, restart = r.get("reload"), r.get("restart")
    assert reload and restart, f"no reload check in cluster.json: {sorted(r)}"
    assert reload["rc"] == 0 and reload["reloads"] == 1 and reload["starts"] == 0, reload
    assert reload["master_before"] and reload["master_after"] == reload["master_before"], reload
    assert restart["rc"] == 0 and restart["starts"] == 1 and restart["reloads"] == 0, restart
    assert restart["master_after"] and restart["master_after"] != restart["master_before"], restart


def test_leg_exit_status(leg: Leg) -> None:
    assert leg.rc == 0, f"run-leg.sh exited {leg.rc}; steps {leg.steps}\n{leg.tail()}"
