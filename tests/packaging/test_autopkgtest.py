"""debian/tests through autopkgtest's null runner, on every run.

The null runner tests on this host: it installs the .deb and the tests' Depends with apt
(here they are installed already) and ends with an ``apt-get update``, which needs the
Debian mirror (CI reaches it). debian/tests/lifecycle runs the installed agents against
Keystone and Glance with private sqlite configurations on ports 15000 and 19292, so the
host's configuration and services are not touched. About 1.5 minutes in all.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from packaging_helpers import ROOT, Build, describe, run

TESTS = ("agents", "lifecycle")


def test_autopkgtest_null(build: Build, tmp_path: Path) -> None:
    # apt waits for a dpkg lock held by another apt on this host instead of failing at once
    # (APT_CONFIG adds to /etc/apt/apt.conf.d, it replaces nothing)
    apt_conf = tmp_path / "apt.conf"
    apt_conf.write_text('DPkg::Lock::Timeout "300";\n')
    started = time.monotonic()
    proc = run(["autopkgtest", str(build.deb), str(ROOT) + "/", "--", "null"],
               env={"APT_CONFIG": str(apt_conf)}, timeout=900)
    elapsed = time.monotonic() - started
    print(f"autopkgtest null: rc {proc.returncode} in {elapsed:.0f}s")
    assert proc.returncode == 0, describe(proc)
    # the summary: one "NAME PASS" line per test, none skipped
    summary = dict(re.findall(r"^(\S+)\s+(PASS|FAIL|SKIP|FLAKY)\b", proc.stdout + proc.stderr, re.M))
    assert {name: summary.get(name) for name in TESTS} == {name: "PASS" for name in TESTS}, describe(proc)
    assert elapsed < 300, f"autopkgtest took {elapsed:.0f}s"
