"""LabRegion: the lab's own region, whose identity and image endpoints point at the floating
IP, registered once in this host's keystone database through a temporary Keystone on
loopback (REGION_PORT), so that every copy the database node gets has it. RegionOne, which
the host's tests use, stays as it is."""

import os
import subprocess
from typing import Callable, Dict

from . import database
from .cluster import LAB_DIR, ClusterError, clean_env
from .configs import OCF_DIR, PY, REGION, glance_url, keystone_url

REGISTER = LAB_DIR / "raolab" / "register.py"
REGION_PORT = 35357   # the temporary Keystone that registers LabRegion (loopback, once)


def region_endpoints() -> Dict[str, str]:
    """'type/interface' -> url of LabRegion's endpoints, from this host's keystone database."""
    rows = database.query("SELECT CONCAT(s.type, '/', e.interface), e.url FROM keystone.endpoint e "
                                   f"JOIN keystone.service s ON e.service_id = s.id WHERE e.region_id = '{REGION}'")
    return {row[0]: row[1] for row in rows if len(row) == 2}


def ensure_region(vip: str, password: str, say: Callable[[str], None]) -> None:
    """LabRegion in this host's keystone database (once: every copy the database node gets
    has it then), registered through a temporary Keystone on loopback (REGION_PORT)."""
    want = {f"{t}/{i}": u for t, u in (("identity", f"{keystone_url(vip)}/v3/"), ("image", glance_url(vip)))
            for i in ("public", "internal", "admin")}
    if region_endpoints() == want:
        say(f"region {REGION}: identity and image endpoints at {vip} already registered")
        return
    url = f"http://127.0.0.1:{REGION_PORT}"
    say(f"registering region {REGION} (identity and image endpoints at {vip}) "
        f"with a temporary Keystone on {url}")
    env = clean_env(OCF_ROOT="/usr/lib/ocf", OCF_RESOURCE_INSTANCE="lab-setup-keystone",
                    HA_RSCTMP="/run/resource-agents", OCF_RESKEY_bind=f"127.0.0.1:{REGION_PORT}",
                    OCF_RESKEY_url=url, OCF_RESKEY_additional_parameters="--processes 1")
    agent = str(OCF_DIR / "keystone")
    os.makedirs("/run/resource-agents", exist_ok=True)
    proc = subprocess.run([agent, "start"], env=env, capture_output=True, text=True, timeout=120)
    try:
        if proc.returncode != 0:
            raise ClusterError(f"the temporary Keystone on {url} did not start: {proc.stderr.strip()[-1000:]}")
        proc = subprocess.run([PY, str(REGISTER)], capture_output=True, text=True, timeout=120,
                              env=clean_env(LAB_OS_PASSWORD=password, LAB_VIP=vip,
                                            LAB_REGION=REGION, LAB_KEYSTONE=url))
        if proc.returncode != 0:
            raise ClusterError(f"registering {REGION} failed: {proc.stdout}{proc.stderr[-2000:]}")
        say(f"region {REGION}: {proc.stdout.strip()}")
    finally:
        subprocess.run([agent, "stop"], env=env, capture_output=True, timeout=120)
