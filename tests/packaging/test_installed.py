"""The package as a user gets it: installed with apt-get, agents run from their OCF path."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict

import pytest

from packaging_helpers import (AGENTS, DTD, PKG, RA_DIR, changelog_version, describe, package_version,
                               run)

OCF_ENV = {"OCF_ROOT": "/usr/lib/ocf"}


def test_dpkg_status(installed: Path) -> None:
    proc = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", PKG])
    assert proc.stdout.split("|") == ["ii ", changelog_version()], describe(proc)
    for agent in AGENTS:
        owner = run(["dpkg-query", "-S", str(RA_DIR / agent)])
        assert owner.stdout.startswith(PKG + ":"), describe(owner)


def test_debian_python_imports_installed_package(installed: Path) -> None:
    proc = run(["/usr/bin/python3", "-c",
                "import ocf_openstack as m; print(m.__file__); print(m.__version__)"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.split() == ["/usr/lib/python3/dist-packages/ocf_openstack/__init__.py",
                                   package_version()]


@pytest.fixture(scope="module")
def metadata(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """meta-data of each agent, run as nobody from / (what ocf-tester does)."""
    out = tmp_path_factory.mktemp("metadata")
    files = {}
    for agent in AGENTS:
        proc = run(["su", "nobody", "-s", "/bin/sh", "-c", f"cd / && exec {RA_DIR / agent} meta-data"])
        assert proc.returncode == 0, describe(proc)
        assert "Traceback" not in proc.stderr, describe(proc)
        files[agent] = out / f"{agent}.xml"
        files[agent].write_text(proc.stdout)
    return files


@pytest.mark.parametrize("agent", AGENTS)
def test_metadata_valid(metadata: Dict[str, Path], agent: str) -> None:
    proc = run(["xmllint", "--noout", "--dtdvalid", str(DTD), str(metadata[agent])])
    assert proc.returncode == 0, describe(proc)
    root = ET.parse(metadata[agent]).getroot()
    assert root.get("name") == agent
    assert root.get("version") == package_version()
    params = {p.get("name") for p in root.iter("parameter")}
    assert {"url", "os_password", "os_username", "os_project_name", "binary", "config"} <= params
    actions = {a.get("name") for a in root.iter("action")}
    assert {"start", "stop", "monitor", "validate-all", "meta-data"} <= actions


@pytest.mark.parametrize("agent", AGENTS)
def test_crm_ra_info(installed: Path, agent: str) -> None:
    proc = run(["crm", "ra", "info", f"ocf:openstack:{agent}"], timeout=60)
    assert proc.returncode == 0, describe(proc)
    # crmsh 4.4 (Debian 12): "<shortdesc> (ocf:openstack:NAME)"; crmsh 5 (Debian 13):
    # "ocf:openstack:NAME - <shortdesc>"
    assert (f"(ocf:openstack:{agent})" in proc.stdout
            or proc.stdout.startswith(f"ocf:openstack:{agent} - ")), proc.stdout[:300]
    for param in ("os_password", "url", "os_username", "binary"):
        assert f"\n{param} (" in proc.stdout, param


@pytest.mark.parametrize("agent", AGENTS)
def test_validate_all(installed: Path, agent: str) -> None:
    proc = run([str(RA_DIR / agent), "validate-all"],
               env={**OCF_ENV, "OCF_RESOURCE_INSTANCE": f"pkgtest-{agent}"})
    assert "Traceback" not in proc.stdout + proc.stderr, describe(proc)
    assert "internal error" not in proc.stderr, describe(proc)
    # 0 with the service installed and configured, 5 without it, 2 when this host is off.
    assert proc.returncode in (0, 2, 5), describe(proc)


@pytest.mark.parametrize("agent", AGENTS)
def test_validate_all_missing_binary(installed: Path, agent: str) -> None:
    proc = run([str(RA_DIR / agent), "validate-all"],
               env={**OCF_ENV, "OCF_RESOURCE_INSTANCE": f"pkgtest-{agent}",
                    "OCF_RESKEY_binary": "/nonexistent/daemon"})
    assert proc.returncode == 5, describe(proc)
    assert "ocf-exit-reason:" in proc.stderr and "binary" in proc.stderr, describe(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, describe(proc)


@pytest.mark.parametrize("watcher, params", [("database-watch", ("configs", "attribute", "probe_timeout")),
                                             ("keys-watch", ("config", "issuer", "attribute", "grace")),
                                             ("agent-check", ("address", "port", "database_attribute",
                                                              "keys_attribute", "interval"))])
def test_watcher_installed(installed: Path, tmp_path: Path, watcher: str, params) -> None:
    """The watchers: executable, meta-data valid as nobody, known to crmsh."""
    path = RA_DIR / watcher
    assert os.access(path, os.X_OK), path
    proc = run(["su", "nobody", "-s", "/bin/sh", "-c", f"cd / && exec {path} meta-data"])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, describe(proc)
    xml = tmp_path / f"{watcher}.xml"
    xml.write_text(proc.stdout)
    valid = run(["xmllint", "--noout", "--dtdvalid", str(DTD), str(xml)])
    assert valid.returncode == 0, describe(valid)
    info = run(["crm", "ra", "info", f"ocf:openstack:{watcher}"], timeout=60)
    assert info.returncode == 0, describe(info)
    for param in params:
        assert f"\n{param} (" in info.stdout, param
