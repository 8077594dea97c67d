"""The built artefacts: versions, lintian, the .deb's files and control fields, the source."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from packaging_helpers import (AGENTS, PKG, ROOT, Build, changelog_version, describe, package_version, run,
                      setup_cfg_version)

DIST = "./usr/lib/python3/dist-packages"


def test_versions_agree() -> None:
    assert changelog_version() == setup_cfg_version() == package_version()


def test_lintian_reports_nothing(build: Build) -> None:
    # The .changes covers the .dsc, the source tarball and the .deb.
    target = build.changes or build.deb
    # Debian 13's lintian wants Standards-Version 4.7.2, which Debian 12's calls newer than it
    # knows: one package for both keeps 4.6.2, and bookworm never emits this tag for it.
    proc = run(["lintian", "-I", "--pedantic", "--suppress-tags", "out-of-date-standards-version",
                str(target)], timeout=300)
    # stderr only carries "running with root privileges is not recommended!".
    assert proc.returncode == 0 and proc.stdout.strip() == "", describe(proc)


@pytest.fixture(scope="module")
def contents(build: Build) -> Dict[str, str]:
    """Path -> permission string of every entry in the .deb."""
    proc = run(["dpkg-deb", "-c", str(build.deb)])
    assert proc.returncode == 0, describe(proc)
    entries = {}
    for line in proc.stdout.splitlines():
        fields = line.split(None, 5)
        entries[fields[5].split(" -> ")[0]] = fields[0]
    return entries


@pytest.mark.parametrize("agent", AGENTS)
def test_agent_installed_executable(contents: Dict[str, str], agent: str) -> None:
    assert contents.get(f"./usr/lib/ocf/resource.d/openstack/{agent}") == "-rwxr-xr-x"


def test_python_package_complete(contents: Dict[str, str]) -> None:
    """Every module of every room (sub-package) ships, and nothing else."""
    source = ROOT / "agents/ocf_openstack"
    modules = sorted(str(p.relative_to(source)) for p in source.rglob("*.py"))
    assert "__init__.py" in modules and "engine/actions.py" in modules
    shipped = sorted(p[len(DIST) + len("/ocf_openstack/"):] for p in contents
                     if re.fullmatch(re.escape(DIST) + r"/ocf_openstack/.+\.py", p))
    assert shipped == modules
    for module in modules:
        assert contents[f"{DIST}/ocf_openstack/{module}"] == "-rw-r--r--"


def test_no_stray_python_packages(contents: Dict[str, str]) -> None:
    top = {p[len(DIST) + 1:].split("/")[0] for p in contents if p.startswith(DIST + "/")}
    top = {name for name in top if name and not name.endswith(".dist-info")}
    assert top == {"ocf_openstack"}, "never a top-level agents or tests package"
    # Only Debian's python3 path: no versioned dist-packages, no /usr/local, no .pyc.
    assert not [p for p in contents if re.match(r"\./usr/lib/python3\.\d+/|\./usr/local/", p)]
    assert not [p for p in contents if p.endswith(".pyc") or "__pycache__" in p]


def test_crm_snippets(contents: Dict[str, str]) -> None:
    snippets = sorted(p.name for p in (ROOT / "crm").glob("*.crm"))
    assert "openstack-ha.crm" in snippets
    shipped = sorted(Path(p).name for p in contents
                     if p.startswith("./usr/share/resource-agents-openstack/crm/") and p.endswith(".crm"))
    assert shipped == snippets
    for name in snippets:
        assert contents[f"./usr/share/resource-agents-openstack/crm/{name}"] == "-rw-r--r--"


def test_docs(contents: Dict[str, str]) -> None:
    doc = f"./usr/share/doc/{PKG}/"
    for name in ("copyright", "changelog.gz"):
        assert doc + name in contents
    # dh_compress gzips documents larger than 4 kB (policy 12.3).
    assert doc + "README.md" in contents or doc + "README.md.gz" in contents


def test_shebangs(build: Build, tmp_path: Path) -> None:
    proc = run(["dpkg-deb", "-x", str(build.deb), str(tmp_path)])
    assert proc.returncode == 0, describe(proc)
    for agent in AGENTS:
        first = (tmp_path / "usr/lib/ocf/resource.d/openstack" / agent).read_text().splitlines()[0]
        assert first == "#!/usr/bin/python3", agent


@pytest.fixture(scope="module")
def control(build: Build) -> Dict[str, str]:
    fields = ("Package", "Version", "Architecture", "Section", "Priority", "Depends",
              "Recommends", "Conflicts", "Replaces", "Maintainer")
    proc = run(["dpkg-deb", "-f", str(build.deb), *fields])
    assert proc.returncode == 0, describe(proc)
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)


def _relations(field: str) -> set:
    """Alternatives groups of a relation field, without version constraints."""
    groups = set()
    for group in field.split(","):
        names = [re.sub(r"\s*\(.*?\)|:any", "", alt).strip() for alt in group.split("|")]
        groups.add(" | ".join(names))
    return groups


def test_control_fields(control: Dict[str, str]) -> None:
    assert control["Package"] == PKG
    assert control["Version"] == changelog_version()
    assert control["Architecture"] == "all"
    assert control["Section"] == "admin"
    assert control["Priority"] == "optional"
    assert "${" not in "".join(control.values()), "unsubstituted variable"


def test_depends(control: Dict[str, str]) -> None:
    depends = _relations(control["Depends"])
    # python3 comes from ${python3:Depends}: proof that dh_python3 ran.
    assert depends == {"resource-agents", "python3-keystoneauth1", "python3-keystoneclient",
                       "python3-glanceclient", "python3-requests", "python3-pymysql", "python3"}


def test_recommends_conflicts_replaces(control: Dict[str, str]) -> None:
    assert _relations(control["Recommends"]) == {"pacemaker", "crmsh | pcs"}
    assert _relations(control["Conflicts"]) == {"openstack-resource-agents"}
    assert _relations(control["Replaces"]) == {"openstack-resource-agents"}


def test_unit_tests_ran_during_build(build: Build) -> None:
    if build.log is None or build.nocheck:
        pytest.skip("prebuilt .deb or DEB_BUILD_OPTIONS=nocheck: no build-time tests to check")
    log = build.log.read_text(errors="replace")
    assert re.search(r"^\d+ passed", log, re.M) or re.search(r"=+ \d+ passed", log), \
        "no pytest summary of tests/unit in the build log"


def test_source_package(build: Build) -> None:
    if build.changes is None:
        pytest.skip("no .changes beside $RAO_DEB")
    dsc = next(build.changes.parent.glob(f"{PKG}_*.dsc"))
    assert re.search(r"^Format: 3\.0 \(native\)$", dsc.read_text(), re.M)
    tarball = next(build.changes.parent.glob(f"{PKG}_*.tar.*"))
    listing = subprocess.run(["tar", "-tvf", str(tarball)], capture_output=True, text=True, check=True).stdout
    modes = {line.split()[-1].split("/", 1)[-1]: line.split()[0] for line in listing.splitlines()}
    # Execute bits come from git: without them the build or the agents break.
    for path in ("debian/rules", "debian/tests/agents", "agents/keystone", "agents/glance-api",
                 "agents/database-watch", "agents/keys-watch", "tests/setup/build-deb.sh"):
        assert modes.get(path) == "-rwxr-xr-x", path
    debris = [p for p in modes if re.search(r"(^|/)(\.git|__pycache__|\.pytest_cache|\.pybuild)(/|$)"
                                            r"|\.egg-info(/|$)|\.pyc$", p)]
    assert not debris
