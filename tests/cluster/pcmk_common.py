"""Paths and the clean environment shared by the cluster tests and their helpers.

The live tests drive the project's one cluster harness through lab/raolab: lab/ goes
on sys.path here, and what the lab already defines is imported, not written again.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))

# Every tool (crmsh, the Pacemaker CLI, the harness) runs with a clean environment:
# no pyenv PATH, no PYTHON* variables, as a systemd-started cluster would have.
from raolab.cluster import CLEAN_PATH, clean_env  # noqa: E402,F401
from raolab.lab import INSTALLED_CRM, OCF_DIR  # noqa: E402,F401

REPO_CRM = REPO / "crm"
AGENT_NAMES = ("keystone", "glance-api")
