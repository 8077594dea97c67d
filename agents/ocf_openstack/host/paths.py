"""Where an agent keeps its files for one resource instance: $HA_RSCTMP (Pacemaker's
per-boot directory for resource agents), one file per instance and kind."""

import os
from typing import Mapping

DEFAULT_RSCTMP = "/run/resource-agents"


def instance_file(service: str, env: Mapping[str, str], suffix: str) -> str:
    """$HA_RSCTMP/openstack-<resource><suffix>: one file per resource instance."""
    instance = env.get("OCF_RESOURCE_INSTANCE") or service
    return os.path.join(env.get("HA_RSCTMP") or DEFAULT_RSCTMP, f"openstack-{instance}{suffix}")
