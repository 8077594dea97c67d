"""The lab session's watchdog: a lab in use stays up, an idle one goes.

pcmk-cluster.sh's session tears the lab down when its stdin has been silent for SESSION_MAX
(900 s). A 30-minute soak lost its lab after 15 minutes: nothing ever wrote a line. Every
command on a node now says "still here" (Cluster.keepalive). Here the watchdog is its
read loop with a 1 s limit, and KEEPALIVE_EVERY is shortened to match.
"""

import subprocess
import threading
import time

from raolab import cluster as cluster_mod

WATCHDOG = 'while IFS= read -r -t 1 line; do :; done; echo idle'   # pcmk-cluster.sh's loop, 1 s


def session_with_watchdog(monkeypatch):
    monkeypatch.setattr(cluster_mod, "KEEPALIVE_EVERY", 0.3)
    # no harness (the real __init__ asks it for its state dir): only the session plumbing
    c = cluster_mod.Cluster.__new__(cluster_mod.Cluster)
    c._alive_lock, c._alive_said = threading.Lock(), 0.0
    c.session = subprocess.Popen(["bash", "-c", WATCHDOG], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return c


def test_a_lab_in_use_outlives_the_watchdogs_idle_limit(monkeypatch):
    c = session_with_watchdog(monkeypatch)
    try:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:       # commands keep coming (each calls keepalive)
            c.keepalive()
            time.sleep(0.1)
        assert c.session.poll() is None, "the watchdog tore down a lab in use"
    finally:
        c.session.stdin.close()
        assert c.session.wait(5) == 0


def test_an_idle_lab_is_torn_down(monkeypatch):
    c = session_with_watchdog(monkeypatch)
    c.keepalive()
    assert c.session.wait(5) == 0 and c.session.stdout.read().strip() == "idle"
