"""The documents the man pages name are installed where the pages say.

Each section 7 page (doc/manpage.py) ends with SEE ALSO naming the operator guide and the
other documents in /usr/share/doc/resource-agents-openstack/ by their installed names
(dh_compress gzips those larger than 4 KiB). Read from the installed page as man prints it,
each of those paths must be a file of the installed package, and the operator guide must be
this tree's doc/operator-guide.md.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import List

import pytest

from packaging_helpers import AGENTS, PKG, ROOT, describe, run

DOC_DIR = f"/usr/share/doc/{PKG}/"
GUIDE = DOC_DIR + "operator-guide.md.gz"


def see_also_docs(agent: str) -> List[str]:
    """The /usr/share/doc paths in SEE ALSO of the installed page, as ``man`` prints it
    (wide enough that no path is broken across lines)."""
    proc = run(["man", "-E", "UTF-8", f"ocf_openstack_{agent}"], env={"MANWIDTH": "250"})
    assert proc.returncode == 0, describe(proc)
    match = re.search(r"^SEE ALSO\n(.*?)(?=^\S|\Z)", proc.stdout, re.M | re.S)
    assert match, f"no SEE ALSO in ocf_openstack_{agent}(7)"
    return [word.rstrip(".,;") for word in match.group(1).split() if word.startswith(DOC_DIR)]


def package_files() -> List[str]:
    proc = run(["dpkg-query", "-L", PKG])
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.splitlines()


@pytest.mark.parametrize("agent", AGENTS)
def test_the_page_names_the_installed_operator_guide(installed: Path, agent: str) -> None:
    named = see_also_docs(agent)
    assert GUIDE in named, named
    files = package_files()
    for path in named:
        assert path in files and Path(path).is_file(), f"ocf_openstack_{agent}(7) names {path}: not installed"


def test_the_installed_guide_is_this_trees(installed: Path) -> None:
    assert gzip.decompress(Path(GUIDE).read_bytes()) == (ROOT / "doc/operator-guide.md").read_bytes()


def test_the_package_ships_the_documents(installed: Path) -> None:
    """What /usr/share/doc/resource-agents-openstack/ holds besides copyright and changelog."""
    docs = sorted(p[len(DOC_DIR):] for p in package_files()
                  if p.startswith(DOC_DIR) and Path(p).is_file())
    assert docs == ["README.md.gz", "changelog.gz", "copyright", "haproxy/README.md.gz",
                    "operator-guide.md.gz", "performance.md.gz"]
