"""Shared fixtures for the cluster tests (offline crm_simulate and a live Pacemaker node).

These tests exercise the agents as the Debian package installs them:
/usr/lib/ocf/resource.d/openstack/{keystone,glance-api} (the CI installs the .deb
first). crmsh checks every snippet against the installed agents' meta-data, and the
live cluster runs them. They must run as root: crmsh writes /var/log/crmsh, and the
live test creates network namespaces.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = True

from pcmk_common import AGENT_NAMES, CLEAN_PATH, OCF_DIR, REPO_CRM  # noqa: E402

PCMK_TOOLS = ("crm", "crm_simulate", "crm_verify", "crm_mon", "crm_resource", "cibadmin")


@pytest.fixture(scope="session")
def require_root():
    if os.geteuid() != 0:
        pytest.skip("cluster tests need root (crmsh writes /var/log/crmsh; namespaces)")


@pytest.fixture(scope="session")
def pacemaker_tools(require_root):
    missing = [t for t in PCMK_TOOLS if not shutil.which(t, path=CLEAN_PATH)]
    if missing:
        pytest.fail(f"Pacemaker/crmsh tools missing: {', '.join(missing)} "
                    "(apt-get install pacemaker pacemaker-cli-utils crmsh resource-agents)")


@pytest.fixture(scope="session")
def installed_agents(pacemaker_tools):
    """The agents must be installed where Pacemaker and crmsh look for them."""
    problems = []
    for name in AGENT_NAMES:
        path = OCF_DIR / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif not os.access(path, os.X_OK):
            problems.append(f"{path} is not executable")
    if problems:
        pytest.fail("the OCF agents are not installed: " + "; ".join(problems)
                    + ". Install the package first (apt install ./resource-agents-openstack_*.deb);"
                    " the cluster tests run the installed agents, never the source tree.",
                    pytrace=False)
    return OCF_DIR


@pytest.fixture(scope="session")
def crm_dir() -> Path:
    """The snippets under test: the repository's crm/ (RAO_CRM_DIR overrides it)."""
    path = Path(os.environ.get("RAO_CRM_DIR", REPO_CRM))
    if not (path / "openstack-ha.crm").is_file():
        pytest.fail(f"no crm snippets in {path}", pytrace=False)
    return path
