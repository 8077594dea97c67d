"""Where an agent keeps its files for one resource instance: $HA_RSCTMP (Pacemaker's
per-boot directory for resource agents), one file per instance and kind."""

import os
from typing import Mapping

DEFAULT_RSCTMP = "/run/resource-agents"


# the directory holding this ocf_openstack (host/paths.py, one room down): a helper process an
# agent starts (the failure watcher, the agent-check responder) runs this very code, never another copy
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# what such a process inherits from the agent's environment: where and how to log
LOG_ENVIRONMENT = ("LANG", "OCF_ROOT", "OCF_FUNCTIONS_DIR", "OCF_RESOURCE_INSTANCE", "HA_LOGFILE",
                   "HA_DEBUGLOG", "HA_LOGFACILITY", "HA_LOGTAG", "HA_debug", "HA_RSCTMP")


def instance_file(service: str, env: Mapping[str, str], suffix: str) -> str:
    """$HA_RSCTMP/openstack-<resource><suffix>: one file per resource instance."""
    instance = env.get("OCF_RESOURCE_INSTANCE") or service
    return os.path.join(env.get("HA_RSCTMP") or DEFAULT_RSCTMP, f"openstack-{instance}{suffix}")
