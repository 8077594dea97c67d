"""Paths and the clean environment shared by the cluster tests and their helpers."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPO_CRM = REPO / "crm"
INSTALLED_CRM = Path("/usr/share/resource-agents-openstack/crm")
OCF_DIR = Path("/usr/lib/ocf/resource.d/openstack")
AGENT_NAMES = ("keystone", "glance-api")
# Every tool (crmsh, the Pacemaker CLI, the harness) runs with a clean environment:
# no pyenv PATH, no PYTHON* variables, as a systemd-started cluster would have.
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env(**extra: str) -> dict:
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env
