"""debian/tests through autopkgtest's null runner (opt-in: RAO_AUTOPKGTEST=1).

Opt-in because the null runner installs into this host and ends with an
``apt-get update``, which needs the network.
"""

from __future__ import annotations

import os

import pytest

from packaging_helpers import ROOT, Build, describe, run


@pytest.mark.skipif(os.environ.get("RAO_AUTOPKGTEST") != "1", reason="set RAO_AUTOPKGTEST=1 to run")
def test_autopkgtest_null(build: Build) -> None:
    proc = run(["autopkgtest", str(build.deb), str(ROOT) + "/", "--", "null"], timeout=600)
    assert proc.returncode == 0, describe(proc)
    assert "agents               PASS" in proc.stdout + proc.stderr, describe(proc)
