"""Fixtures of the packaging tests: one build and one real install per session.

The .deb comes from tests/setup/build-deb.sh (built from this tree into a
temporary directory), or from $RAO_DEB when it names a prebuilt .deb; a
.changes file next to it is checked by lintian too. Run as root with Debian's
interpreter: ``/usr/bin/python3 -m pytest -q tests/packaging``.

The installed package is left in place (later suites may use it); set
RAO_PURGE=1 to purge it at the end of the session when this session
installed it fresh.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from packaging_helpers import PKG, RA_DIR, ROOT, Build, describe, run


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    prebuilt = os.environ.get("RAO_DEB")
    if prebuilt:
        deb = Path(prebuilt).resolve()
        assert deb.is_file(), f"RAO_DEB={prebuilt} is not a file"
        changes = sorted(deb.parent.glob(f"{PKG}_*.changes"))
        return Build(deb, changes[-1] if changes else None, None, True)

    outdir = tmp_path_factory.mktemp("deb")
    options = os.environ.get("DEB_BUILD_OPTIONS", "")
    proc = run([str(ROOT / "tests/setup/build-deb.sh"), str(outdir)],
               env={"DEB_BUILD_OPTIONS": options}, timeout=600, cwd=str(ROOT))
    if proc.returncode != 0:
        pytest.fail("build-deb.sh failed\n" + describe(proc), pytrace=False)
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1].endswith(".deb"), "build-deb.sh did not print the .deb\n" + describe(proc)
    deb = Path(lines[-1])
    assert deb.is_file(), describe(proc)
    changes = sorted(outdir.glob(f"{PKG}_*.changes"))
    assert changes, f"no .changes in {outdir}: the source package was not built"
    os.environ["RAO_BUILT_DEB"] = str(deb)    # for the cluster tests' upgrade in place (same session)
    return Build(deb, changes[0], outdir / "build.log", "nocheck" in options.split())


def _dpkg_status() -> str:
    proc = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", PKG])
    return proc.stdout.strip() if proc.returncode == 0 else ""


@pytest.fixture(scope="session")
def installed(build: Build) -> Iterator[Path]:
    """The package really installed with apt-get (as a user would)."""
    if os.geteuid() != 0:
        pytest.fail("the packaging tests install the .deb: run them as root", pytrace=False)
    # dpkg would write through a symlinked provider directory into its target
    # (e.g. a developer's checkout) and delete those files on purge.
    for path in (RA_DIR, Path("/usr/lib/python3/dist-packages/ocf_openstack")):
        if path.is_symlink():
            pytest.fail(f"{path} is a symlink; remove it before installing the package", pytrace=False)
    was_installed = _dpkg_status().startswith("ii")
    # --reinstall: a rebuilt .deb of an already installed version must still be unpacked.
    proc = run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", "install", "--reinstall",
                str(build.deb)], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=600)
    assert proc.returncode == 0, "apt-get install failed\n" + describe(proc)
    yield build.deb
    if os.environ.get("RAO_PURGE") == "1" and not was_installed:
        run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", "purge", PKG],
            env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=300)
