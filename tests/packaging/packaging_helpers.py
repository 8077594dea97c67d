"""Helpers of the packaging tests (a uniquely named module: the other suites
have their own conftest.py, so ``from conftest import`` would be ambiguous)."""

from __future__ import annotations

import configparser
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
PKG = "resource-agents-openstack"
AGENTS = ("keystone", "glance-api")
RA_DIR = Path("/usr/lib/ocf/resource.d/openstack")
DTD = Path("/usr/share/resource-agents/ra-api-1.dtd")
# A plain environment: a pyenv python3 on PATH must never stand in for Debian's.
PLAIN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def run(cmd: Sequence[str], env: Optional[Mapping[str, str]] = None, timeout: float = 120,
        cwd: str = "/") -> subprocess.CompletedProcess:
    """Run a command with the plain environment (plus ``env``), capturing text output."""
    return subprocess.run(list(cmd), env={**PLAIN_ENV, **(env or {})}, cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, check=False)


def describe(proc: subprocess.CompletedProcess) -> str:
    """A failed command, for assertion messages."""
    return (f"$ {' '.join(map(str, proc.args))}\nrc={proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")


def changelog_version() -> str:
    proc = run(["dpkg-parsechangelog", "-l", str(ROOT / "debian/changelog"), "-S", "Version"])
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.strip()


def setup_cfg_version() -> str:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg["metadata"]["version"]


def package_version() -> str:
    """ocf_openstack.__version__, read from the source without importing it."""
    text = (ROOT / "agents/ocf_openstack/__init__.py").read_text()
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    assert match, "no __version__ in agents/ocf_openstack/__init__.py"
    return match.group(1)


@dataclass(frozen=True)
class Build:
    deb: Path
    changes: Optional[Path]   # None when $RAO_DEB has no .changes beside it
    log: Optional[Path]       # the build log when this session built the package
    nocheck: bool             # whether the build skipped the unit tests
