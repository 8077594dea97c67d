"""The failure watcher's state file: what the agent's side (``hooks``) and the detached
process (``loop``) share. ``$HA_RSCTMP/openstack-<instance>.watch`` holds root-only
``key=value`` lines (the settings, no password, the watched process and the watcher's own pid
and start time); ``.watch-stop`` is the stop marker that tells the watcher the agent itself
is stopping the service."""

from typing import Dict, Mapping, Optional

from ...host import privatefile
from ...host.paths import instance_file

STATE_FORMAT = "1"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# the values the watcher needs (a service's dependencies read config, os_auth_url, the TLS
# options): never a credential
SETTINGS = ("url", "health_path", "http_timeout", "ca_file", "insecure", "config", "os_auth_url",
            "watch_interval", "watch_misses")


def state_file(service: str, env: Mapping[str, str]) -> str:
    return instance_file(service, env, ".watch")


def stop_marker(path: str) -> str:
    return path + "-stop"


def read_state(path: str) -> Optional[Dict[str, str]]:
    text = privatefile.read(path)
    if text is None:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def write_state(path: str, state: Mapping[str, str]) -> None:
    privatefile.write(path, "".join(f"{k}={v}\n" for k, v in state.items()))
