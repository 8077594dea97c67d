"""The keys-watch verdict on this node, for Keystone's monitor: one line the watcher writes in
$HA_RSCTMP at every monitor ("0", or "190 <reason>"), read by the keystone agent's recurring
monitor as an advisory (ServiceSpec.advisories). A file read, no process, and a module small
enough that Keystone's depth-0 monitor does not pay for keyprints.
"""

import os
import time
from typing import Mapping, Optional

from ..host import privatefile
from ..host.paths import DEFAULT_RSCTMP

VERDICT = "openstack-keys.verdict"
# how old a verdict may be before Keystone's monitor ignores it (a watcher that stopped running)
VERDICT_MAX_AGE = 300.0


def verdict_path(env: Mapping[str, str]) -> str:
    return os.path.join(env.get("HA_RSCTMP") or DEFAULT_RSCTMP, VERDICT)


def advisory(values: Mapping[str, object], env: Mapping[str, str]) -> Optional[str]:
    """The reason when keys-watch found this controller's keys inconsistent, else None (also
    with no watcher, or a stale verdict)."""
    path = verdict_path(env)
    text = privatefile.read(path)
    if not text or text.startswith("0"):
        return None
    try:
        if time.time() - os.stat(path).st_mtime > VERDICT_MAX_AGE:
            return None
    except OSError:
        return None
    code, _, reason = text.strip().partition(" ")
    return reason if code == "190" and reason else None
