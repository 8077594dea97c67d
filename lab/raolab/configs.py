"""The lab's copies of this host's service configuration and the paths it reads.

The lab changes nothing the host's tests use: Keystone and Glance get copies
(keystone-lab.conf, glance-api-lab.conf with bind_host 0.0.0.0, a paste ini whose
healthcheck disable file is a lab one, and the HAProxy topology's glance-api-lab-haproxy.conf
on Glance's internal port), regenerated at every up so that they follow
tests/setup/openstack-setup.sh.
"""

import os
import re
import tempfile
from pathlib import Path
from typing import Dict, List

from . import keys
from .cluster import LAB_DIR

REPO = LAB_DIR.parent
ENV_FILE = REPO / "tests" / "setup" / "openstack.env"
INSTALLED_CRM = Path("/usr/share/resource-agents-openstack/crm")
OCF_DIR = Path("/usr/lib/ocf/resource.d/openstack")
PY = "/usr/bin/python3"   # Debian's, whatever python3 PATH finds
REGION = "LabRegion"      # the lab's region: its endpoints are the floating IP's (region.py)
# Debian's ini sizing (8 processes x 32 threads) takes 14-15 s to start on 2 cores and ~1 GB
# per node: the lab keeps the 32 threads and runs 2 processes.
KEYSTONE_EXTRA = "--processes 2"
KEYSTONE_CONF = "/etc/keystone/keystone.conf"
LAB_KEYSTONE_CONF = "/etc/keystone/keystone-lab.conf"
GLANCE_CONF = "/etc/glance/glance-api.conf"
LAB_GLANCE_CONF = "/etc/glance/glance-api-lab.conf"
# the HAProxy topology's copy (Glance on its internal port): a file of its own, so that labs
# of different modes never see each other's ports
LAB_GLANCE_CONF_HAPROXY = "/etc/glance/glance-api-lab-haproxy.conf"
GLANCE_PASTE = "/etc/glance/glance-api-paste.ini"
LAB_GLANCE_PASTE = "/etc/glance/glance-api-paste-lab.ini"
# each node keeps its own service logs, as a real controller does
NODE_PRIVATE = ("/var/log/keystone:keystone:keystone:0750 /var/log/glance:glance:glance:0750 "
                + keys.NODE_PRIVATE)
# the HAProxy topology: Glance's internal port (HAProxy holds 5000 and 9292 on the floating IP)
GLANCE_INTERNAL_PORT = 9282


def keystone_url(vip: str) -> str:
    """Keystone through the floating IP (the client's view, and LabRegion's endpoint)."""
    return f"http://{vip}:5000"


def glance_url(vip: str) -> str:
    return f"http://{vip}:9292"


def read_env_file(path: Path = ENV_FILE) -> Dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _write_atomic(path: str, text: str, like: str) -> None:
    """Write path with the owner and mode of ``like`` (root:glance 0640 and so on)."""
    st = os.stat(like)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lab-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _ini_set(text: str, section: str, key: str, value: str) -> str:
    """Set key in [section] of an ini text (added if absent); comments are left alone."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == f"[{section}]"), None)
    if start is None:
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {value}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def write_service_configs(vip: str) -> List[str]:
    """The lab's copies of the host's service configuration (regenerated at every up, so
    they follow tests/setup/openstack-setup.sh). The host's own files are not touched.
    The HAProxy topology's Glance copy has the edits of the snippet's SERVICE PORTS: its
    internal port, and token validation through HAProxy on the floating IP."""
    text = Path(KEYSTONE_CONF).read_text()
    # the host tests create /etc/keystone/healthcheck_disable at times: not ours
    text = _ini_set(text, "healthcheck", "disable_by_file_path", "/etc/keystone/healthcheck_disable.lab")
    _write_atomic(LAB_KEYSTONE_CONF, text, KEYSTONE_CONF)
    text = Path(GLANCE_CONF).read_text()
    text = _ini_set(text, "DEFAULT", "bind_host", "0.0.0.0")      # answer on the floating IP too
    text = _ini_set(text, "paste_deploy", "config_file", LAB_GLANCE_PASTE)
    _write_atomic(LAB_GLANCE_CONF, text, GLANCE_CONF)
    text = _ini_set(text, "DEFAULT", "bind_port", str(GLANCE_INTERNAL_PORT))
    for key in ("auth_url", "www_authenticate_uri"):
        text = _ini_set(text, "keystone_authtoken", key, f"http://{vip}:5000")
    # keystonemiddleware validates at the region's identity endpoint: the floating IP's
    text = _ini_set(text, "keystone_authtoken", "region_name", REGION)
    _write_atomic(LAB_GLANCE_CONF_HAPROXY, text, GLANCE_CONF)
    text = Path(GLANCE_PASTE).read_text()
    text, n = re.subn(r"^(disable_by_file_path\s*=).*$", r"\1 /etc/glance/healthcheck_disable.lab", text, flags=re.M)
    if n != 1:
        raise RuntimeError(f"{GLANCE_PASTE}: expected one disable_by_file_path line, found {n}")
    _write_atomic(LAB_GLANCE_PASTE, text, GLANCE_PASTE)
    return [LAB_KEYSTONE_CONF, LAB_GLANCE_CONF, LAB_GLANCE_CONF_HAPROXY, LAB_GLANCE_PASTE]
